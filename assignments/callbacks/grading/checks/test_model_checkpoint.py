"""model_checkpoint: a ModelCheckpoint that saves only the best weights to {checkpoint}."""

from autograder.evidence import BadEvidence, is_a, relative_to_run
from autograder.assignment import of

EXERCISE = of(__file__)  # the assignment these checks belong to
CHECKPOINT = EXERCISE.settings["checkpoint"]


MODEL_CHECKPOINT = "keras.callbacks.ModelCheckpoint"  # a subclass is accepted, as Keras accepts it


def test_is_a_model_checkpoint_callback(model_checkpoint):
    assert is_a(model_checkpoint, MODEL_CHECKPOINT), (
        f"model_checkpoint must be a keras.callbacks.ModelCheckpoint; it is a {model_checkpoint['type']}."
    )


def test_saves_to_the_agreed_file(model_checkpoint, snapshot):
    filepath = model_checkpoint["settings"].get("filepath")
    try:
        where = relative_to_run(filepath, snapshot.cwd).as_posix()
    except BadEvidence:
        where = None
    assert where == CHECKPOINT, f'model_checkpoint must save to "{CHECKPOINT}" (no format fields); it saves to {filepath!r}.'


def test_watches_the_validation_loss(model_checkpoint):
    monitor = model_checkpoint["settings"].get("monitor")
    assert monitor == "val_loss", f'model_checkpoint must watch the validation loss (monitor="val_loss"); it watches {monitor!r}.'


def test_looks_for_a_lower_loss(model_checkpoint):
    mode = model_checkpoint["settings"].get("mode")
    assert mode in ("auto", "min"), f'A loss is better when lower: leave mode="auto" (or "min"); model_checkpoint has mode={mode!r}.'


def test_keeps_only_the_best_weights(model_checkpoint):
    assert model_checkpoint["settings"].get("save_best_only") is True, (
        "model_checkpoint must overwrite the file only when val_loss improves: set save_best_only=True."
    )


def test_saves_weights_only(model_checkpoint):
    assert model_checkpoint["settings"].get("save_weights_only") is True, (
        "model_checkpoint must save the weights, not the whole model: set save_weights_only=True "
        "(that is why the file name ends in .weights.h5)."
    )


def test_saves_once_per_epoch(model_checkpoint):
    save_freq = model_checkpoint["settings"].get("save_freq")
    assert save_freq == "epoch", f'model_checkpoint must decide once per epoch: leave save_freq="epoch" (an integer counts batches); it has {save_freq!r}.'
