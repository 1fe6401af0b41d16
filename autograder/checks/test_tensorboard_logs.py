"""tensorboard_logs: TensorBoard wrote this run's epochs under log_dir/train and log_dir/validation."""

import time

import pytest

from autograder import evidence
from autograder.exercise import same_loss

HOW = "pass tensorboard_callback in fit's callbacks=[...]"
CLOCK_SLACK = 2.0  # seconds: the sandbox shares the grader's clock; this only covers rounding


@pytest.fixture
def log_dir(tensorboard_callback, snapshot):
    try:
        return evidence.relative_to_run(tensorboard_callback["settings"].get("log_dir"), snapshot.cwd)
    except evidence.BadEvidence as error:
        pytest.fail(f"tensorboard_callback's log_dir is unusable: {error}")


def epoch_losses(context, folder):
    try:
        scalars = evidence.read_scalars(context.work, folder)
    except evidence.BadEvidence as error:
        pytest.fail(f"No TensorBoard log of this run under {folder.as_posix()}: {error} To write one, {HOW}.")
    return [value for _, value in sorted(scalars.get("epoch_loss", []))]


def test_training_loss_was_logged_every_epoch(context, log_dir, val_losses):
    logged = epoch_losses(context, log_dir / "train")
    assert len(logged) == len(val_losses), (
        f"{(log_dir / 'train').as_posix()} logs {len(logged)} epochs of epoch_loss, but training ran {len(val_losses)}: "
        f"{HOW}, and give each run its own timestamped log_dir."
    )


def test_validation_loss_was_logged_every_epoch(context, log_dir, val_losses):
    logged = epoch_losses(context, log_dir / "validation")
    assert len(logged) == len(val_losses) and all(map(same_loss, logged, val_losses)), (
        f"{(log_dir / 'validation').as_posix()} does not log the val_loss of each of this run's {len(val_losses)} epochs: "
        f"{HOW}, and give each run its own timestamped log_dir."
    )


def test_events_were_written_during_this_run(context, log_dir):
    # Event files made before the run (an honest run's logs carried in the notebook) hold the
    # wall times of when they were made; the callback writes each epoch while this run goes on.
    if context.run_started_at is None:
        pytest.skip("the run's start is not known to the grader (nbgrader's own autograde)")
    now = time.time()
    for folder in (log_dir / "train", log_dir / "validation"):
        times = {}
        try:
            evidence.read_scalars(context.work, folder, wall_times=times)
        except evidence.BadEvidence:
            continue  # said by the tests above
        outside = [t for t in times.get("epoch_loss", []) if not context.run_started_at - CLOCK_SLACK <= t <= now + CLOCK_SLACK]
        assert not outside, (
            f"{folder.as_posix()} holds epoch_loss written {len(outside)} time(s) outside this run (the run started at "
            f"{time.strftime('%H:%M:%S', time.localtime(context.run_started_at))}): the log must be written by "
            f"tensorboard_callback while this notebook trains, not copied in; {HOW}."
        )


def test_tensorboard_callback_was_passed_to_the_fit(passed_to_fit):
    # The files and numbers above can be produced without tensorboard_callback; the code shows whether
    # the fit that returned history received it.
    passed_to_fit("tensorboard_callback")


def test_tensorboard_callback_is_attached_to_the_trained_model(attached_to_trained_model):
    attached_to_trained_model("tensorboard_callback")
