"""early_stopping: an EarlyStopping on val_loss with patience={patience} and restore_best_weights=True."""

from autograder.assignment import of
from autograder.evidence import is_a

EXERCISE = of(__file__)  # the assignment these checks belong to
PATIENCE = EXERCISE.settings["patience"]
EARLY_STOPPING = "keras.callbacks.EarlyStopping"  # a subclass is accepted, as Keras accepts it


def test_is_an_early_stopping(early_stopping):
    assert is_a(early_stopping, EARLY_STOPPING), (
        f"early_stopping must be a keras.callbacks.EarlyStopping; it is a {early_stopping['type']}."
    )


def test_watches_val_loss_with_the_patience(early_stopping):
    settings = early_stopping["settings"]
    assert settings.get("monitor") == "val_loss" and settings.get("patience") == PATIENCE, (
        f'early_stopping must watch the validation loss with patience={PATIENCE}: monitor="val_loss", patience={PATIENCE}; '
        f"it watches {settings.get('monitor')!r} with patience={settings.get('patience')!r}."
    )


def test_restores_the_best_weights(early_stopping):
    assert early_stopping["settings"].get("restore_best_weights") is True, (
        "early_stopping must put the best epoch's weights back into the model: restore_best_weights=True."
    )
