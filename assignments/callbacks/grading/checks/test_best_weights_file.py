"""best_weights_file: {checkpoint} was written by this run and loads into build_model()."""

import pytest

from autograder import evidence
from autograder.assignment import of
from autograder.messages import Code, fail

EXERCISE = of(__file__)  # the assignment these checks belong to
CHECKPOINT = EXERCISE.settings["checkpoint"]
same_loss = EXERCISE.same_loss


HOW = f'create model_checkpoint with filepath="{CHECKPOINT}" and pass it in fit\'s callbacks=[...]'


@pytest.fixture(scope="module")
def checkpoint_file(snapshot, context, checkpoint_missing_because, reading):
    try:
        return evidence.regular_file(context.work, CHECKPOINT, evidence.MAX_WEIGHTS_BYTES, context.not_kept)
    except evidence.BadEvidence as error:
        if "does not exist" not in str(error):
            pytest.fail(f"No best-weights file after the run: {error}")  # something else stands there: no HOW applies
        because = checkpoint_missing_because
        if because.startswith("model_checkpoint saves to"):
            said = f"{error.args[0].rstrip('.')}, because {because}; the grader reads only {CHECKPOINT}."
        elif because:
            said = f"{error.args[0].rstrip('.')}, because {because}: pass it in fit's callbacks=[...]."
        elif reading is not None and reading.callback(snapshot.name, "model_checkpoint").passed is True \
                and (snapshot.get("history") or {}).get("optimizer_iterations") == 0:
            said = (f"{error} Although the code passes model_checkpoint to fit, in this run no fit trained with it "
                    "(history.model took 0 training steps): history must be what that model.fit(...) returned.")
        else:
            said = f"{error} To get one, {HOW}."
        pytest.fail(f"No best-weights file after the run: {said}{context.why(snapshot, 'best_weights_file')}")


def test_file_was_written_by_this_run(checkpoint_file, context, snapshot):
    started = context.run_started_at or snapshot.kernel_started_at
    if started is None:
        pytest.fail("The start of the run is unknown, so the file's age cannot be checked.")
    if checkpoint_file.st_mtime <= started:
        fail(f"{CHECKPOINT} was last written before this run started: a stale or uploaded file does not count. "
             f"It must be written by ModelCheckpoint during training: {HOW}.", Code.STALE_FILE)


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


def test_model_checkpoint_state_is_this_training(model_checkpoint, exercise_val_losses):
    # Measured (Keras 3.15): with save_best_only=True on val_loss, fit leaves in model_checkpoint.best
    # the lowest val_loss it saved at. A checkpoint that never took part in this fit still holds its
    # initial value, None.
    settings = model_checkpoint["settings"]
    if settings.get("save_best_only") is not True or settings.get("monitor") != "val_loss":
        return  # configured otherwise: the model_checkpoint check says so
    best = settings.get("best")
    if isinstance(best, bool) or not isinstance(best, (int, float)):
        best = None
    assert best is not None and same_loss(best, min(exercise_val_losses)), (
        f"model_checkpoint's state does not come from this training: "
        f"{'it saved no epoch' if best is None else f'the best val_loss it saved at is {best:.4f}'}, but this "
        f"training's lowest was {min(exercise_val_losses):.4f}: {HOW}, in the fit that returned history."
    )
