"""Fixtures of the custom_callbacks hidden suite: the student's variables by name, and what the grader measured.

Each test module `test_<check>.py` is one graded check. Its tests receive the student's
variables as exported at that check's test cell (or, if the cell is gone, after the last
cell), parsed as untrusted data by `autograder.evidence`. Numbers the kernel reports are only
believed where the grader's own evidence backs them: the canonical training of
reference.json (the run's val_loss, epoch by epoch, where its learning rate is the canonical
one), a real ReduceLROnPlateau replayed over the run's own logs, and the trained model's
weights measured on the grader's data.
"""

import os

import pytest

from autograder import evidence, measure, replay
from autograder.replay import same_rate
from autograder.assignment import of
from autograder.verify import CONTEXT
from autograder.messages import Code, fail

exercise = of(__file__)  # the assignment these checks belong to
EPOCHS = exercise.settings["epochs"]
STEP = exercise.steps
WHAT_TO_DEFINE = {name: variable["define"].format_map(exercise.settings) for name, variable in exercise.variables.items()}
FIT = ("keep the locked setup cell unchanged, call model = build_model() right before fit, and fit on "
       f"(x_train, y_train) with validation_data=(x_val, y_val), epochs={EPOCHS} and the default batch size")


def check_name(module):
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


@pytest.fixture(scope="session")
def context(request):
    return request.config.stash[CONTEXT]


@pytest.fixture(scope="session")
def reference():
    return exercise.reference


@pytest.fixture(scope="module")
def snapshot(request, context):
    check = check_name(request.module)
    taken = evidence.load_snapshot(context.work, check, exercise.variables)
    if taken.name != check and os.path.lexists(context.work / evidence.SNAPSHOTS / check / "evidence.json"):
        pytest.fail(f"What your variables held at step {STEP.get(check, '?')}'s test cell could not be read: "
                    f"{taken.problems[0]}{context.why(taken, check)}")
    if taken.name != check and context.stop:
        pytest.fail(f"The run was stopped before step {STEP.get(check, '?')}'s test cell: {context.stop}")
    return taken


def _variable(name, snapshot, context):
    value = snapshot.get(name)
    if value is None:
        check = snapshot.name if snapshot.name in STEP else None
        where = f"at step {STEP[check]}'s test cell" if check else "after the last cell"
        pytest.fail(f"`{name}` is not defined {where}: {WHAT_TO_DEFINE[name]}.{context.why(snapshot, check)}")
    if value.get("type") == "unreadable":
        pytest.fail(f"`{name}` could not be read: {value.get('error')}")
    return value


def _fixture(name):
    def variable(snapshot, context):
        return _variable(name, snapshot, context)

    variable.__name__ = name
    return pytest.fixture(variable, name=name)


# One fixture per declared variable, named as the notebook names it (val_accuracy_target, reduce_lr, ..., history).
globals().update({name: _fixture(name) for name in exercise.variables})


def _series(history, key, why):
    values = history.get("history", {}).get(key)
    if not values:
        pytest.fail(f"history.history has no {key!r}: {why}.")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        pytest.fail(f"history.history[{key!r}] must hold one finite number per epoch.")
    return [float(v) for v in values]


@pytest.fixture
def val_losses(history):
    return _series(history, "val_loss", "fit with validation_data=(x_val, y_val) so that Keras measures it after every epoch")


@pytest.fixture
def learning_rates(history, val_losses):
    """The learning rate of each epoch, as history has it (ReduceLROnPlateau writes the key)."""
    rates = _series(history, "learning_rate", "pass reduce_lr in fit's callbacks=[...] (ReduceLROnPlateau adds that key to the logs)")
    if len(rates) != len(val_losses):
        pytest.fail(f"history holds {len(rates)} learning rates for {len(val_losses)} epochs: keep history as model.fit returned it.")
    return rates


@pytest.fixture
def canonical_epochs(history, reference):
    """How many first epochs of this run trained as the canonical training did: those whose
    learning rate (if the run logged one) is the canonical training's. Only there can the run's
    logs be compared with the grader's reference."""
    canonical = reference["canonical"]
    rates = history.get("history", {}).get("learning_rate") or []
    count = 0
    for epoch in range(min(len(history.get("epoch") or []), len(canonical["val_loss"]))):
        if epoch < len(rates) and not (isinstance(rates[epoch], (int, float)) and same_rate(rates[epoch], canonical["learning_rate"][epoch])):
            break
        count += 1
    return count


@pytest.fixture
def exercise_val_losses(val_losses, reference, canonical_epochs):
    """The run's validation losses, once those the grader can check are shown to be this exercise's training."""
    for epoch, (got, want) in enumerate(zip(val_losses[:canonical_epochs], reference["canonical"]["val_loss"]), start=1):
        if not exercise.same_loss(got, want):
            fail(f"history's val_loss at epoch {epoch} is {got:.4f}, which this exercise's training does not produce "
                 f"(it gives {want:.4f}): {FIT}.", Code.FOREIGN_HISTORY)
    return val_losses


@pytest.fixture
def exercise_val_accuracies(history, exercise_val_losses, reference, canonical_epochs):
    """The run's val_accuracy, checked against the canonical training where the grader can."""
    found = _series(history, "val_accuracy", "fit with validation_data=(x_val, y_val)")
    for epoch, (got, want) in enumerate(zip(found[:canonical_epochs], reference["canonical"]["val_accuracy"]), start=1):
        if abs(got - want) > 1e-6:
            fail(f"history's val_accuracy at epoch {epoch} is {got:.4f}, which this exercise's training does not produce "
                 f"(it gives {want:.4f}): {FIT}.", Code.FOREIGN_HISTORY)
    return found


@pytest.fixture(scope="session")
def first_learning_rate():
    """The rate build_model()'s optimizer starts at, read from a model the grader built."""
    return float(exercise.setup["build_model"]().optimizer.learning_rate)


@pytest.fixture
def replayed_rates(history, first_learning_rate):
    """`replayed_rates(settings)`: the per-epoch learning rates a real ReduceLROnPlateau with `settings`
    gives over this run's own logs (ValueError when the settings are not valid)."""
    logs = {key: values for key, values in history.get("history", {}).items()
            if key != "learning_rate" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)}
    model = _replay_model()

    def replay_with(settings):
        model.optimizer.learning_rate = first_learning_rate
        return replay.learning_rates(settings, logs, model)

    return replay_with


_MODELS = []


def _replay_model():
    # One model for every replay of this process: building one costs about 0.1 s; each replay
    # sets its rate back (replay.learning_rates) and the layers are never used.
    if not _MODELS:
        _MODELS.append(exercise.setup["build_model"]())
    return _MODELS[0]


@pytest.fixture
def trained_model_val_loss(history, snapshot, context):
    """Validation loss of the weights that `history.model` held at snapshot time, measured by the grader."""
    if snapshot.final_weights is None:
        pytest.fail("history is not the History that model.fit returned: it has no trained model.")
    try:
        return measure.val_loss_of(exercise, context.work, snapshot.final_weights)
    except evidence.BadEvidence as error:
        pytest.fail(f"The trained model could not be measured: {error}")


@pytest.fixture(scope="session")
def reading(context):
    """The grader's reading of the clean notebook's cells (autograder.source), or None when unknown."""
    from autograder import source

    if not context.sources:
        return None
    try:
        return source.read(context.sources, exercise)
    except Exception:  # the reader's own bug must not cost an honest student points; review() says so
        return None


@pytest.fixture
def passed_to_fit(reading, snapshot):
    """`passed_to_fit(name)` fails unless the source shows callback `name` going into the fit that returned history
    (what the reading cannot follow is left to the run's evidence)."""
    def check(name):
        if reading is not None and (found := reading.callback(snapshot.name, name)).passed is False:
            pytest.fail(found.message.replace("in step 4", "in step 5").replace("(step 4)", "(step 5)"))

    return check


@pytest.fixture
def not_passed(reading, snapshot):
    """`not_passed(name)`: the code shows callback `name` was not given to history's fit."""
    return lambda name: reading is not None and reading.callback(snapshot.name, name).passed is False
