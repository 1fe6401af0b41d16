"""What every assignment's hidden suite shares: fixtures and helpers its conftest.py imports.

An assignment's `grading/checks/conftest.py` imports the fixtures it wants by name (pytest
finds fixtures among a conftest's globals) and keeps only its own:

    from autograder.checking import context, not_passed, passed_to_fit, reading, reference  # noqa: F401

Everything here learns the assignment from the run's `context` (handed over by
`autograder.verify`), so it names none. The fixtures that read the student's variables
(`snapshot`, `history`, ...) stay in each conftest: what a missing one tells the student is the
assignment's own business.
"""

import pytest

from . import evidence, measure
from .verify import CONTEXT


def check_name(module) -> str:
    """The check a test module grades: `test_<check>.py`."""
    return module.__name__.rsplit(".", 1)[-1].removeprefix("test_")


def what_to_define(assignment) -> dict:
    """{variable: what to tell a student who has none}, from the declaration, the solution's settings filled in."""
    return {name: variable["define"].format_map(assignment.settings) for name, variable in assignment.variables.items()}


def how_to_fit(assignment) -> str:
    """The lesson's training, in words, for a run whose losses are not the exercise's."""
    data = assignment.data_names
    return (f"keep the locked setup cell unchanged, call model = build_model() right before fit, and fit on "
            f"({data['x']}, {data['y']}) with validation_data=({data['x_val']}, {data['y_val']}), "
            f"epochs={assignment.settings['epochs']} and the default batch size")


@pytest.fixture(scope="session")
def context(request):
    """The run being graded (autograder.verify.Context)."""
    return request.config.stash[CONTEXT]


@pytest.fixture(scope="session")
def reference(context):
    """The assignment's recorded reference run (reference.json)."""
    return context.assignment.reference


@pytest.fixture(scope="session")
def reading(context):
    """The grader's reading of the clean notebook's cells (autograder.source), or None when unknown."""
    from . import source

    if not context.sources:
        return None
    try:
        return source.read(context.sources, context.assignment)
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
def not_passed(reading, snapshot):
    """`not_passed(name)`: the code shows callback `name` was not given to history's fit (the source check says so)."""
    return lambda name: reading is not None and reading.callback(snapshot.name, name).passed is False


@pytest.fixture
def trained_model_val_loss(history, snapshot, context):
    """Validation loss of the weights that `history.model` held at snapshot time, measured by the grader."""
    if snapshot.final_weights is None:
        pytest.fail("history is not the History that model.fit returned: it has no trained model.")
    try:
        return measure.val_loss_of(context.assignment, context.work, snapshot.final_weights)
    except evidence.BadEvidence as error:
        pytest.fail(f"The trained model could not be measured: {error}")
