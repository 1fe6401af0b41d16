"""Take in one submitted notebook and turn it into the clean notebook the grader runs.

Only the `.ipynb` is taken. It is read with a size cap and without following links,
decoded (a UTF-8 byte-order mark is tolerated), parsed and validated against the
nbformat schema. What runs is rebuilt from it: the student's cell sources only (no
outputs, execution counts, tags, attachments or metadata), the locked cells put back
from the release as nbgrader does, each graded test cell replaced by a snapshot of the
student's variables for that check, a final snapshot at the end, and our own kernel.
"""

import functools
import json
import os
import re
import stat
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .assignment import Assignment, nbgrader_meta
from . import evidence
from .evidence import FINAL

MAX_NOTEBOOK_BYTES = 5 * 2**20
EXPORT_SOURCE = (Path(__file__).parent / "export.py").read_text()
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


class Refused(Exception):
    """The submission cannot be graded as it is; the message says why, for the student."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Parse and validate the submitted notebook at `path`, or raise Refused saying what is wrong."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise Refused(f"{path.name} does not exist.") from None
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{path.name} is a symbolic link; submit the notebook file itself.")
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{path.name} is not a regular file.")
    if info.st_size > MAX_NOTEBOOK_BYTES:
        raise Refused(f"{path.name} is {info.st_size / 2**20:.1f} MiB; notebooks of at most {MAX_NOTEBOOK_BYTES // 2**20} MiB are accepted (clear large outputs before submitting).")
    with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW | os.O_NONBLOCK)) as file:
        raw = file.read(MAX_NOTEBOOK_BYTES + 1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Refused(f"{path.name} is not UTF-8 text ({error.reason} at byte {error.start}); save it again from Jupyter.") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused(f"{path.name} is nested too deeply to be a notebook.") from None
    except ValueError as error:
        raise Refused(f"{path.name} is not a notebook: it is not valid JSON ({error}).") from None
    if evidence.nested_deeper_than(data):  # the same bound on every Python, not the recursion limit of its version
        raise Refused(f"{path.name} is nested too deeply to be a notebook.")
    if not isinstance(data, dict) or data.get("nbformat") != 4:
        raise Refused(f"{path.name} is not a Jupyter notebook in format 4.")
    try:
        notebook = nbformat.from_dict(data)
        nbformat.validate(notebook)
    except RecursionError:  # kept as a last resort; nested_deeper_than refuses first
        raise Refused(f"{path.name} is nested too deeply to be a notebook.") from None
    except Exception as error:
        message = getattr(error, "message", str(error))
        raise Refused(f"{path.name} is not a valid notebook: {str(message)[:300]}") from None
    return notebook


SNAPSHOT_MARK = "# autograder: what the variables hold at check {name!r}\n"  # first line of each snapshot cell
_SNAPSHOT_MARK = re.compile(r"\A# autograder: what the variables hold at check '(\w+)'")
# Second line of a snapshot cell that stands in for a test cell the submission does not have.
PUT_BACK_MARK = "# autograder: put back, the submitted notebook has no such test cell\n"


def snapshot_cell(name: str, exports: dict, put_back: bool = False):
    """A cell that exports the student's variables (`exports`: Assignment.exports) for check `name`
    (see autograder.export).

    `put_back`: the submission has no test cell `name`, so this cell is marked as the grader's
    alone (see added_by_grader).
    """
    call = f"\nsnapshot(get_ipython().user_ns, {name!r}, {exports!r})\n"
    return new_code_cell(
        SNAPSHOT_MARK.format(name=name) + (PUT_BACK_MARK if put_back else "")
        + f"exec({EXPORT_SOURCE + call!r}, {{'__name__': 'autograder_export', 'get_ipython': get_ipython}})"
    )


@functools.cache
def _added_sources(assignment: Assignment) -> frozenset:
    exports = assignment.exports
    return frozenset([snapshot_cell(FINAL, exports).source,
                      *(snapshot_cell(name, exports, put_back=True).source for name in assignment.checks)])


def added_by_grader(source, assignment: Assignment) -> bool:
    """Whether a cell of the clean notebook of a submission of `assignment` is one the student's
    notebook does not have: a test cell put back, or the final snapshot. By exact text: a
    student's look-alike cell is theirs."""
    return cell_text(source) in _added_sources(assignment)


def cell_text(source) -> str:
    """A cell's source as one string (nbformat allows a list of lines)."""
    return "".join(source) if isinstance(source, (list, tuple)) else str(source)


def snapshot_check(source) -> str | None:
    """The check whose snapshot cell (see snapshot_cell) `source` is, else None."""
    found = _SNAPSHOT_MARK.match(cell_text(source))
    return found.group(1) if found else None


def _grade_id(cell):
    """The nbgrader grade id a cell claims, if it is a string (the metadata is the student's)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def clean(submitted: nbformat.NotebookNode, assignment: Assignment) -> nbformat.NotebookNode:
    """The notebook to run for a submission of `assignment`: its cell sources, with locked cells and checks ours."""
    return cleaned(submitted, assignment)[0]


def cleaned(submitted: nbformat.NotebookNode, assignment: Assignment) -> tuple[nbformat.NotebookNode, list]:
    """clean()'s notebook, and for each of its cells the grade id it stands for: the one the submitted
    cell claimed (a string, unchecked: the metadata is the student's), a snapshot's check, or None
    (no claim, the final snapshot). nbgrader's autograded notebook is rebuilt from these
    (autograder.autograded)."""
    release = nbformat.read(assignment.release_notebook, as_version=4)
    locked = {
        meta["grade_id"]: cell.source
        for cell in release.cells
        if (meta := nbgrader_meta(cell)).get("locked") and meta.get("grade_id")
    }
    checks, exports = assignment.checks, assignment.exports
    # A test cell the student deleted is put back where the release has it: after the
    # answer cell before it, so its check sees the variables nbgrader's cell would have.
    anchor, answer = {}, None
    for cell in release.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            answer = meta["grade_id"]
        elif meta.get("grade_id") in checks:
            anchor[meta["grade_id"]] = answer
    present = {_grade_id(cell) for cell in submitted.cells if cell.cell_type == "code"}
    missing = [name for name in checks if name not in present]
    cells, ids = [], []
    for cell in submitted.cells:
        grade_id = _grade_id(cell)
        if cell.cell_type == "code" and grade_id in checks:
            cells.append(snapshot_cell(grade_id, exports))
            ids.append(grade_id)
        elif cell.cell_type == "code":
            cells.append(new_code_cell(locked.get(grade_id, cell.source)))
            ids.append(grade_id)
            put_back = [name for name in missing if grade_id is not None and anchor[name] == grade_id]
            cells.extend(snapshot_cell(name, exports, put_back=True) for name in put_back)
            ids.extend(put_back)
        elif cell.cell_type == "markdown":
            cells.append(new_markdown_cell(cell.source))
            ids.append(grade_id)
    # Whatever the student deleted or moved, the checks get the state after the last cell.
    cells.append(snapshot_cell(FINAL, exports))
    ids.append(None)
    return new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}), ids
