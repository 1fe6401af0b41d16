"""stopped_at_target: training ended at the end of the first epoch whose val_accuracy reached {target}, stopped by val_accuracy_target."""

import pytest

from autograder import replay
from autograder.assignment import of

EXERCISE = of(__file__)  # the assignment these checks belong to
TARGET, EPOCHS = EXERCISE.settings["target"], EXERCISE.settings["epochs"]


def test_history_comes_from_this_exercise(exercise_val_accuracies):
    pass  # the fixture fails, saying at which epoch, when history is not this exercise's training


def test_stopped_at_the_first_epoch_reaching_the_target(exercise_val_accuracies, early_stopping, reference, not_passed):
    reached = next((epoch for epoch, value in enumerate(exercise_val_accuracies) if value >= TARGET), None)
    ran = len(exercise_val_accuracies)
    if reached == ran - 1:
        return
    if not_passed("val_accuracy_target"):
        return  # the code does not pass it: val_accuracy_target_was_passed_to_the_fit says so
    if reached is not None:
        pytest.fail(f"val_accuracy first reached {TARGET} at epoch {reached + 1} ({exercise_val_accuracies[reached]:.4f}), "
                    f"but training went on to epoch {ran}: in on_epoch_end, when logs['val_accuracy'] >= self.target, "
                    "set self.model.stop_training = True, and pass val_accuracy_target in fit's callbacks=[...].")
    if ran >= EPOCHS:
        pytest.fail(f"Training ran all {EPOCHS} epochs without val_accuracy reaching {TARGET}: pass val_accuracy_target in fit's callbacks=[...].")
    # Not reached: did EarlyStopping end it, by its own rule over this run's val_loss?
    try:
        stops = replay.epochs_run(early_stopping["settings"], {"val_loss": reference["canonical"]["val_loss"]},
                                  EPOCHS, EXERCISE.setup["build_model"]())
    except ValueError:
        stops = None
    if stops == ran:
        pytest.fail(f"Training stopped after epoch {ran}, where early_stopping stops it, before val_accuracy reached {TARGET} "
                    f"(its highest was {max(exercise_val_accuracies):.4f}): val_accuracy_target must end it, at the first "
                    "epoch whose val_accuracy reaches the target.")
    pytest.fail(f"Training stopped after epoch {ran}, at val_accuracy {exercise_val_accuracies[-1]:.4f}, below the target {TARGET}: "
                f"val_accuracy_target must stop it only when logs['val_accuracy'] >= self.target (not 'accuracy', not another value).")


def test_records_the_epoch_it_stopped(val_accuracy_target, exercise_val_accuracies, not_passed):
    if not_passed("val_accuracy_target") or not any(value >= TARGET for value in exercise_val_accuracies):
        return  # said above
    stopped = val_accuracy_target["settings"].get("stopped_epoch")
    last = len(exercise_val_accuracies) - 1
    assert stopped == last, (
        f"val_accuracy_target.stopped_epoch must be the epoch (from 0) at which it stopped training, {last} in this run "
        f"(the last of history.epoch); it is {stopped!r}: set self.stopped_epoch = epoch in on_epoch_end, and reset it "
        "to None in on_train_begin."
    )


def test_val_accuracy_target_was_passed_to_the_fit(passed_to_fit):
    # The stop can come from elsewhere; the code shows whether the fit that returned history received it.
    passed_to_fit("val_accuracy_target")


def test_the_model_trained_every_epoch_once(history, exercise_val_losses):
    # Measured: an honest fit takes one optimizer step per batch, 10 per epoch here. A History
    # written around an untrained model, or a model trained further, differs.
    steps, per_epoch = history.get("optimizer_iterations"), EXERCISE.settings["batches_per_epoch"]
    if steps is None:
        return  # not exported: the trained-model checks say so
    assert steps == len(exercise_val_losses) * per_epoch, (
        f"The trained model's optimizer took {steps} training steps, but {len(exercise_val_losses)} epochs of {per_epoch} "
        "batches take " f"{len(exercise_val_losses) * per_epoch}: history must come from one fit of a fresh model = build_model(), as step 5 says."
    )
