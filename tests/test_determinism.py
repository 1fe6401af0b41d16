"""End to end, every assignment: grading is reproducible, whatever else is in the batch and however many run at once.

Two batches per assignment, each graded once (module-scoped fixtures) by the real grader:
- with jobs=2: the solution ten times, the catalogue's DETERMINISM mistake (one that trains)
  and the untouched release, so the copies of the solution run next to each other and next
  to other notebooks;
- with jobs=1: the solution, the same mistake and the release, one after the other.
`-k custom_callbacks` grades that assignment's batches alone.
"""

import functools

import pytest

from autograder import assignment
from autograder.grade import Submission, grade
from cases import SOLUTION, catalogue
from notebooks import write

pytestmark = pytest.mark.slow

ASSIGNMENTS = list(assignment.find())
SMALL_BATCH = ("solution", "mistake", "release")


def case_of(exercise, kind):
    cases = catalogue(exercise)
    return {"solution": SOLUTION, "mistake": cases.DETERMINISM, "release": cases.UNTOUCHED}[kind]


def graded_batch(exercise, kinds, jobs, tmp_path_factory):
    submissions = [
        Submission(f"{kind}-{index}", write(case_of(exercise, kind).notebook(exercise),
                                            tmp_path_factory.mktemp(kind) / f"{exercise.name}.ipynb"))
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
    """parallel(name) -> {kind: [Result, ...]}: the solution ten times, the mistake and the release, two at a time."""
    @functools.cache
    def batch(name):
        kinds = ["solution", "mistake", *["solution"] * 4, "release", *["solution"] * 5]
        by_kind = {}
        for kind, result in zip(kinds, graded_batch(assignment.get(name), kinds, 2, tmp_path_factory)):
            by_kind.setdefault(kind, []).append(result)
        return by_kind
    return batch


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """sequential(name) -> {kind: Result}: the solution, the mistake and the release, one at a time."""
    @functools.cache
    def batch(name):
        return dict(zip(SMALL_BATCH, graded_batch(assignment.get(name), SMALL_BATCH, 1, tmp_path_factory)))
    return batch


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_graded_ten_times_gets_identical_results(name, parallel):
    """Ten copies of the solution in one batch get the same scores, messages and training curves."""
    exercise = assignment.get(name)
    solutions = parallel(name)["solution"]
    assert len(solutions) == 10
    first, *others = map(outcome, solutions)
    assert first["score"] == first["max_score"] == exercise.max_score, first
    assert len(first["training"]["val_loss"]) == exercise.reference["solution"]["epochs_run"], first["training"]
    for other in others:
        assert other == first


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_training_curve_is_the_reference_one(name, parallel):
    """The solution's val_loss curve is the recorded reference run's, within the grader's tolerance."""
    exercise = assignment.get(name)
    curve = parallel(name)["solution"][0].training["val_loss"]
    reference = exercise.reference["solution"]["val_loss"]
    assert len(curve) == len(reference) and all(map(exercise.same_loss, curve, reference)), (curve, reference)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_mistake_and_release_are_graded_as_expected(name, sequential):
    """The batch compared below is a meaningful one: full marks, a partial score that trained, and 0."""
    exercise = assignment.get(name)
    results, mistake = sequential(name), catalogue(exercise).DETERMINISM
    assert [results[kind].score for kind in SMALL_BATCH] == [exercise.max_score, mistake.score(exercise), 0]
    assert 0 < mistake.score(exercise) < exercise.max_score
    assert len(results["mistake"].training["val_loss"]) == mistake.epochs
    assert results["release"].training["val_loss"] == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
@pytest.mark.parametrize("kind", SMALL_BATCH)
def test_one_at_a_time_and_two_at_a_time_give_identical_results(name, kind, parallel, sequential):
    """Grading with jobs=1 and with jobs=2 gives the same result, training curves included."""
    assert outcome(sequential(name)[kind]) == outcome(parallel(name)[kind][0])
