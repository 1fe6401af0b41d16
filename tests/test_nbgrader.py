"""The exercise inside a real nbgrader course: validate, autograde, export, and our grader agreeing with it."""

import csv

import pytest
from nbgrader.api import Gradebook

from course import exercise
from autograder.grade import find_submissions, grade
from autograder.gradebook import record
from conftest import nbgrader
from notebooks import SOLUTION, submission, write

pytestmark = pytest.mark.slow

UNANSWERED = {name: None for name in SOLUTION}
CLASS = {
    "alice": submission(),  # the solution
    "bob": submission(**UNANSWERED),  # the untouched release
    "carol": submission(answer_early_stopping='early_stopping = EarlyStopping(monitor="loss", patience=5)\n'),
    "dan": submission(answer_reload='model.load_weights("checkpoints/best_model.weights.h5")\nbest_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n'),
}


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course where nbgrader generated the assignment and autograded the class."""
    course = tmp_path_factory.mktemp("course")
    import shutil

    shutil.copytree(exercise.source_dir, course / "assignments" / exercise.name)
    shutil.copy(exercise.course / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", exercise.name)
    for student, notebook in CLASS.items():
        write(notebook, course / "submitted" / student / exercise.name / "callbacks.ipynb")
        nbgrader(course, "db", "student", "add", student)
    nbgrader(course, "autograde", exercise.name)
    return course


def nbgrader_scores(course, db_name="gradebook.db"):
    """{student: {check: auto_score}} from nbgrader's gradebook."""
    with Gradebook(f"sqlite:///{course / db_name}", exercise.course_id) as gradebook:
        return {
            student: {name: gradebook.find_grade(name, "callbacks", exercise.name, student).auto_score for name in exercise.checks}
            for student in CLASS
        }


def test_validate_passes_a_finished_notebook_and_fails_an_untouched_one(tmp_path):
    """Does nbgrader's Validate accept the solution and reject the release as it is?"""
    finished = write(CLASS["alice"], tmp_path / "finished" / "callbacks.ipynb")
    untouched = write(CLASS["bob"], tmp_path / "untouched" / "callbacks.ipynb")
    for notebook in (finished, untouched):
        (notebook.parent / "data").symlink_to(exercise.source_dir / "data")
    assert "Success! Your notebook passes all the tests." in nbgrader(tmp_path, "validate", str(finished)).stdout
    assert "Success!" in nbgrader(tmp_path, "validate", "--invert", str(untouched)).stdout


def test_nbgrader_autograde_gives_the_solution_full_marks(graded_course):
    """Does real `nbgrader autograde` + `nbgrader export` give the solution all 10 automatic points?"""
    nbgrader(graded_course, "export")
    rows = {row["student_id"]: row for row in csv.DictReader(open(graded_course / "grades.csv"))}
    assert float(rows["alice"]["raw_score"]) == 10.0
    assert float(rows["bob"]["raw_score"]) == 0.0
    assert float(rows["alice"]["max_score"]) == 12.0  # with the hand-graded question


def test_our_grader_gives_the_scores_nbgrader_gives(graded_course):
    """Check by check, does `python -m autograder grade` agree with `nbgrader autograde`?"""
    results = grade(find_submissions([graded_course / "submitted"]), exercise, jobs=2)
    ours = {result.submission: {test.name: test.score for test in result.tests} for result in results}
    assert ours == nbgrader_scores(graded_course)
    assert ours["alice"] == exercise.checks
    assert ours["carol"]["early_stopping"] == 0 and ours["dan"]["reload_val_loss"] == 0


def test_gradebook_option_stores_our_scores_for_nbgrader(graded_course):
    """After --gradebook, does nbgrader's own gradebook (and export) hold the scores our grader gave?"""
    import shutil

    shutil.copy(graded_course / "gradebook.db", graded_course / "ours.db")
    with Gradebook(f"sqlite:///{graded_course / 'ours.db'}", exercise.course_id) as gradebook:
        for student in CLASS:  # forget nbgrader's scores first
            for name in exercise.checks:
                gradebook.find_grade(name, "callbacks", exercise.name, student).auto_score = None
        gradebook.db.commit()
    results = grade(find_submissions([graded_course / "submitted"]), exercise, jobs=2)
    record(results, f"sqlite:///{graded_course / 'ours.db'}", exercise, graded_course / "ours")
    assert nbgrader_scores(graded_course, "ours.db") == {r.submission: {t.name: t.score for t in r.tests} for r in results}
