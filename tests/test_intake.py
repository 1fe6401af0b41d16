"""autograder.intake: hostile and broken files are refused with a reason, and what runs is rebuilt
from cell sources alone, with the locked cells and the grader's own test cells."""

import json
import time

import nbformat
import pytest

from autograder import intake
from course import exercise
from hostile.cases import CASES, CHECKS, _grade_id, foreign_kernel_and_junk_outputs, swap_data_in_setup_cell
from notebooks import submission

def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


REFUSED_FILES = [case for case in CASES if case.status == "refused"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REFUSED_FILES])
def test_read_notebook_refuses(case, tmp_path):
    path = case.build(tmp_path / "callbacks.ipynb")
    started = time.monotonic()
    with pytest.raises(intake.Refused, match=case.messages["message"]):
        intake.read_notebook(path)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("depth, refused", [(90, False), (120, True), (900, True)])
def test_nesting_is_refused_past_one_bound_on_every_python(depth, refused, tmp_path):
    """Is a notebook refused by its depth, not by the recursion limits of the Python grading it? (nbformat
    took 900 nested objects in the metadata on Python 3.12 and 3.13 and refused them on 3.11.)"""
    data = json.loads(nbformat.writes(submission()))
    data["metadata"]["x"] = json.loads('{"a": ' * depth + "1" + "}" * depth)  # 2 levels below the top
    path = write(tmp_path / "callbacks.ipynb", json.dumps(data).encode())
    if refused:
        with pytest.raises(intake.Refused, match="nested too deeply"):
            intake.read_notebook(path)
    else:
        assert intake.read_notebook(path).cells


def test_read_notebook_accepts_bom_and_drops_everything_but_sources(tmp_path):
    notebook = submission()
    foreign_kernel_and_junk_outputs(notebook)
    path = write(tmp_path / "callbacks.ipynb", b"\xef\xbb\xbf" + nbformat.writes(notebook).encode())
    clean = intake.clean(intake.read_notebook(path), exercise)
    assert clean.metadata.kernelspec == intake.KERNELSPEC
    for cell in clean.cells:
        assert set(cell.get("metadata", {})) <= set(), cell.metadata
        assert not cell.get("outputs") and cell.get("execution_count") is None
    nbformat.validate(clean)


def test_clean_restores_the_locked_setup_cell():
    notebook = submission()
    swap_data_in_setup_cell(notebook)
    clean = intake.clean(notebook, exercise)
    release = nbformat.read(exercise.release_notebook, as_version=4)
    setup = next(c.source for c in release.cells if _grade_id(c) == exercise.SETUP_CELL)
    assert setup in [cell.source for cell in clean.cells]
    assert not any("learning_rate=0.05" in cell.source for cell in clean.cells)


@pytest.mark.parametrize("grade_id", [123, ["early_stopping"], {"x": 1}, None])
def test_clean_ignores_grade_ids_that_are_not_strings(grade_id):
    notebook = submission()
    for cell in notebook.cells:
        if _grade_id(cell) in CHECKS:
            cell.metadata["nbgrader"]["grade_id"] = grade_id
    clean = intake.clean(notebook, exercise)
    snapshots = [cell for cell in clean.cells if cell.source.startswith("# autograder:")]
    # The test cells count as deleted: their snapshots go back after the answers, plus the final
    # one; the student's cells themselves run as plain code.
    assert len(snapshots) == len(CHECKS) + 1
    assert sum(cell.source.startswith("# Test step") for cell in clean.cells) == len(CHECKS)
