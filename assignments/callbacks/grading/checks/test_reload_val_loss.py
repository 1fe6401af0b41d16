"""reload_val_loss: the best weights, reloaded into a fresh model, give the run's lowest validation loss."""

import math

import pytest

from autograder import evidence, measure
from autograder.assignment import of

EXERCISE = of(__file__)  # the assignment these checks belong to
CHECKPOINT = EXERCISE.settings["checkpoint"]
EPOCHS = EXERCISE.settings["epochs"]
PATIENCE = EXERCISE.settings["patience"]
same_loss = EXERCISE.same_loss


RELOAD = f'load "{CHECKPOINT}" into a fresh build_model() with load_weights, then evaluate(x_val, y_val)'


def test_file_holds_the_best_epoch(checkpoint_val_loss, exercise_val_losses):
    best = min(exercise_val_losses)
    if same_loss(checkpoint_val_loss, best):
        return
    if not any(same_loss(checkpoint_val_loss, value) for value in exercise_val_losses):
        pytest.fail(f"The saved weights give val_loss {checkpoint_val_loss:.4f}, which no epoch of this training reached, "
                    "so ModelCheckpoint did not write them (see the best_weights_file check).")
    pytest.fail(f"The saved weights give val_loss {checkpoint_val_loss:.4f}, but the best epoch of the run reached "
                f"{best:.4f}: ModelCheckpoint must watch val_loss with save_best_only=True, so the file keeps the best epoch.")


def test_file_reaches_the_expected_loss(checkpoint_val_loss, reference, exercise_val_losses):
    expected = reference["solution"]["checkpoint_val_loss"]
    if same_loss(checkpoint_val_loss, expected) or not same_loss(checkpoint_val_loss, min(exercise_val_losses)):
        return  # right, or the file is not this run's best epoch: test_file_holds_the_best_epoch names the cause
    # The file keeps this run's best epoch, and the run is this exercise's training, ended elsewhere.
    when = ("training ended before that epoch" if checkpoint_val_loss > expected
            else f"training went on past where early_stopping with patience={PATIENCE} stops it")
    pytest.fail(f"The saved weights give val_loss {checkpoint_val_loss:.4f}, the lowest of this run's {len(exercise_val_losses)} "
                f"epochs, but this exercise's training reaches {expected:.4f} at its best epoch: {when}. Train with "
                f"epochs={EPOCHS} and early_stopping configured as step 1 says.")


def test_a_fresh_model_holds_the_best_weights(best_val_loss, other_models_val_losses, checkpoint_val_loss, snapshot, context):
    # best_val_loss first: when step 5 never got that far (an error, nothing defined yet), that is the cause to name.
    if any(isinstance(loss, float) and same_loss(loss, checkpoint_val_loss) for loss in other_models_val_losses.values()):
        return
    found = "; ".join(
        f"`{variable}` gives val_loss {loss:.4f}" if isinstance(loss, float) else f"`{variable}`: {loss}"
        for variable, loss in other_models_val_losses.items()
    )
    # Name the cause: the weights went into the trained model, into no model, or a fresh model got other weights.
    final = _final_epoch_val_loss(snapshot)
    # Blame a reload into the trained model only when that model no longer holds what fit left in it.
    if _trained_model_holds(checkpoint_val_loss, snapshot, context) and not (final is not None and same_loss(final, checkpoint_val_loss)):
        cause = ("the best weights were loaded into the trained model itself; load them into a fresh "
                 "best_model = build_model() instead")
    elif found:
        cause = f"{found}, not the best weights' {checkpoint_val_loss:.4f}: load the checkpoint into that fresh model"
    else:
        cause = (f"the notebook keeps no model besides the trained one, so nothing was reloaded (the best weights give "
                 f"{checkpoint_val_loss:.4f}): {RELOAD}, and keep that fresh model in a variable such as best_model")
    pytest.fail(f"No model other than the trained one holds the best weights: {cause}.")


def _final_epoch_val_loss(snapshot):
    """The val_loss history says the trained model had when fit returned (None when history does not say)."""
    values = ((snapshot.get("history") or {}).get("history") or {}).get("val_loss") or []
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    restored = ((snapshot.get("early_stopping") or {}).get("settings") or {}).get("restore_best_weights") is True
    return float(min(values) if restored else values[-1])


def _trained_model_holds(loss, snapshot, context) -> bool:
    """Whether the trained model (history.model), measured by the grader, holds the weights giving `loss`."""
    if snapshot.final_weights is None:
        return False
    try:
        return same_loss(measure.val_loss_of(EXERCISE, context.work, snapshot.final_weights), loss)
    except evidence.BadEvidence:
        return False


def test_best_val_loss_is_the_reloaded_loss(best_val_loss, checkpoint_val_loss):
    value = best_val_loss.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = str(best_val_loss.get("type"))
        if kind.rsplit(".", 1)[-1] in ("list", "tuple", "ndarray"):
            pytest.fail("best_val_loss must be one number, the loss; it is the whole list evaluate returns, "
                        "[loss, accuracy]: take the first ([0]).")
        pytest.fail(
            f"best_val_loss must be one number, the loss (evaluate returns [loss, accuracy]: take the first); it is a {kind}."
        )
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        pytest.fail(f"best_val_loss must be a finite number, the loss evaluate returns; it is {best_val_loss['value']!s:.40}.")
    assert same_loss(value, checkpoint_val_loss), (
        f"best_val_loss is {value:.4f}, but the best weights give {checkpoint_val_loss:.4f} on the validation data: {RELOAD}."
    )


def test_trained_model_kept_its_final_weights(trained_model_val_loss, final_epoch_val_loss, context):
    if same_loss(trained_model_val_loss, final_epoch_val_loss):
        return
    at_step_4 = evidence.load_snapshot(context.work, "stopped_early", EXERCISE.variables)
    if at_step_4.name == "stopped_early" and at_step_4.final_weights is not None:
        try:
            before = measure.val_loss_of(EXERCISE, context.work, at_step_4.final_weights)
        except evidence.BadEvidence:
            before = None
        if before is not None and not same_loss(before, final_epoch_val_loss):
            pytest.fail(f"history.model does not hold history's last epoch (it gives val_loss {trained_model_val_loss:.4f}, "
                        f"history says {final_epoch_val_loss:.4f}), already at step 4's test cell, before step 5 ran "
                        "(see the stopped_early check): history must be what model.fit returned.")
    assert same_loss(trained_model_val_loss, final_epoch_val_loss), (
        f"The model you trained now gives val_loss {trained_model_val_loss:.4f} instead of its last epoch's "
        f"{final_epoch_val_loss:.4f}: {RELOAD}, and leave the trained model as it is, to compare the two."
    )
