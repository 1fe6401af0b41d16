"""nbgrader's autograded notebook, rebuilt from our run (autograder/autograded.py), as formgrader reads it."""

import json

import nbformat
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook

from course import exercise
from autograder import autograded, intake
from autograder.gradebook import record
from autograder.run import EXECUTED
from notebooks import submission
from test_feedback import result
from test_gradebook import generated

SCRIPT = "<script>alert('x')</script>"


def run_of(notebook, work, outputs):
    """What `ran` keeps of a run of `notebook` whose executed copy holds `outputs` ({cell index: outputs})."""
    nbformat.write(notebook, work.parent / "submitted.ipynb")  # read back as the grader reads it: sources as lists
    clean, ids = intake.cleaned(intake.read_notebook(work.parent / "submitted.ipynb"), exercise)
    executed = nbformat.from_dict(json.loads(json.dumps(clean)))
    for index, cell_outputs in outputs.items():
        executed.cells[index].outputs = cell_outputs
    work.mkdir()
    (work / EXECUTED).write_text(json.dumps(executed))
    return clean, autograded.ran(clean, ids, work)


def graded_by_id(notebook):
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells if "nbgrader" in cell.metadata}


def test_metadata_and_locked_cells_come_from_the_gradebook_not_the_submission(course, tmp_path):
    """A submission that claims 100 points for its written answer, a grade id on a cell of its own and
    edits a locked test: does the autograded notebook hold the gradebook's points, ids and sources?"""
    db = generated(course)
    notebook = submission(val_loss_question="My answer.")
    cells = {exercise.nbgrader_meta(cell).get("grade_id"): cell for cell in notebook.cells}
    cells["val_loss_question"].metadata["nbgrader"]["points"] = 100
    cells["early_stopping"].source = "pass  # the student emptied the test"
    notebook.cells.insert(0, new_markdown_cell("mine", metadata={"nbgrader": {"grade_id": "setup", "grade": True, "points": 50}}))
    _, cells_run = run_of(notebook, tmp_path / "work", {})
    graded = result("alice", student="alice")
    graded.cells = cells_run
    record([graded], db, exercise, course)
    made = nbformat.read(autograded.path(exercise, "alice", course), as_version=4)
    by_id = graded_by_id(made)
    assert by_id["val_loss_question"].metadata["nbgrader"]["points"] == 2.0
    assert by_id["val_loss_question"].source == "My answer."
    assert "nbgrader" not in made.cells[0].metadata, "a markdown cell cannot take the setup code cell's id"
    assert 'check("early_stopping")' in by_id["early_stopping"].source, "the locked test's source, hidden tests included"
    assert sum(1 for cell in made.cells if cell.metadata.get("nbgrader", {}).get("grade")) == len(exercise.checks) + 1


def test_only_plain_outputs_of_the_run_reach_formgrader(course, tmp_path):
    """The run printed text, returned HTML and script, and rewrote a cell's source in executed.ipynb:
    is only the text kept, and nothing shown for the rewritten cell?"""
    notebook = submission()
    clean, _ = intake.cleaned(notebook, exercise)
    first, second = [index for index, cell in enumerate(clean.cells) if cell.cell_type == "code"][1:3]
    hostile = [new_output("stream", name="stdout", text="trained\n"),
               new_output("display_data", data={"text/html": SCRIPT, "application/javascript": "alert(1)", "text/plain": "<Model>"}),
               new_output("execute_result", data={"image/svg+xml": f"<svg>{SCRIPT}</svg>"}, execution_count=3)]
    _, kept = run_of(notebook, tmp_path / "work", {first: hostile, second: hostile})
    tampered = json.loads((tmp_path / "work" / EXECUTED).read_text())
    tampered["cells"][second]["source"] = "print('forged')"
    (tmp_path / "work" / EXECUTED).write_text(json.dumps(tampered))
    kept = autograded.ran(clean, intake.cleaned(notebook, exercise)[1], tmp_path / "work")
    assert [o.get("text") or o.get("data") for o in kept[first]["outputs"]] == ["trained\n", {"text/plain": "<Model>"}]
    assert kept[second]["outputs"] == [] and kept[second]["source"] == clean.cells[second].source


def test_nbgrader_reads_our_scores_from_the_notebook_and_a_deleted_answer_is_put_back(course, tmp_path):
    """Does nbgrader's own determine_grade give each test cell the score our grader gave, and does a
    written answer the student deleted come back as unanswered (0, "No response.")?"""
    db = generated(course)
    notebook = submission()
    notebook.cells = [cell for cell in notebook.cells if exercise.nbgrader_meta(cell).get("grade_id") != "val_loss_question"]
    _, cells_run = run_of(notebook, tmp_path / "work", {})
    graded = result("bob", student="bob", failed=("stopped_early",))
    graded.cells = cells_run
    record([graded], db, exercise, course)
    by_id = graded_by_id(nbformat.read(autograded.path(exercise, "bob", course), as_version=4))
    assert {name: utils.determine_grade(by_id[name])[0] for name in exercise.checks} == {t.name: t.score for t in graded.tests}
    with Gradebook(db, exercise.course_id) as gradebook:
        written = gradebook.find_grade("val_loss_question", "callbacks", exercise.name, "bob")
        comment = gradebook.find_comment("val_loss_question", "callbacks", exercise.name, "bob")
        assert (written.auto_score, written.needs_manual_grade, comment.auto_comment) == (0, False, "No response.")
