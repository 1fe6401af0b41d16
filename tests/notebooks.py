"""Build student notebooks for tests: the release, with some "Your turn" cells answered.

    submission(answer_fit="history = model.fit(...)")  # every other answer as in the solution

`SOLUTION` holds the reference answers, read from the instructor's source notebook, so a
test states only the cell its student got wrong.
"""

import re

import nbformat

from course import exercise

_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)


def _answers(notebook):
    return {
        meta["grade_id"]: _MARKERS.sub("", cell.source)
        for cell in notebook.cells
        if exercise.nbgrader_meta(cell).get("solution")
        for meta in [exercise.nbgrader_meta(cell)]
    }


SOLUTION = _answers(exercise.source)


def submission(**answers) -> nbformat.NotebookNode:
    """The release notebook with each answer cell (`answer_<name>`, and the written answer
    `val_loss_question`) holding the given source (default: the solution's); None leaves a
    cell as released."""
    unknown = set(answers) - set(SOLUTION)
    if unknown:
        raise ValueError(f"No answer cells named {sorted(unknown)}; the notebook has {sorted(SOLUTION)}.")
    notebook = nbformat.read(exercise.release_notebook, as_version=4)
    for cell in notebook.cells:
        grade_id = exercise.nbgrader_meta(cell).get("grade_id")
        if grade_id in SOLUTION:
            source = answers.get(grade_id, SOLUTION[grade_id])
            if source is not None:
                cell.source = source
    return notebook


def write(notebook, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
