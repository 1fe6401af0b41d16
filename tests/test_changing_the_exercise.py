"""An instructor changes the exercise as the README says (the solution cell, `make reference`,
`make release`), and grading follows: the settings the checks hold a run to come from the
solution notebook alone."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from course import exercise
from conftest import nbgrader
from notebooks import SOLUTION

pytestmark = pytest.mark.slow

OLD, NEW = "patience=5", "patience=3"


def autograder(course, *args):
    """`python -m autograder ...` for the course in `course` (as nbgrader names it: NBGRADER_COURSE_ROOT)."""
    env = {**os.environ, "NBGRADER_COURSE_ROOT": str(course)}
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=course, env=env,
                          capture_output=True, text=True, check=True)


def answered(release, answers, path):
    """The course's release notebook with `answers` ({grade_id: source}) in its answer cells."""
    notebook = nbformat.read(release, as_version=4)
    for cell in notebook.cells:
        grade_id = exercise.nbgrader_meta(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)


def test_a_new_patience_in_the_solution_is_what_grading_holds_runs_to(course, tmp_path):
    """With patience 3 in the solution and its visible test, then `make reference` and `make release`
    in a copy of the course: does an answer with patience 3 get full marks, and does the old answer
    (patience 5) lose exactly the two checks about patience, with messages that say 3?"""
    source = course / "assignments" / exercise.name / f"{exercise.name}.ipynb"
    notebook = nbformat.read(source, as_version=4)
    changed = 0
    for cell in notebook.cells:
        if cell.cell_type == "code" and (OLD in cell.source or "patience == 5" in cell.source):
            cell.source = cell.source.replace(OLD, NEW).replace("patience == 5", "patience == 3").replace("wait 5 epochs", "wait 3 epochs")
            changed += 1
    assert changed == 2  # the solution cell and its visible test
    nbformat.write(notebook, source)

    nbgrader(course, "generate_assignment", exercise.name, "--force")  # make release
    autograder(course, "reference")  # make reference
    settings = json.loads((course / "assignments" / exercise.name / "grading" / "reference.json").read_text())
    assert settings["solution"]["settings"]["patience"] == 3
    assert settings["solution"]["epochs_run"] == settings["solution"]["best_epoch"] + 3

    release = course / "release" / exercise.name / f"{exercise.name}.ipynb"
    new_answer = SOLUTION["answer_early_stopping"].replace(OLD, NEW)
    answered(release, {**SOLUTION, "answer_early_stopping": new_answer}, tmp_path / "class" / "new" / "callbacks.ipynb")
    answered(release, SOLUTION, tmp_path / "class" / "old" / "callbacks.ipynb")
    autograder(course, "grade", str(tmp_path / "class"), "--json", str(tmp_path / "results.json"), "--jobs", "2")
    results = {student_folder(r["submission"]): r for r in json.loads((tmp_path / "results.json").read_text())}

    new, old = results["new"], results["old"]
    assert (new["status"], new["score"]) == ("graded", new["max_score"]), new
    failed = {test["name"]: test["output"] for test in old["tests"] if test["status"] != "passed"}
    assert sorted(failed) == ["early_stopping", "stopped_early"], failed
    assert "patience=3" in failed["early_stopping"] and "patience=3" in failed["stopped_early"], failed


def student_folder(submission):
    """The student folder's name from a submission's path ("…/new/callbacks.ipynb" -> "new")."""
    return submission.replace("\\", "/").rstrip("/").split("/")[-2]
