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

from autograder import evidence, replay
from autograder.assignment import of
from autograder.messages import Code, fail
from autograder.checking import check_name, how_to_fit, what_to_define
# The fixtures every hidden suite shares (pytest finds them among this module's names).
from autograder.checking import context, not_passed, passed_to_fit, reading, reference, trained_model_val_loss  # noqa: F401
from autograder.replay import same_rate

exercise = of(__file__)  # the assignment these checks belong to
STEP = exercise.steps
WHAT_TO_DEFINE = what_to_define(exercise)
FIT = how_to_fit(exercise)


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
    return replay.model_of(exercise)[1]


@pytest.fixture
def replayed_rates(history):
    """`replayed_rates(settings)`: the per-epoch learning rates a real ReduceLROnPlateau with `settings`
    gives over this run's own logs (ValueError when the settings are not valid)."""
    logs = {key: values for key, values in history.get("history", {}).items()
            if key != "learning_rate" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)}
    return lambda settings: replay.run_learning_rates(exercise, settings, logs)
