"""Every assignment inside a real nbgrader course: validate, autograde, export, and our grader agreeing with it.

The class autograded is the assignment's example class (`CLASS` in tests/cases/<assignment>.py:
the solution, the untouched release and a few named mistakes), one course per assignment,
made the first time a test asks for it: `-k custom_callbacks` makes that assignment's alone.
"""

import csv
import functools
import shutil

import pytest
from nbgrader.api import Gradebook

from autograder import assignment
from autograder.grade import find_submissions, grade
from autograder.gradebook import record
from cases import SOLUTION, catalogue
from conftest import nbgrader
from notebooks import write

pytestmark = pytest.mark.slow

ASSIGNMENTS = list(assignment.find())


def student_of(exercise, case):
    """The example class's student who submitted `case`."""
    (student,) = [student for student, submitted in catalogue(exercise).CLASS.items() if submitted == case]
    return student


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """graded_course(name) -> a course where nbgrader generated the assignment and autograded its example class."""
    @functools.cache
    def course(name):
        exercise = assignment.get(name)
        folder = tmp_path_factory.mktemp(f"course-{name}")
        shutil.copytree(exercise.source_dir, folder / "assignments" / name)
        shutil.copy(exercise.course / "nbgrader_config.py", folder)
        nbgrader(folder, "generate_assignment", name)
        for student, case in catalogue(exercise).CLASS.items():
            write(case.notebook(exercise), folder / "submitted" / student / name / f"{name}.ipynb")
            nbgrader(folder, "db", "student", "add", student)
        nbgrader(folder, "autograde", name)
        return folder
    return course


@pytest.fixture(scope="module")
def ours(graded_course):
    """ours(name) -> our grader's results for the same class, graded once."""
    @functools.cache
    def results(name):
        return grade(find_submissions([graded_course(name) / "submitted"]), assignment.get(name), jobs=2)
    return results


def nbgrader_scores(course, exercise, db_name="gradebook.db"):
    """{student: {check: auto_score}} from nbgrader's gradebook."""
    with Gradebook(f"sqlite:///{course / db_name}", exercise.course_id) as gradebook:
        return {
            student: {check: gradebook.find_grade(check, exercise.name, exercise.name, student).auto_score for check in exercise.checks}
            for student in catalogue(exercise).CLASS
        }


def scores_of(results):
    return {result.submission: {test.name: test.score for test in result.tests} for result in results}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_validate_passes_a_finished_notebook_and_fails_an_untouched_one(name, tmp_path):
    """Does nbgrader's Validate accept the solution and reject the release as it is?"""
    exercise = assignment.get(name)
    finished = write(SOLUTION.notebook(exercise), tmp_path / "finished" / f"{name}.ipynb")
    untouched = write(catalogue(exercise).UNTOUCHED.notebook(exercise), tmp_path / "untouched" / f"{name}.ipynb")
    for notebook in (finished, untouched):
        (notebook.parent / "data").symlink_to(exercise.source_dir / "data")
    assert "Success! Your notebook passes all the tests." in nbgrader(tmp_path, "validate", str(finished)).stdout
    assert "Success!" in nbgrader(tmp_path, "validate", "--invert", str(untouched)).stdout


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_nbgrader_autograde_gives_the_solution_full_marks(name, graded_course):
    """Does real `nbgrader autograde` + `nbgrader export` give the solution every automatic point, the release none?"""
    exercise, course = assignment.get(name), graded_course(name)
    nbgrader(course, "export")
    rows = {row["student_id"]: row for row in csv.DictReader(open(course / "grades.csv"))}
    solution, untouched = rows[student_of(exercise, SOLUTION)], rows[student_of(exercise, catalogue(exercise).UNTOUCHED)]
    assert float(solution["raw_score"]) == exercise.max_score
    assert float(untouched["raw_score"]) == 0.0
    assert float(solution["max_score"]) == exercise.max_score + sum(exercise.hand_graded.values())  # with the written answers


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_our_grader_gives_the_scores_nbgrader_gives(name, graded_course, ours):
    """Check by check, does `python -m autograder grade` give the catalogue's scores, and `nbgrader autograde` the
    same ones, except where the catalogue says nbgrader differs (NBGRADER_DIFFERS: a visible assert it counts)?"""
    exercise, cases = assignment.get(name), catalogue(assignment.get(name))
    mine = scores_of(ours(name))
    assert mine == {student: case.scores(exercise) for student, case in cases.CLASS.items()}
    differs = cases.NBGRADER_DIFFERS
    assert nbgrader_scores(graded_course(name), exercise) == {student: {**scores, **differs.get(student, {})}
                                                             for student, scores in mine.items()}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_gradebook_option_stores_our_scores_for_nbgrader(name, graded_course, ours):
    """After --gradebook, does nbgrader's own gradebook (and export) hold the scores our grader gave?"""
    exercise, course = assignment.get(name), graded_course(name)
    shutil.copy(course / "gradebook.db", course / "ours.db")
    with Gradebook(f"sqlite:///{course / 'ours.db'}", exercise.course_id) as gradebook:
        for student in catalogue(exercise).CLASS:  # forget nbgrader's scores first
            for check in exercise.checks:
                gradebook.find_grade(check, exercise.name, exercise.name, student).auto_score = None
        gradebook.db.commit()
    record(ours(name), f"sqlite:///{course / 'ours.db'}", exercise, course / "ours")
    assert nbgrader_scores(course, exercise, "ours.db") == scores_of(ours(name))
