"""early_stopping: an EarlyStopping callback that watches val_loss with patience {patience}."""

from autograder.assignment import of
from autograder.evidence import is_a

EXERCISE = of(__file__)  # the assignment these checks belong to
PATIENCE = EXERCISE.settings["patience"]


EARLY_STOPPING = "keras.callbacks.EarlyStopping"  # a subclass is accepted, as Keras accepts it


def test_is_an_early_stopping_callback(early_stopping):
    assert is_a(early_stopping, EARLY_STOPPING), (
        f"early_stopping must be a keras.callbacks.EarlyStopping; it is a {early_stopping['type']}."
    )


def test_watches_the_validation_loss(early_stopping):
    monitor = early_stopping["settings"].get("monitor")
    hint = " The training loss keeps falling while the model overfits, so it would never stop training." if monitor == "loss" else ""
    assert monitor == "val_loss", f'early_stopping must watch the validation loss (monitor="val_loss"); it watches {monitor!r}.{hint}'


def test_looks_for_a_lower_loss(early_stopping):
    mode = early_stopping["settings"].get("mode")
    assert mode in ("auto", "min"), f'A loss is better when lower: leave mode="auto" (or "min"); early_stopping has mode={mode!r}.'


def test_waits_the_solutions_patience(early_stopping):
    patience = early_stopping["settings"].get("patience")
    assert patience == PATIENCE, f"early_stopping must wait {PATIENCE} epochs without improvement (patience={PATIENCE}); it has patience={patience!r}."
