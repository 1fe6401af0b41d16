"""End to end, every assignment: its named mistakes and honest styles, graded by the real grader (sandbox, kernel, training).

The cases are each assignment's catalogue, tests/cases/<assignment>.py. A mistake must fail
exactly the checks it breaks, each message saying what to fix in the lesson's words, and pass
every other check with full points; an honest style must keep full marks.

Each assignment's notebooks (its solution, the untouched release, every mistake and style)
are graded in one batch (one verifier worker, two sandboxes at once) when its first test
runs, and shared by its tests: `-k custom_callbacks` grades that assignment's batch alone,
`-k "not custom_callbacks"` the other's.
"""

import pytest

from autograder import assignment
from autograder.grade import Submission, grade
from cases import SOLUTION, catalogue
from notebooks import write

pytestmark = pytest.mark.slow

ASSIGNMENTS = list(assignment.find())


def every_case(exercise):
    cases = catalogue(exercise)
    return [SOLUTION, cases.UNTOUCHED, *cases.MISTAKES, *cases.STYLES]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """graded(exercise) -> {case name: Result}: all of the assignment's cases, graded in one batch the first time."""
    batches = {}

    def of(exercise):
        if exercise.name not in batches:
            submissions = [
                Submission(case.name, write(case.notebook(exercise), tmp_path_factory.mktemp("submission") / f"{exercise.name}.ipynb"))
                for case in every_case(exercise)
            ]
            batches[exercise.name] = {result.submission: result for result in grade(submissions, exercise, jobs=2)}
        return batches[exercise.name]
    return of


def describe(result):
    return "\n".join([f"{result.submission}: {result.score}/{result.max_score} ({result.status}, {result.message})"]
                     + [f"  {t.name}: {t.score}/{t.max_score} {t.status}\n    {t.output}" for t in result.tests])


def _param(name, case, kind=""):
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"grader, reported: {case.grader_bug}")
             ] if case.grader_bug else []
    return pytest.param(name, case, id=f"{name}: {kind}{case.statement}", marks=marks)


def cases_of_every_assignment():
    for name in ASSIGNMENTS:
        cases = catalogue(assignment.get(name))
        yield from (_param(name, case) for case in cases.MISTAKES)
        yield from (_param(name, case, "honest style: ") for case in cases.STYLES)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_gets_full_marks(name, graded):
    """The reference solution gets every point, every check passed, in the notebook's order."""
    exercise = assignment.get(name)
    result = graded(exercise)[SOLUTION.name]
    assert result.status == "graded", describe(result)
    assert [(t.name, t.score, t.status) for t in result.tests] == [(n, p, "passed") for n, p in exercise.checks.items()], describe(result)
    assert result.score == result.max_score == exercise.max_score


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_untouched_release_gets_zero_saying_not_implemented(name, graded):
    """The release as handed out runs to the end and gets 0 on every check; the messages name the NotImplementedError
    (where the catalogue's UNTOUCHED says otherwise, what they say instead)."""
    exercise = assignment.get(name)
    untouched = catalogue(exercise).UNTOUCHED
    result = graded(exercise)[untouched.name]
    assert result.status == "graded", describe(result)
    assert [(t.name, t.score, t.status) for t in result.tests] == [(n, 0.0, "failed") for n in exercise.checks], describe(result)
    assert result.score == 0
    for test in result.tests:
        assert untouched.fails[test.name] in test.output, f"{test.name}:\n{describe(result)}"


@pytest.mark.parametrize("name, case", list(cases_of_every_assignment()))
def test_case_fails_exactly_its_checks(name, case, graded):
    """The case fails exactly its checks, each message naming the fix; every other check gets full points."""
    exercise = assignment.get(name)
    result = graded(exercise)[case.name]
    explain = f"Expected because: {case.why}\n{describe(result)}"
    assert result.status == "graded", explain
    assert {t.name for t in result.tests if t.status != "passed"} == set(case.fails), explain
    for test in result.tests:
        if test.name in case.fails:
            assert test.score == 0, explain
            assert case.fails[test.name] in test.output, f"{test.name}'s message should say {case.fails[test.name]!r}. {explain}"
        else:
            assert test.score == test.max_score == exercise.checks[test.name], explain
        wrong = [advice for advice in case.never_says if advice in test.output]
        assert not wrong, f"{test.name}'s message gives wrong advice {wrong}. {explain}"
    assert result.score == case.score(exercise), explain
    if case.epochs is not None:
        assert len(result.training["val_loss"]) == case.epochs, explain
