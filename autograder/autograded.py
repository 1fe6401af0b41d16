"""nbgrader's autograded notebook of a submission, made from the sandboxed run: formgrader shows it.

Formgrader renders `autograded/<student>/<assignment>/<notebook>.ipynb` for each submission
(manual grading of the written question happens there), and only `nbgrader autograde` writes
it. With `--gradebook` the grader writes it instead, as nbgrader's autograde converter would
have it (`OverwriteCells`, then execution, then `SaveAutoGrades`), from three things:
- the structure and nbgrader metadata: the gradebook's source cells (trusted; what
  `generate_assignment` recorded, hidden tests included): locked cells get their source back,
  every graded or solution cell its metadata, and a graded or solution cell the submission
  lacks is put back where the source has it;
- the answer cells' sources: the clean notebook the grader ran (`intake.cleaned`), so the
  submission's own metadata (a claimed grade id is only a key to look a source cell up, used
  once) never reaches the notebook or the gradebook;
- outputs: the run's `executed.ipynb`, read as untrusted data (size-capped, only text,
  tracebacks and PNG/JPEG images kept, so no script reaches formgrader's page), matched to
  the clean notebook cell by cell; each test cell shows this grader's verdict instead, in
  nbgrader's terms (an error scores 0, a number is partial credit).

Nothing of the student's is executed here: the notebook is only read and rebuilt.
"""

import base64
import binascii
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from . import evidence
from .assignment import Assignment
from .intake import KERNELSPEC, cell_text

OUTPUT_CHARS = 1_000_000  # of the run's outputs kept per notebook, as formgrader's page must load
TRACEBACK_LINES = 100  # as nbgrader's LimitOutput
TRUNCATED = "\n... output truncated by the grader ...\n"
IMAGES = ("image/png", "image/jpeg")  # rendered as <img src="data:...">: no markup of the student's reaches the page


def ran(clean: nbformat.NotebookNode, grade_ids: list, work: Path) -> list:
    """The clean notebook's cells as the run left them: [{grade_id, cell_type, source, outputs}].

    Sources and grade ids are the grader's (from `intake.cleaned`); outputs are read from the
    run's executed notebook in `work`, and only for a cell whose source it still holds at the
    same place (the run could rewrite that file). The final snapshot, the grader's own, is left out.
    """
    from .run import EXECUTED

    try:
        executed = evidence.read_json(work, EXECUTED, limit=16 * 2**20)
        run_cells = executed.get("cells") if isinstance(executed, dict) else None
    except evidence.BadEvidence:
        run_cells = None
    run_cells = run_cells if isinstance(run_cells, list) else []
    budget = [OUTPUT_CHARS]
    cells = []
    for index, (cell, grade_id) in enumerate(zip(clean.cells[:-1], grade_ids[:-1])):
        source, outputs = cell_text(cell.source), []
        if cell.cell_type == "code" and index < len(run_cells) and isinstance(run_cells[index], dict) \
                and _text(run_cells[index].get("source")) == source:
            outputs = _outputs(run_cells[index].get("outputs"), budget)
        cells.append({"grade_id": grade_id, "cell_type": cell.cell_type, "source": source, "outputs": outputs})
    return cells


def _text(value) -> str | None:
    """A notebook string (a str or a list of str), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None


def _outputs(outputs, budget: list) -> list:
    """The outputs of one executed cell worth showing, as plain data; `budget[0]`: characters still allowed."""
    kept = []
    for output in outputs if isinstance(outputs, list) else []:
        if budget[0] <= 0:
            kept.append(new_output("stream", name="stdout", text=TRUNCATED))
            break
        kind = output.get("output_type") if isinstance(output, dict) else None
        if kind == "stream" and output.get("name") in ("stdout", "stderr") and (text := _text(output.get("text"))) is not None:
            kept.append(new_output("stream", name=output["name"], text=_spend(text, budget)))
        elif kind == "error":
            lines = output.get("traceback")
            lines = [line for line in lines if isinstance(line, str)] if isinstance(lines, list) else []
            if len(lines) > TRACEBACK_LINES:
                lines = [*lines[:TRACEBACK_LINES // 2], "... traceback truncated ...", *lines[-(TRACEBACK_LINES // 2 - 1):]]
            kept.append(new_output("error", ename=_spend(str(output.get("ename"))[:200], budget),
                                   evalue=_spend(str(output.get("evalue"))[:2000], budget),
                                   traceback=[_spend(line[:5000], budget) for line in lines]))
        elif kind in ("execute_result", "display_data") and isinstance(data := output.get("data"), dict):
            shown = {}
            if (text := _text(data.get("text/plain"))) is not None:
                shown["text/plain"] = _spend(text, budget)
            for mime in IMAGES:
                image = _text(data.get(mime))
                if image is not None and len(image) <= budget[0] and _base64(image):
                    budget[0] -= len(image)
                    shown[mime] = image
            if shown:
                extra = {"execution_count": None} if kind == "execute_result" else {}
                kept.append(new_output(kind, data=shown, **extra))
    return kept


def _spend(text: str, budget: list) -> str:
    kept = text[:max(budget[0], 0)]
    budget[0] -= len(text)
    return kept if len(kept) == len(text) else kept + TRUNCATED


def _base64(text: str) -> bool:
    try:
        base64.b64decode("".join(text.split()), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _verdict(test) -> list:
    """A test cell's outputs saying what this grader decided, read by nbgrader as that score
    (utils.determine_grade: an error is 0, a number is partial credit, else full marks)."""
    text = (test.output or "").rstrip("\n") + "\n"
    if test.score >= test.max_score:
        return [new_output("stream", name="stdout", text=text)]
    if test.score > 0:
        return [new_output("stream", name="stdout", text=text),
                new_output("execute_result", data={"text/plain": repr(float(test.score))}, execution_count=None)]
    return [new_output("error", ename="CheckFailed", evalue=f"{test.name}: 0 of {test.max_score:g} points",
                       traceback=text.splitlines())]


def _metadata(source_cell, source) -> dict:
    """nbgrader's metadata of a cell of the gradebook's source notebook `source`, as OverwriteCells leaves it."""
    name = source_cell.name
    points = {cell.name: cell.max_score for cell in source.grade_cells}
    meta = {"grade": name in points, "grade_id": name, "locked": bool(source_cell.locked), "schema_version": 3,
            "solution": name in {cell.name for cell in source.solution_cells},
            "task": name in {cell.name for cell in source.task_cells}, "checksum": source_cell.checksum}
    if name in points:
        meta["points"] = float(points[name])
    return {"nbgrader": meta}


def build(cells: list | None, tests: list, source, note: str | None = None) -> nbformat.NotebookNode:
    """The autograded notebook of one submission.

    `cells`: what `ran` kept (None: nothing ran, say a refused notebook; the source's cells
    are shown as released); `tests`: the grader's CheckResults; `source`: the gradebook's
    notebook (nbgrader.api Notebook); `note`: shown first, as markdown, when given (escaped).
    """
    source_cells = list(source.source_cells)
    by_name = {cell.name: cell for cell in source_cells}
    graded = {cell.name for cell in source.grade_cells} | {cell.name for cell in source.solution_cells}
    verdicts = {test.name: test for test in tests}
    if cells is None:
        cells = [{"grade_id": cell.name, "cell_type": cell.cell_type, "source": cell.source, "outputs": []}
                 for cell in source_cells]
    placed, out = {}, []  # grade id: index in out (each id once, as nbgrader's DeduplicateIds)
    for cell in cells:
        grade_id = cell["grade_id"]
        origin = by_name.get(grade_id) if isinstance(grade_id, str) else None
        is_check = cell["cell_type"] == "code" and grade_id in verdicts
        if origin is not None and (grade_id in placed or origin.cell_type != cell["cell_type"]):
            origin = None
        if is_check and origin is None:
            continue  # a second snapshot of the same check: the grader's, not the student's
        if origin is not None:
            placed[grade_id] = len(out)
        out.append(_cell(cell, origin, source, verdicts.get(grade_id) if is_check else None))
    # A graded or solution cell the submission lacks is put back after the source cell before it,
    # so formgrader shows it and it can be graded (its source as released: no response).
    for index, origin in enumerate(source_cells):
        if origin.name in graded and origin.name not in placed:
            before = [placed[cell.name] for cell in source_cells[:index] if cell.name in placed]
            at = max(before) + 1 if before else 0
            placed = {name: i + (i >= at) for name, i in placed.items()}
            placed[origin.name] = at
            cell = {"grade_id": origin.name, "cell_type": origin.cell_type, "source": origin.source, "outputs": []}
            out.insert(at, _cell(cell, origin, source, verdicts.get(origin.name)))
    if note:
        out.insert(0, new_markdown_cell(_escape(note)))
    notebook = new_notebook(cells=out, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return notebook


def _cell(cell: dict, origin, source, verdict):
    """One cell of the autograded notebook: `origin` the gradebook's source cell it stands for, or None."""
    trusted = origin is not None and origin.locked
    text = origin.source if trusted else cell["source"]
    if cell["cell_type"] == "markdown":
        # The student's markdown (the written answer) is shown in formgrader, where the instructor
        # is logged in, and nbgrader's formgrade template renders it unsanitized (nbconvert's
        # sanitize_html does not reach that template): a <script> or an onerror handler would run
        # there and could change grades through formgrader's API. No tag of the student's may
        # form: `<` becomes an entity, which still shows as "<".
        made = new_markdown_cell(text if trusted else text.replace("<", "&lt;"))
    else:
        made = new_code_cell(text, outputs=_verdict(verdict) if verdict is not None else cell["outputs"])
    if origin is not None:
        made.metadata = _metadata(origin, source)
    return made


def _escape(text: str) -> str:
    """`text` (the grader's message, which may quote a file name) as markdown that shows no markup."""
    import html

    return html.escape(text).replace("\n", "  \n")


def record_answers(gradebook, notebook: nbformat.NotebookNode, notebook_id: str, assignment_id: str, student: str,
                   checks) -> None:
    """What nbgrader's SaveAutoGrades stores for the cells this grader does not score: an unchanged
    answer gets 0 and the comment "No response."; a written answer waits for a person."""
    from nbgrader import utils

    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id or grade_id in checks:
            continue
        if meta.get("grade"):
            grade = gradebook.find_grade(grade_id, notebook_id, assignment_id, student)
            grade.auto_score, _ = utils.determine_grade(cell)
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        if meta.get("solution") or meta.get("task"):
            comment = gradebook.find_comment(grade_id, notebook_id, assignment_id, student)
            unchanged = meta.get("checksum") == utils.compute_checksum(cell) and not meta.get("task")
            comment.auto_comment = "No response." if unchanged else None


def path(assignment: Assignment, student: str, course: Path | None = None) -> Path:
    """Where nbgrader keeps the autograded notebook of `student` in `course` (default: the assignment's),
    as its nbgrader_config.py sets the autograded folder."""
    from .assignment import course_config

    course = Path(course or assignment.course)
    folder = course_config(assignment.course).CourseDirectory.get("autograded_directory", "autograded")
    return course / folder / student / assignment.name / f"{assignment.source_notebook.stem}.ipynb"


def write(target: Path, notebook: nbformat.NotebookNode) -> None:
    """Write `notebook` at `target`, atomically (formgrader may be reading the old one)."""
    from .grade import write_atomically

    write_atomically(target, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
