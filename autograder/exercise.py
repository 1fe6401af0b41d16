"""The callbacks exercise as the grader knows it: names, files, points and the trusted setup.

Everything here comes from the instructor's side of the project (the source notebook in
`assignments/callbacks/` and `autograder/reference.json`), never from a submission. The
setup (data split and `build_model`) is not copied into the grader: it is the source
notebook's locked setup cell, run here, so the grader and the students always share it.
"""

import contextlib
import functools
import json
import math
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "callbacks"
SOURCE_DIR = ROOT / "assignments" / ASSIGNMENT
SOURCE_NOTEBOOK = SOURCE_DIR / f"{ASSIGNMENT}.ipynb"
RELEASE_NOTEBOOK = ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
REFERENCE_FILE = Path(__file__).resolve().parent / "reference.json"
CHECKS_DIR = Path(__file__).resolve().parent / "checks"

SETUP_CELL = "setup"  # grade_id of the locked setup cell
EPOCHS = 200
PATIENCE = 5
CHECKPOINT = "checkpoints/best_model.weights.h5"
LOG_ROOT = "logs/fit"
BATCHES_PER_EPOCH = 10  # 300 training images in batches of 32 (fit's default batch size)
# How close two validation losses must be to count as the same value. On one machine the
# training is bit-for-bit reproducible; the slack covers other CPUs (oneDNN kernels) and
# is 10x smaller than the gap between the best epoch and any other epoch of the run.
REL_TOL = 1e-3
ABS_TOL = 1e-4


@functools.cache
def course_id() -> str:
    """The nbgrader course id, as nbgrader_config.py sets it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config().CourseDirectory.course_id


def default_gradebook() -> str:
    """The course's gradebook database, where nbgrader keeps it by default."""
    return f"sqlite:///{ROOT / 'gradebook.db'}"


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


@functools.cache
def source_notebook():
    return nbformat.read(SOURCE_NOTEBOOK, as_version=4)


@functools.cache
def checks():
    """{grade_id: points} of the auto-graded test cells, in notebook order."""
    return {
        meta["grade_id"]: float(meta["points"])
        for meta in map(nbgrader_meta, source_notebook().cells)
        if meta.get("grade") and not meta.get("solution")
    }


@functools.cache
def hand_graded():
    """{grade_id: points} of the answers graded by hand in formgrader (graded solution cells: the written question)."""
    return {
        meta["grade_id"]: float(meta["points"])
        for meta in map(nbgrader_meta, source_notebook().cells)
        if meta.get("grade") and meta.get("solution")
    }


def setup_source():
    for cell in source_notebook().cells:
        if nbgrader_meta(cell).get("grade_id") == SETUP_CELL:
            return cell.source
    raise LookupError(f"{SOURCE_NOTEBOOK} has no cell with grade_id {SETUP_CELL!r}")


@functools.cache
def setup():
    """The namespace of the source notebook's setup cell: `build_model`, `x_val`, `y_val`, ...

    It imports TensorFlow, so the first call costs a few seconds.
    """
    namespace = {"__name__": "callbacks_setup"}
    # The cell loads its data by a path relative to the assignment folder.
    with contextlib.chdir(SOURCE_DIR):
        exec(compile(setup_source(), f"{SOURCE_NOTEBOOK}:setup", "exec"), namespace)
    return namespace


@functools.cache
def reference():
    """The recorded reference run (see `python -m autograder reference`)."""
    return json.loads(REFERENCE_FILE.read_text())


def same_loss(a, b):
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
