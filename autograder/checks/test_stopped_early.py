"""stopped_early: EarlyStopping ended this training where Keras's rule says, before the 200-epoch limit."""

import pytest

from autograder import replay
from autograder.exercise import EPOCHS, PATIENCE, same_loss

def test_fit_allows_200_epochs(history):
    epochs = history.get("params", {}).get("epochs")
    assert epochs == EPOCHS, f"Call fit with epochs={EPOCHS}, so that EarlyStopping, not the epoch count, ends training; history says epochs={epochs!r}."


def test_training_stopped_before_the_limit(val_losses):
    assert len(val_losses) < EPOCHS, (
        f"Training ran all {len(val_losses)} epochs: EarlyStopping never stopped it. Pass early_stopping in fit's callbacks=[...]."
    )


def test_stopped_where_the_rule_says(val_losses):
    best = val_losses.index(min(val_losses))
    expected = best + PATIENCE + 1
    assert len(val_losses) == expected, (
        f"Training ran {len(val_losses)} epochs, but the lowest val_loss came at epoch {best + 1}, so EarlyStopping "
        f"with patience={PATIENCE} must stop it after epoch {expected}: {PATIENCE} epochs without improvement."
    )


def test_history_comes_from_this_exercise(exercise_val_losses):
    pass  # the fixture fails, saying at which epoch, when history is not this exercise's training


def test_early_stopping_did_the_stopping(early_stopping, val_losses, reference):
    try:
        stops_after = replay.epochs_run(early_stopping["settings"], reference["canonical"])
    except ValueError as error:
        pytest.fail(f"early_stopping is not a valid EarlyStopping: {error}")
    assert len(val_losses) == stops_after, (
        f"history has {len(val_losses)} epochs, but early_stopping, as configured, stops this training after "
        f"{stops_after}: pass early_stopping to the fit call that returned history."
    )


def test_trained_model_matches_history(trained_model_val_loss, final_epoch_val_loss):
    assert same_loss(trained_model_val_loss, final_epoch_val_loss), (
        f"The trained model (history.model) gives val_loss {trained_model_val_loss:.4f}, but history says training ended "
        f"at {final_epoch_val_loss:.4f}: history must come from training this model, with nothing trained or loaded into it afterwards."
    )
