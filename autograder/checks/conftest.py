"""Fixtures of the hidden suite: the student's variables by name, and what the grader measured.

Each test module `test_<check>.py` is one graded check. Its tests receive the student's
variables as exported at that check's test cell (or, if the cell is gone, after the last
cell), already parsed as untrusted data by `autograder.evidence`. A missing variable fails
the test with a message that says what to define. The `context` (the work folder, when
the run started, what went wrong with the run) is handed over by `autograder.verify`.
"""

import os

import pytest

from autograder import evidence, exercise, measure
from autograder.verify import CONTEXT

WHAT_TO_DEFINE = {
    "early_stopping": "create it in step 1: early_stopping = EarlyStopping(...)",
    "model_checkpoint": "create it in step 2: model_checkpoint = ModelCheckpoint(...)",
    "tensorboard_callback": "create it in step 3: tensorboard_callback = TensorBoard(...)",
    "history": "train in step 4: history = model.fit(..., epochs=200, callbacks=[...])",
    "best_val_loss": "compute it in step 5, after loading the best weights into a fresh build_model()",
}


def check_name(module):
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture(scope="session")
def context(request):
    return request.config.stash[CONTEXT]


@pytest.fixture(scope="module")
def snapshot(request, context):
    check = check_name(request.module)
    taken = evidence.load_snapshot(context.work, check)
    if context.run_problem and not taken.variables:
        # The run ended before this check's test cell: that, not the student's code, is the cause.
        pytest.fail(f"The run ended before the `{check}` test cell ({_reached(context)}): {context.run_problem}")
    return taken


def _variable(name, snapshot, context):
    value = snapshot.get(name)
    if value is None:
        pytest.fail(f"`{name}` is not defined when this check runs: {WHAT_TO_DEFINE[name]}.{context.why(snapshot)}")
    if "error" in value and value.get("type") == "unreadable":
        pytest.fail(f"`{name}` could not be read: {value['error']}")
    return value


def _reached(context) -> str:
    """How far the run got: the last test cell whose snapshot it wrote (the grader's names, in notebook order)."""
    taken = [check for check in exercise.checks() if os.path.lexists(context.work / evidence.SNAPSHOTS / check / "evidence.json")]
    return f"it got past the `{taken[-1]}` one" if taken else "it reached none of them"


@pytest.fixture
def early_stopping(snapshot, context):
    return _variable("early_stopping", snapshot, context)


@pytest.fixture
def model_checkpoint(snapshot, context):
    return _variable("model_checkpoint", snapshot, context)


@pytest.fixture
def tensorboard_callback(snapshot, context):
    return _variable("tensorboard_callback", snapshot, context)


@pytest.fixture
def history(snapshot, context):
    return _variable("history", snapshot, context)


@pytest.fixture
def best_val_loss(snapshot, context):
    return _variable("best_val_loss", snapshot, context)


@pytest.fixture(scope="session")
def reference():
    return exercise.reference()


@pytest.fixture
def val_losses(history):
    """The run's per-epoch validation losses, as numbers, from `history`."""
    values = history.get("history", {}).get("val_loss")
    if not values:
        pytest.fail(
            "history.history has no 'val_loss': fit with validation_data=(x_val, y_val) "
            "so that Keras measures the validation loss after every epoch."
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        pytest.fail("history.history['val_loss'] must hold one finite number per epoch.")
    return [float(v) for v in values]


FIT = ("keep the locked setup cell unchanged, call model = build_model() right before fit, and fit on "
       "(x_train, y_train) with validation_data=(x_val, y_val), epochs=200 and the default batch size")


@pytest.fixture
def exercise_val_losses(val_losses, reference):
    """The run's validation losses, once they are shown to be this exercise's training.

    Only then can they be compared with what the grader measures on its own validation
    data: a run on other data (validation_split, say) is not a forgery, just another run.
    """
    for epoch, (got, want) in enumerate(zip(val_losses, reference["canonical"]["val_loss"]), start=1):
        if not exercise.same_loss(got, want):
            pytest.fail(f"history's val_loss at epoch {epoch} is {got:.4f}, which this exercise's training does not produce: {FIT}.")
    return val_losses


@pytest.fixture(scope="module")
def checkpoint_val_loss(context):
    """Validation loss of checkpoints/best_model.weights.h5, measured by the grader."""
    try:
        return measure.val_loss_of(context.work, exercise.CHECKPOINT, context.not_kept)
    except evidence.BadEvidence as error:
        pytest.fail(f"No usable best-weights file to reload: {error} (See the best_weights_file check.){context.why()}")


@pytest.fixture
def trained_model_val_loss(history, snapshot, context):
    """Validation loss of the weights that `history.model` held at snapshot time."""
    if snapshot.final_weights is None:
        pytest.fail("history is not the History that model.fit returned: it has no trained model.")
    try:
        return measure.val_loss_of(context.work, snapshot.final_weights)
    except evidence.BadEvidence as error:
        pytest.fail(f"The trained model could not be measured: {error}")


@pytest.fixture
def other_models_val_losses(snapshot, context):
    """{variable: validation loss measured by the grader, or why it could not be} for each
    Keras model the notebook keeps in a variable, the trained one excepted."""
    losses = {}
    for variable, weights in snapshot.models.items():
        if weights is None:
            losses[variable] = "its weights could not be saved"
            continue
        try:
            losses[variable] = measure.val_loss_of(context.work, weights)
        except evidence.BadEvidence as error:
            losses[variable] = str(error)
    return losses


@pytest.fixture
def final_epoch_val_loss(exercise_val_losses, early_stopping):
    """The validation loss the trained model has when fit returns.

    That of the last epoch, or of the best one when early_stopping restores the best
    weights (Keras 3 restores them whenever a best exists, even without stopping early).
    """
    restored = early_stopping["settings"].get("restore_best_weights") is True
    return min(exercise_val_losses) if restored else exercise_val_losses[-1]


@pytest.fixture(scope="session")
def reading(context):
    """The grader's reading of the clean notebook's cells (autograder.source), or None when unknown."""
    from autograder import source

    if not context.sources:
        return None
    try:
        return source.read(context.sources)
    except Exception:  # the reader's own bug must not cost an honest student points; review() says so
        return None


@pytest.fixture
def passed_to_fit(reading, snapshot):
    """`passed_to_fit(name)` fails unless the source shows callback `name` going into the fit that returned history.

    Why: the run's files can be made without the callback (a LambdaCallback saving weights,
    tf.summary written by hand, a History filled in); which object the fit received is read
    from the code itself. What the reading cannot follow is left to the run's evidence and
    listed for a person (verify.review).
    """
    def check(name):
        if reading is None:
            return
        found = reading.callback(snapshot.name, name)
        if found.passed is False:
            pytest.fail(found.message)

    return check


@pytest.fixture
def attached_to_trained_model(snapshot):
    """`attached_to_trained_model(name)` fails when the exported callback says it is not attached to
    history.model (a callback that is not defined is the configuration checks' business, not this one's).

    Why (measured, Keras 3.15): fit sets each of its callbacks' model to the model it trains, and
    after fit they keep it, so a callback used in history's fit has `.model is history.model`; a
    callback given to another fit (or to none) does not. The kernel's word is not proof (set_model
    can be called by hand), but an honest run always says True.
    """
    def check(name):
        if (snapshot.get(name) or {}).get("used_in_fit") is False:
            pytest.fail(f"`{name}` is not attached to the model that history trained (fit attaches its callbacks to the model "
                        f"it trains): pass {name} to the fit call that returned history, in step 4.")

    return check

