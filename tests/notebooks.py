"""Build student notebooks for tests: the release, with some "Your turn" cells answered.

    submission(answer_fit="history = model.fit(...)")  # every other answer as in the solution
    submission_of(assignment.get("custom_callbacks"), answer_fit=...)  # the same, for another assignment

`SOLUTION` holds the reference answers of the first assignment, read from the instructor's
source notebook (`answers_of` reads any assignment's), so a test states only the cell its
student got wrong.
"""

import functools
import re

import nbformat

from course import exercise

_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)


@functools.cache
def answers_of(assignment) -> dict:
    """{grade_id: the solution's source} of every answer cell of `assignment`'s source notebook."""
    return {
        meta["grade_id"]: _MARKERS.sub("", cell.source)
        for cell in assignment.source.cells
        if (meta := assignment.nbgrader_meta(cell)).get("solution")
    }


SOLUTION = answers_of(exercise)


def submission_of(assignment, **answers) -> nbformat.NotebookNode:
    """`assignment`'s release notebook with each answer cell (`answer_<name>`, and the written
    answers) holding the given source (default: the solution's); None leaves a cell as released."""
    solution = answers_of(assignment)
    unknown = set(answers) - set(solution)
    if unknown:
        raise ValueError(f"No answer cells named {sorted(unknown)}; the notebook has {sorted(solution)}.")
    notebook = nbformat.read(assignment.release_notebook, as_version=4)
    for cell in notebook.cells:
        grade_id = assignment.nbgrader_meta(cell).get("grade_id")
        if grade_id in solution:
            source = answers.get(grade_id, solution[grade_id])
            if source is not None:
                cell.source = source
    return notebook


def submission(**answers) -> nbformat.NotebookNode:
    """The first assignment's release notebook with the given answers (see submission_of)."""
    return submission_of(exercise, **answers)


def write(notebook, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
