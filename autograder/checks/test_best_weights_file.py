"""best_weights_file: checkpoints/best_model.weights.h5 was written by this run and loads into build_model()."""

import pytest

from autograder import evidence
from autograder.exercise import CHECKPOINT, same_loss

HOW = f'create model_checkpoint with filepath="{CHECKPOINT}" and pass it in fit\'s callbacks=[...]'


@pytest.fixture(scope="module")
def checkpoint_file(context):
    try:
        return evidence.regular_file(context.work, CHECKPOINT, evidence.MAX_WEIGHTS_BYTES, context.not_kept)
    except evidence.BadEvidence as error:
        pytest.fail(f"No best-weights file after the run: {error} To get one, {HOW}.{context.why()}")


def test_file_was_written_by_this_run(checkpoint_file, context, snapshot):
    started = context.run_started_at or snapshot.kernel_started_at
    if started is None:
        pytest.fail("The start of the run is unknown, so the file's age cannot be checked.")
    assert checkpoint_file.st_mtime > started, (
        f"{CHECKPOINT} was last written before this run started: a stale or uploaded file does not count. "
        f"It must be written by ModelCheckpoint during training: {HOW}."
    )


def test_file_loads_into_build_model(checkpoint_file, checkpoint_val_loss):
    assert checkpoint_val_loss >= 0


def test_file_holds_an_epoch_of_this_training(checkpoint_file, checkpoint_val_loss, exercise_val_losses):
    # A loadable file is not enough: ModelCheckpoint saves the weights of some epoch of the fit,
    # so the grader's measurement must be one of the run's val_loss values.
    assert any(same_loss(checkpoint_val_loss, value) for value in exercise_val_losses), (
        f"The weights in {CHECKPOINT} give val_loss {checkpoint_val_loss:.4f}, which no epoch of this training "
        f"reached: the file must be written by ModelCheckpoint during this fit ({HOW}), not saved or copied by hand."
    )


def test_model_checkpoint_was_passed_to_the_fit(passed_to_fit):
    # The files and numbers above can be produced without model_checkpoint; the code shows whether
    # the fit that returned history received it.
    passed_to_fit("model_checkpoint")


def test_model_checkpoint_is_attached_to_the_trained_model(attached_to_trained_model):
    attached_to_trained_model("model_checkpoint")
