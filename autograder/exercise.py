"""The callbacks exercise as the grader knows it: names, files, points, settings and the trusted setup.

Everything here comes from the instructor's side of the course, never from a submission:
the source notebook in `assignments/callbacks/` and what the grader keeps beside it in
`assignments/callbacks/grading/` (the hidden checks and `reference.json`; nbgrader never
releases that folder). The setup (data split and `build_model`) is not copied into the
grader: it is the source notebook's locked setup cell, run here, so the grader and the
students always share it. The settings the checks hold a run to (patience, epoch limit,
checkpoint file, log folder) are not written here either: they are the solution's own,
recorded from its run by `python -m autograder reference` (`settings()`), so changing the
solution cell and running `make reference` is all it takes.
"""

import contextlib
import functools
import json
import math
import os
import posixpath
from pathlib import Path

import nbformat

# The course: this project, or another nbgrader course folder named as nbgrader_config.py names it.
ROOT = Path(os.environ.get("NBGRADER_COURSE_ROOT") or Path(__file__).resolve().parent.parent).resolve()
ASSIGNMENT = "callbacks"
SOURCE_DIR = ROOT / "assignments" / ASSIGNMENT
SOURCE_NOTEBOOK = SOURCE_DIR / f"{ASSIGNMENT}.ipynb"
RELEASE_NOTEBOOK = ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
GRADING_DIR = SOURCE_DIR / "grading"  # the instructor's only: nbgrader_config.py keeps it out of the release
DECLARATION_FILE = GRADING_DIR / "assignment.json"
REFERENCE_FILE = GRADING_DIR / "reference.json"
CHECKS_DIR = GRADING_DIR / "checks"
EXPORTS = ("callback", "history", "value")  # how the kernel can export a variable (autograder.export)

SETUP_CELL = "setup"  # grade_id of the locked setup cell
# How close two validation losses must be to count as the same value. On one machine the
# training is bit-for-bit reproducible; the slack covers other CPUs (oneDNN kernels) and
# is 10x smaller than the gap between the best epoch and any other epoch of the run.
REL_TOL = 1e-3
ABS_TOL = 1e-4
# The solution's settings, as module attributes (exercise.PATIENCE): see settings().
SETTINGS = {"EPOCHS": "epochs", "PATIENCE": "patience", "CHECKPOINT": "checkpoint", "LOG_ROOT": "log_root",
            "BATCHES_PER_EPOCH": "batches_per_epoch"}


def __getattr__(name):
    if name in SETTINGS:
        return settings()[SETTINGS[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def declaration() -> dict:
    """grading/assignment.json: the student's variables (how each is exported, what to tell a
    student who has none), the step of the lesson each check belongs to, what every run preloads."""
    declared = json.loads(DECLARATION_FILE.read_text())
    for module in declared.get("preload", []):
        if not all(part.isidentifier() for part in str(module).split(".")):
            raise ValueError(f"{DECLARATION_FILE}: preload must list module names; it lists {module!r}")
    for name, variable in declared["variables"].items():
        if variable.get("export") not in EXPORTS:
            raise ValueError(f"{DECLARATION_FILE}: variable {name!r} must be exported as one of {EXPORTS}; "
                             f"it says {variable.get('export')!r}")
    return declared


def variables() -> dict:
    """{name: declaration} of the student's variables the grader reads, in the declaration's order."""
    return declaration()["variables"]


def callbacks() -> tuple:
    """The names of the student's callback variables."""
    return tuple(name for name, variable in variables().items() if variable["export"] == "callback")


def exports() -> dict:
    """What the kernel needs to export the variables: {name: [kind, attributes]}, plain data (see export.snapshot)."""
    return {name: [variable["export"], list(variable.get("attributes", ()))] for name, variable in variables().items()}


def steps() -> dict:
    """{check: the lesson's step number whose test cell it reads}."""
    return declaration()["steps"]


@functools.cache
def settings() -> dict:
    """What the checks hold a run to, as the solution did it: {epochs, patience, checkpoint, log_root, batches_per_epoch}.

    Recorded by `python -m autograder reference` from the solution notebook's own run.
    """
    recorded = reference().get("solution", {}).get("settings")
    if not isinstance(recorded, dict) or set(recorded) != set(SETTINGS.values()):
        raise LookupError(f"{REFERENCE_FILE} must hold the solution's settings {sorted(SETTINGS.values())}; "
                          f"it holds {sorted(recorded) if isinstance(recorded, dict) else recorded!r}: run `make reference`")
    return recorded


def solution_settings(snapshot) -> dict:
    """The settings of `snapshot` (the solution's final one, an `evidence.Snapshot`), as settings() holds them."""
    history = snapshot.get("history") or {}
    params = history.get("params", {})
    early_stopping = (snapshot.get("early_stopping") or {}).get("settings", {})
    model_checkpoint = (snapshot.get("model_checkpoint") or {}).get("settings", {})
    tensorboard = (snapshot.get("tensorboard_callback") or {}).get("settings", {})
    found = {
        "epochs": params.get("epochs"),
        "patience": early_stopping.get("patience"),
        "checkpoint": model_checkpoint.get("filepath"),
        # log_dir is the log root plus a timestamp (logs/fit/20261204-101500): the root is what stays.
        "log_root": posixpath.dirname(tensorboard.get("log_dir") or "") or None,
        "batches_per_epoch": params.get("steps"),
    }
    if missing := sorted(name for name, value in found.items() if value is None):
        raise LookupError(f"The solution's run must show {', '.join(missing)} (its history, early_stopping, "
                          f"model_checkpoint and tensorboard_callback); it showed {found}")
    return found


def check_doc(check: str) -> str:
    """What passing check `check` means, in the lesson's words: the first line of its module's
    docstring ("name: ..."), with the settings filled in ({patience}, {epochs}, {checkpoint}, {log_root})."""
    import ast

    doc = ast.get_docstring(ast.parse((CHECKS_DIR / f"test_{check}.py").read_text())) or ""
    line = doc.strip().splitlines()[0] if doc.strip() else f"{check}: passed"
    return line.format_map(settings())


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
