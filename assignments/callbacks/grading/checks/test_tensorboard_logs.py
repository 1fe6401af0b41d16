"""tensorboard_logs: TensorBoard wrote this run's epochs under log_dir/train and log_dir/validation."""

import time

import pytest

from autograder import evidence
from autograder.assignment import of
from autograder.messages import fail

EXERCISE = of(__file__)  # the assignment these checks belong to
BATCHES_PER_EPOCH = EXERCISE.settings["batches_per_epoch"]
same_loss = EXERCISE.same_loss


HOW = "pass tensorboard_callback in fit's callbacks=[...]"
CLOCK_SLACK = 2.0  # seconds: the sandbox shares the grader's clock; this only covers rounding


@pytest.fixture
def log_dir(tensorboard_callback, snapshot):
    try:
        return evidence.relative_to_run(tensorboard_callback["settings"].get("log_dir"), snapshot.cwd)
    except evidence.BadEvidence as error:
        pytest.fail(f"tensorboard_callback's log_dir is unusable: {error}")


@pytest.fixture
def events(context, log_dir, not_passed):
    """`events("train")`: the EventLog of log_dir/train, read once per test; fails saying why it cannot be read."""
    logs = {}

    def read(folder):
        if folder not in logs:
            try:
                logs[folder] = evidence.read_events(context.work, log_dir / folder)
            except evidence.BadEvidence as error:
                logs[folder] = error
        if isinstance(logs[folder], evidence.BadEvidence):
            where, error = (log_dir / folder).as_posix(), logs[folder]
            if not_passed("tensorboard_callback"):
                pytest.fail(f"No TensorBoard log of this run under {where}: tensorboard_callback was not passed to the fit "
                            f"that returned history, so nothing wrote it: {HOW}.")
            if "event records" in str(error) or "values" in str(error):
                fail(f"No TensorBoard log of this run can be read: {error} Write nothing else into tensorboard_callback's log_dir.",
                     error.code)
            missing = "is not a folder" in str(error) or "holds no TensorBoard event file" in str(error)
            fail(f"No TensorBoard log of this run under {where}: {error}{f' To write one, {HOW}.' if missing else ''}", error.code)
        return logs[folder]

    return read


def epoch_losses(log):
    return [value for _, value in sorted(log.scalars.get("epoch_loss", []))]


def test_training_loss_was_logged_every_epoch(events, log_dir, val_losses, history):
    logged = epoch_losses(events("train"))
    steps = history.get("optimizer_iterations")
    if len(logged) != len(val_losses) and isinstance(steps, int) and not isinstance(steps, bool) \
            and steps == len(logged) * BATCHES_PER_EPOCH:
        # The log and the trained model agree on one longer (or shorter) fit: history is what changed.
        pytest.fail(f"{(log_dir / 'train').as_posix()} logs {len(logged)} epochs of epoch_loss, and history.model's optimizer "
                    f"took {steps} steps ({len(logged)} epochs), but history holds {len(val_losses)}: history was changed "
                    "after fit; keep it as model.fit returned it.")
    assert len(logged) == len(val_losses), (
        f"{(log_dir / 'train').as_posix()} logs {len(logged)} epochs of epoch_loss, but training ran {len(val_losses)}: "
        f"{HOW}, and give each run its own timestamped log_dir."
    )


def test_validation_loss_was_logged_every_epoch(events, log_dir, val_losses):
    logged = epoch_losses(events("validation"))
    assert len(logged) == len(val_losses) and all(map(same_loss, logged, val_losses)), (
        f"{(log_dir / 'validation').as_posix()} does not log the val_loss of each of this run's {len(val_losses)} epochs: "
        f"{HOW}, and give each run its own timestamped log_dir."
    )


def test_events_were_written_during_this_run(context, log_dir, events):
    # Event files made before the run (an honest run's logs carried in the notebook) hold the
    # wall times of when they were made; the callback writes each epoch while this run goes on.
    if context.run_started_at is None:
        pytest.skip("the run's start is not known to the grader (nbgrader's own autograde)")
    now = time.time()
    for folder in ("train", "validation"):
        times = events(folder).wall_times.get("epoch_loss", [])
        outside = [t for t in times if not context.run_started_at - CLOCK_SLACK <= t <= now + CLOCK_SLACK]
        assert not outside, (
            f"{(log_dir / folder).as_posix()} holds epoch_loss written {len(outside)} time(s) outside this run (the run started at "
            f"{time.strftime('%H:%M:%S', time.localtime(context.run_started_at))}): the log must be written by "
            f"tensorboard_callback while this notebook trains, not copied in; {HOW}."
        )


def test_logs_are_what_the_tensorboard_callback_writes(events, log_dir, val_losses, tensorboard_callback):
    # Measured (Keras 3.15): during fit, TensorBoard also logs, in validation/, each evaluation's loss
    # against the optimizer's step count (evaluation_loss_vs_iterations at steps 10, 20, ...: one
    # epoch's batches apart), in train/, the learning rate of every epoch, and with write_graph (the
    # default) the model's graph. Scalars written by hand with tf.summary hold only what their writer
    # thought of.
    missing = []
    steps = [step for step, _ in sorted(events("validation").scalars.get("evaluation_loss_vs_iterations", []))]
    per_epoch = steps[0] if steps else 0  # 10 batches here; 9 with validation_split, a mistake other checks name
    if per_epoch <= 0 or steps != [per_epoch * epoch for epoch in range(1, len(val_losses) + 1)]:
        missing.append("validation/ lacks evaluation_loss_vs_iterations at every epoch's training step")
    train = events("train")
    if len(train.scalars.get("epoch_learning_rate", [])) != len(val_losses):
        missing.append("train/ lacks epoch_learning_rate for every epoch")
    if tensorboard_callback["settings"].get("write_graph") is not False and train.plugins.get("keras") != "graph_keras_model":
        missing.append("train/ lacks the model graph")
    assert not missing, (
        f"{log_dir.as_posix()} is not what the TensorBoard callback writes during fit ({'; '.join(missing)}): "
        f"the log must be written by tensorboard_callback itself; {HOW}."
    )


def test_tensorboard_callback_was_passed_to_the_fit(passed_to_fit):
    # The files and numbers above can be produced without tensorboard_callback; the code shows whether
    # the fit that returned history received it.
    passed_to_fit("tensorboard_callback")


def test_tensorboard_callback_is_attached_to_the_trained_model(attached_to_trained_model):
    attached_to_trained_model("tensorboard_callback")
