"""End to end: grading is reproducible, whatever else is in the batch and however many run at once.

Two batches, each graded once (module-scoped fixtures) by the real grader:
- with jobs=2: the solution ten times, one mistake and the untouched release, so the
  copies of the solution run next to each other and next to other notebooks;
- with jobs=1: the solution, the same mistake and the release, one after the other.
"""

import nbformat
import pytest

from course import exercise
from autograder.grade import Submission, grade
from notebooks import submission, write

pytestmark = pytest.mark.slow

# A mistake that trains (12 epochs instead of 14) and fails two checks with messages that
# hold numbers from the run but no timestamp, so equal results mean an equal run.
MISTAKE = {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=3)'}
SMALL_BATCH = ("solution", "mistake", "release")


def notebook(kind):
    if kind == "solution":
        return submission()
    if kind == "mistake":
        return submission(**MISTAKE)
    return nbformat.read(exercise.release_notebook, as_version=4)


def graded_batch(kinds, jobs, tmp_path_factory):
    submissions = [
        Submission(f"{kind}-{index}", write(notebook(kind), tmp_path_factory.mktemp(kind) / "callbacks.ipynb"))
        for index, kind in enumerate(kinds)
    ]
    return grade(submissions, exercise, jobs=jobs)


def outcome(result):
    """Everything a student or instructor gets from a result, except its name and timing."""
    return {
        "score": result.score,
        "max_score": result.max_score,
        "status": result.status,
        "message": result.message,
        "tests": [(t.name, t.score, t.max_score, t.status, t.output) for t in result.tests],
        "training": result.training,
    }


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    """{kind: [Result, ...]}: the solution ten times, the mistake and the release, two at a time."""
    kinds = ["solution", "mistake", *["solution"] * 4, "release", *["solution"] * 5]
    results = graded_batch(kinds, 2, tmp_path_factory)
    by_kind = {}
    for kind, result in zip(kinds, results):
        by_kind.setdefault(kind, []).append(result)
    return by_kind


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """{kind: Result}: the solution, the mistake and the release, one at a time."""
    return dict(zip(SMALL_BATCH, graded_batch(SMALL_BATCH, 1, tmp_path_factory)))


def test_solution_graded_ten_times_gets_identical_results(parallel):
    """Ten copies of the solution in one batch get the same scores, messages and training curves."""
    assert len(parallel["solution"]) == 10
    first, *others = map(outcome, parallel["solution"])
    assert first["score"] == first["max_score"] == 10, first
    assert len(first["training"]["val_loss"]) == exercise.reference["solution"]["epochs_run"], first["training"]
    for other in others:
        assert other == first


def test_solution_training_curve_is_the_reference_one(parallel):
    """The solution's val_loss curve is the recorded reference run's, within the grader's tolerance."""
    curve = parallel["solution"][0].training["val_loss"]
    reference = exercise.reference["solution"]["val_loss"]
    assert len(curve) == len(reference) and all(map(exercise.same_loss, curve, reference)), (curve, reference)


def test_mistake_and_release_are_graded_as_expected(sequential):
    """The batch compared below is a meaningful one: 10/10, a partial score that trained, and 0."""
    assert [sequential[kind].score for kind in SMALL_BATCH] == [10, 7, 0]
    assert len(sequential["mistake"].training["val_loss"]) == 12
    assert sequential["release"].training["val_loss"] == []


@pytest.mark.parametrize("kind", SMALL_BATCH)
def test_one_at_a_time_and_two_at_a_time_give_identical_results(kind, parallel, sequential):
    """Grading with jobs=1 and with jobs=2 gives the same result, training curves included."""
    assert outcome(sequential[kind]) == outcome(parallel[kind][0])
