"""Feedback names a cell the way a student finds it in JupyterLab, which shows no cell numbers:
by the heading above it and its place among the code cells there."""

import json

import pytest
from nbformat.v4 import new_code_cell

from autograder import intake
from course import exercise
from autograder.cell_names import headings, ordinal
from autograder.run import EXECUTED
from autograder.source import cells_of
from autograder.verify import Context
from notebooks import submission

STEP_4 = "### Your turn, step 4: build and train"


def test_cells_are_named_by_the_heading_above_them(tmp_path):
    """Is each code cell named by its heading, with its rank when several share one, and from the top above any heading?"""
    context = Context(exercise, tmp_path, sources=(
        ("code", "import numpy"),                                  # 1
        ("code", "x = 1"),                                         # 2
        ("markdown", "# Lesson\nSome text.\n## Your turn, step 1"),  # 3: the last heading of a cell counts
        ("code", "early_stopping = ..."),                          # 4
        ("markdown", "Just a note, no heading."),                  # 5
        ("markdown", STEP_4),                                      # 6
        ("code", "model = build_model()"),                         # 7
        ("markdown", "A note between them."),                      # 8
        ("code", "history = model.fit(...)"),                      # 9
    ))
    assert [context.place(number) for number in (1, 2, 4, 7, 9)] == [
        "the 1st code cell from the top",
        "the 2nd code cell from the top",
        "the code cell under “Your turn, step 1”",
        "the 1st code cell under “Your turn, step 4: build and train”",
        "the 2nd code cell under “Your turn, step 4: build and train”",
    ]


def test_a_repeated_heading_is_told_apart(tmp_path):
    """When the student copied a heading, does the name say which of the two it is under?"""
    context = Context(exercise, tmp_path, sources=(("markdown", "## Notes"), ("code", "a = 1"), ("markdown", "## Notes"), ("code", "b = 2")))
    assert [context.place(2), context.place(4)] == ["the code cell under the 1st heading “Notes”",
                                                    "the code cell under the 2nd heading “Notes”"]


def test_the_cells_the_grader_put_back_are_not_counted(tmp_path):
    """With step 4's test cells deleted and a scratch cell added, do the names count the student's cells only?

    The clean notebook holds the three test cells the grader put back right after the answer;
    the student's notebook does not, so their scratch cell is the 2nd code cell under step 4.
    """
    notebook = submission()
    removed = ("stopped_early", "best_weights_file", "tensorboard_logs")
    notebook.cells = [cell for cell in notebook.cells if exercise.nbgrader_meta(cell).get("grade_id") not in removed]
    at = [exercise.nbgrader_meta(cell).get("grade_id") for cell in notebook.cells].index("answer_fit")
    notebook.cells.insert(at + 1, new_code_cell("print(history.history.keys())"))
    sources = cells_of(intake.clean(notebook, exercise))
    context = Context(exercise, tmp_path, sources=sources)
    code = [(number, source) for number, (kind, source) in enumerate(sources, start=1) if kind == "code"]
    scratch = next(number for number, source in code if source.startswith("print(history"))
    fit = next(number for number, source in code if "history = model.fit(" in source)
    assert context.place(fit) == "the 1st code cell under “Your turn, step 4: build and train”"
    assert context.place(scratch) == "the 2nd code cell under “Your turn, step 4: build and train”"
    # The grader's own cells are named after a cell the student has.
    assert context.place(fit + 1) == f"the grader's own cell after {context.place(fit)}"
    assert context.place(len(sources)).startswith("the grader's own cell after the 2nd code cell under “Your turn, step 5")


def test_an_error_names_its_cell_by_heading(tmp_path):
    """Does an error in the student's step-4 cell name that cell as the student finds it, with no cell number?"""
    sources = (("markdown", STEP_4), ("code", "history = model.fit(x)"), ("code", intake.snapshot_cell("stopped_early", exercise.exports).source))
    executed = {"cells": [{}, {"outputs": [{"output_type": "error", "ename": "NameError", "evalue": "name 'x' is not defined"}]}, {}]}
    (tmp_path / EXECUTED).write_text(json.dumps(executed))
    said = "The code in the 1st code cell under “Your turn, step 4: build and train” raised NameError: name 'x' is not defined."
    context = Context(exercise, tmp_path, sources=sources)
    assert context.step_errors("stopped_early") == [said]
    assert context.step_errors(None) == [said]
    # Without the cells (nbgrader's path) no cell can be named, so none is.
    assert Context(exercise, tmp_path).step_errors(None) == []


@pytest.mark.parametrize("markdown, found", [
    ("## Step 4 ##", ["Step 4"]),                  # closing hashes are not shown
    ("   # Indented three", ["Indented three"]),
    ("    # Indented four: code", []),
    ("#hashtag\n#", []),                           # no space: a paragraph; an empty heading names nothing
    ("```python\n# a comment\n```\n# After", ["After"]),
    ("~~~~\n# in\n~~~\n# still in\n~~~~\n# out", ["out"]),
    ("####### seven", []),
    ("# " + "x" * 100, ["x" * 79 + "…"]),
])
def test_only_what_jupyter_shows_as_a_heading_is_one(markdown, found):
    """Is a `#` line taken for a heading only where Jupyter's Markdown renders one?"""
    assert headings(markdown) == found


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th", "112th"]
