"""The case catalogues (tests/cases/<assignment>.py) themselves: one per assignment, about its own checks and cells.

Nothing is graded here; tests/test_mistakes.py grades the cases.
"""

import pytest

from autograder import assignment
from cases import SOLUTION, catalogue

ASSIGNMENTS = list(assignment.find())


@pytest.fixture(params=ASSIGNMENTS)
def exercise(request):
    return assignment.get(request.param)


def test_every_assignment_of_the_course_has_a_catalogue(exercise):
    cases = catalogue(exercise)
    assert cases.EXERCISE is exercise


def test_case_names_are_unique_within_an_assignment(exercise):
    cases = catalogue(exercise)
    names = [case.name for case in [SOLUTION, cases.UNTOUCHED, *cases.MISTAKES, *cases.STYLES]]
    assert sorted(names) == sorted(set(names)), [name for name in set(names) if names.count(name) > 1]


def test_cases_name_only_the_assignment_s_checks_and_answer_cells(exercise):
    """Every expected failure is one of the assignment's checks; every case builds (unknown answer cells raise)."""
    cases = catalogue(exercise)
    for case in [cases.UNTOUCHED, *cases.MISTAKES, *cases.STYLES]:
        assert set(case.fails) <= set(exercise.checks), (case.name, sorted(set(case.fails) - set(exercise.checks)))
        assert case.notebook(exercise).cells, case.name


def test_every_check_fails_on_some_named_mistake_and_honest_styles_fail_none(exercise):
    """Each hidden check is shown to fail, with a message, on at least one student mistake."""
    cases = catalogue(exercise)
    failed = {check for case in cases.MISTAKES for check in case.fails}
    assert failed == set(exercise.checks), f"no mistake fails {sorted(set(exercise.checks) - failed)}"
    assert len(cases.MISTAKES) >= 12 and len(cases.STYLES) >= 10
    assert all(not style.fails for style in cases.STYLES)


def test_example_class_has_one_solution_one_untouched_release_and_named_mistakes(exercise):
    cases = catalogue(exercise)
    chosen = list(cases.CLASS.values())
    assert chosen.count(SOLUTION) == 1 and chosen.count(cases.UNTOUCHED) == 1
    mistakes = [case for case in chosen if case not in (SOLUTION, cases.UNTOUCHED)]
    assert mistakes and all(case in cases.MISTAKES and case.fails for case in mistakes)
    assert len({case.name for case in mistakes}) == len(mistakes), "each student shows another mistake"


def test_nbgrader_differs_only_on_students_and_checks_of_the_example_class(exercise):
    """Each difference it declares is about a student of the class and one of the checks, with another score than ours."""
    cases = catalogue(exercise)
    for student, checks in cases.NBGRADER_DIFFERS.items():
        ours = cases.CLASS[student].scores(exercise)
        assert checks and all(check in ours and checks[check] != ours[check] for check in checks), (student, checks)


def test_determinism_case_is_a_mistake_that_trains_another_number_of_epochs(exercise):
    cases = catalogue(exercise)
    case = cases.DETERMINISM
    assert case in cases.MISTAKES and case.fails
    assert case.epochs not in (None, 0, exercise.reference["solution"]["epochs_run"])
