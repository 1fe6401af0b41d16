"""The README's recipe "Adding an assignment", followed for a toy assignment in a new course: the
engine grades it without a line of its own changed."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import nbgrader
from course import exercise

pytestmark = pytest.mark.slow

SETUP = textwrap.dedent("""\
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    x = np.random.default_rng(7).random((64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    x_train, y_train, x_val, y_val = x[:48], y[:48], x[48:], y[48:]


    def build_model():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model
    """)
SOLUTION = "history = build_model().fit(x_train, y_train, validation_data=(x_val, y_val), epochs=3, verbose=0)\n"
DECLARATION = {
    "preload": ["keras"],
    "settings": {"epochs": ["history", "params", "epochs"]},
    "keep": [],
    "variables": {"history": {"export": "history", "define": "train in step 1: history = build_model().fit(...)"}},
    "steps": {"trained": 1},
}
CHECK = textwrap.dedent('''\
    """trained: history comes from a fit of {epochs} epochs."""

    from autograder import evidence
    from autograder.assignment import of
    from autograder.verify import CONTEXT

    EXERCISE = of(__file__)


    def test_history_has_the_epochs_the_solution_trains(request):
        context = request.config.stash[CONTEXT]
        history = evidence.load_snapshot(context.work, "trained", EXERCISE.variables).get("history") or {}
        epochs = len(history.get("epoch") or [])
        assert epochs == EXERCISE.settings["epochs"], f"Train {EXERCISE.settings['epochs']} epochs; history has {epochs}."
    ''')


def cell(make, source, **nbgrader_meta):
    made = make(source)
    if nbgrader_meta:
        made.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": False,
                                     "task": False, **nbgrader_meta}
    return made


def toy_notebook(answer):
    return new_notebook(cells=[
        new_markdown_cell("# A toy assignment"),
        cell(new_code_cell, SETUP, grade_id="setup", locked=True),
        new_markdown_cell("## Step 1: train"),
        cell(new_code_cell, f"### BEGIN SOLUTION\n{answer}### END SOLUTION", grade_id="answer_fit", solution=True),
        cell(new_code_cell, 'assert "history" in globals()\n### BEGIN HIDDEN TESTS\nfrom autograder import check; check("trained")\n'
                            "### END HIDDEN TESTS", grade_id="trained", grade=True, points=1, locked=True),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def test_a_toy_assignment_added_by_the_recipe_is_graded(tmp_path):
    """With only the recipe's files (notebook, data-free setup, assignment.json, one check) in a new
    course, do `make reference` and `make release` work, does the solution get full marks and a
    wrong answer lose the check, and is the course's first assignment graded beside it?"""
    course = tmp_path / "course"
    toy = course / "assignments" / "toy"
    (toy / "grading" / "checks").mkdir(parents=True)
    nbformat.write(toy_notebook(SOLUTION), toy / "toy.ipynb")
    (toy / "grading" / "assignment.json").write_text(json.dumps(DECLARATION))
    (toy / "grading" / "checks" / "test_trained.py").write_text(CHECK)
    shutil.copytree(exercise.source_dir, course / "assignments" / exercise.name)
    shutil.copy(exercise.course / "nbgrader_config.py", course)
    env = {**os.environ, "NBGRADER_COURSE_ROOT": str(course)}

    def autograder(*args):
        return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=course, env=env,
                              capture_output=True, text=True, check=True)

    nbgrader(course, "generate_assignment", "toy", "--force")
    autograder("reference", "toy")
    assert json.loads((toy / "grading" / "reference.json").read_text())["solution"]["settings"] == {"epochs": 3}

    release = nbformat.read(course / "release" / "toy" / "toy.ipynb", as_version=4)
    for name, answer in (("right", SOLUTION), ("wrong", SOLUTION.replace("epochs=3", "epochs=2"))):
        for submitted in release.cells:
            if submitted.metadata.get("nbgrader", {}).get("grade_id") == "answer_fit":
                submitted.source = answer
        (course / "submitted" / name / "toy").mkdir(parents=True)
        nbformat.write(release, course / "submitted" / name / "toy" / "toy.ipynb")
    # The first assignment's own example student, in the same batch.
    (course / "submitted" / "ada" / exercise.name).mkdir(parents=True)
    shutil.copy(exercise.course / "example" / "submitted" / "ada" / exercise.name / f"{exercise.name}.ipynb",
                course / "submitted" / "ada" / exercise.name)
    shutil.copytree(exercise.release_dir, course / "release" / exercise.name, dirs_exist_ok=True)
    autograder("grade", str(course / "submitted"), "--json", str(tmp_path / "out" / "results.json"), "--jobs", "2")

    toy_results = {r["student"]: r for r in json.loads((tmp_path / "out" / "toy" / "results.json").read_text())}
    assert (toy_results["right"]["status"], toy_results["right"]["score"], toy_results["right"]["max_score"]) == ("graded", 1, 1)
    assert toy_results["wrong"]["score"] == 0 and "Train 3 epochs; history has 2." in toy_results["wrong"]["tests"][0]["output"]
    assert toy_results["right"]["tests"][0]["output"] == "trained: history comes from a fit of 3 epochs."
    (ada,) = json.loads((tmp_path / "out" / exercise.name / "results.json").read_text())
    assert (ada["assignment"], ada["score"], ada["max_score"]) == (exercise.name, exercise.max_score, exercise.max_score)
