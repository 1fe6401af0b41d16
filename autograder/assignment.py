"""An assignment as the grader knows it: found in the course, declared beside its notebook.

The engine (intake, sandbox, run, evidence, verify, report) knows no assignment by name. Each
one is a folder of the course, `assignments/<name>/`, as nbgrader has it: the source notebook
`<name>.ipynb` (lesson, solutions, visible tests, one-line hidden regions, the points in its
nbgrader metadata) and its data; and beside them, never released (nbgrader_config.py's ignore
list), `grading/`:
- `assignment.json`, the declaration: the student's variables and how the kernel exports each
  (callback, history or value), what to tell a student who has none, each check's step in the
  lesson, what every run imports before the notebook starts (`preload`), which of the
  solution's settings the checks hold runs to and where the solution's run shows them,
  which files of a run the checks read (`keep`), and what the feedback plot shows (`feedback`);
- `checks/`, the hidden pytest suite: one module `test_<check>.py` per graded test cell;
- `reference.json`, what `python -m autograder reference` recorded of the solution's run.

Everything here comes from the instructor's side of the course, never from a submission. The
setup (data split and `build_model`) is not copied into the grader: it is the source
notebook's locked setup cell, run here, so the grader and the students always share it.
"""

import ast
import contextlib
import functools
import json
import math
import os
import posixpath
from pathlib import Path

import nbformat


def _course() -> Path:
    """The course: NBGRADER_COURSE_ROOT (as this project's nbgrader_config.py reads it), else the
    nearest folder from here up that holds nbgrader_config.py and assignments/ (nbgrader runs a
    notebook in a folder of its course), else this project."""
    if os.environ.get("NBGRADER_COURSE_ROOT"):
        return Path(os.environ["NBGRADER_COURSE_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file() and (folder / "assignments").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


COURSE = _course()
EXPORTS = ("callback", "history", "value")  # how the kernel can export a variable (autograder.export)
SETUP_CELL = "setup"  # grade_id of the locked setup cell
# How close two validation losses must be to count as the same value. On one machine training is
# bit-for-bit reproducible; the slack covers other CPUs (oneDNN kernels). An assignment whose
# epochs lie closer than this must say so in its declaration ("tolerance").
REL_TOL = 1e-3
ABS_TOL = 1e-4
# The arrays the setup cell defines (README, "Adding an assignment"), unless the declaration says otherwise.
DATA_NAMES = {"x": "x_train", "y": "y_train", "x_val": "x_val", "y_val": "y_val"}
DEFAULT_PLOT = {"curves": [["loss", "training loss"], ["val_loss", "validation loss"]], "best": "val_loss"}


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


class Assignment:
    """One assignment of a course; every property is read once, from the course's files."""

    SETUP_CELL = SETUP_CELL
    nbgrader_meta = staticmethod(nbgrader_meta)

    def __init__(self, name: str, course: Path = COURSE):
        self.name, self.course = name, Path(course)
        self.source_dir = self.course / "assignments" / name
        self.source_notebook = self.source_dir / f"{name}.ipynb"
        self.release_dir = self.course / "release" / name
        self.release_notebook = self.release_dir / f"{name}.ipynb"
        self.grading_dir = self.source_dir / "grading"
        self.declaration_file = self.grading_dir / "assignment.json"
        self.reference_file = self.grading_dir / "reference.json"
        self.checks_dir = self.grading_dir / "checks"

    def __repr__(self):
        return f"Assignment({self.name!r}, {str(self.course)!r})"

    def __eq__(self, other):
        return isinstance(other, Assignment) and (self.name, self.course) == (other.name, other.course)

    def __hash__(self):
        return hash((self.name, self.course))

    def __reduce__(self):  # what travels to the verifier's process: the name and the course, never the caches
        return Assignment, (self.name, self.course)

    # --- the declaration ---

    @functools.cached_property
    def declaration(self) -> dict:
        declared = json.loads(self.declaration_file.read_text())
        for name, variable in declared["variables"].items():
            if variable.get("export") not in EXPORTS:
                raise ValueError(f"{self.declaration_file}: variable {name!r} must be exported as one of {EXPORTS}; "
                                 f"it says {variable.get('export')!r}")
        for module in declared.get("preload", []):
            if not all(part.isidentifier() for part in str(module).split(".")):
                raise ValueError(f"{self.declaration_file}: preload must list module names; it lists {module!r}")
        return declared

    @property
    def variables(self) -> dict:
        """{name: declaration} of the student's variables the grader reads, in the declaration's order."""
        return self.declaration["variables"]

    @property
    def callbacks(self) -> tuple:
        """The names of the student's callback variables."""
        return tuple(name for name, variable in self.variables.items() if variable["export"] == "callback")

    @property
    def exports(self) -> dict:
        """What the kernel needs to export the variables: {name: [how, attributes]}, plain data (see export.snapshot)."""
        return {name: [variable["export"], list(variable.get("attributes", ()))] for name, variable in self.variables.items()}

    @property
    def history(self) -> str | None:
        """The name of the student's variable that holds what `fit` returned (exported as "history"), if any."""
        return next((name for name, variable in self.variables.items() if variable["export"] == "history"), None)

    def step_of(self, variable: str) -> int | None:
        """The lesson's step that creates `variable` (its declared "step"), None when not declared."""
        return self.variables.get(variable, {}).get("step")

    @property
    def data_names(self) -> dict:
        """The setup cell's names of the arrays fit is given: {"x", "y", "x_val", "y_val"} (the declaration's
        "data", else the names README's recipe asks the setup cell to define)."""
        return {**DATA_NAMES, **self.declaration.get("data", {})}

    @property
    def plot(self) -> dict:
        """What the feedback page's plot shows (the declaration's "feedback"; see autograder.feedback):
        - "curves": [[history key, label], ...], the run's exported curves drawn on the loss axis;
        - "best": the curve whose lowest value marks the best epoch;
        - "limit", "patience": the settings that hold the epoch limit and EarlyStopping's patience
          (the plot marks the stop epoch against the first, the window without improvement with the second);
        - "measured": weights the grader measures, {"file": a template over the settings, or
          "trained_model": true; "what": its name in the plot; "none": what is missing when there is none};
        - "learning_rate": {"replay": a callback variable whose settings a real Keras callback replays
          over the run's logs (autograder.replay.learning_rates); "logged": the history key the run logs it in}.
        Without one, the run's training and validation losses and the lowest of the latter."""
        return self.declaration.get("feedback", DEFAULT_PLOT)

    @property
    def steps(self) -> dict:
        """{check: the lesson's step number whose test cell it reads}."""
        return self.declaration.get("steps", {})

    @property
    def preload(self) -> tuple:
        """The modules every run imports before the notebook starts (once per sandbox, not per student)."""
        return tuple(self.declaration.get("preload", ()))

    @property
    def keep(self) -> tuple:
        """The top folders of the run's files that the checks read (the rest stays in the sandbox)."""
        return tuple(dict.fromkeys(Path(path.format_map(self.settings)).parts[0] for path in self.declaration.get("keep", ())))

    @functools.cached_property
    def tolerance(self) -> tuple:
        rel, abs_ = self.declaration.get("tolerance", [REL_TOL, ABS_TOL])
        return float(rel), float(abs_)

    def same_loss(self, a, b) -> bool:
        rel, abs_ = self.tolerance
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)

    # --- the solution's settings ---

    @functools.cached_property
    def settings(self) -> dict:
        """What the checks hold a run to, as the solution did it (the declaration's "settings"),
        recorded by `python -m autograder reference` from the solution notebook's own run."""
        recorded = self.reference.get("solution", {}).get("settings")
        wanted = set(self.declaration.get("settings", {}))
        if not isinstance(recorded, dict) or set(recorded) != wanted:
            raise LookupError(f"{self.reference_file} must hold the solution's settings {sorted(wanted)}; it holds "
                              f"{sorted(recorded) if isinstance(recorded, dict) else recorded!r}: run `make reference`")
        return recorded

    def solution_settings(self, snapshot) -> dict:
        """The declared settings as `snapshot` (the solution's final one, an evidence.Snapshot) shows them.

        Each setting is a path into the snapshot's variables ["history", "params", "epochs"]; a
        last step "parent" takes the folder of a path (a log root from a timestamped log_dir).
        """
        found = {}
        for name, path in self.declaration.get("settings", {}).items():
            *path, last = path
            value = snapshot.get(path[0]) if path else None
            for key in path[1:] + ([] if last == "parent" else [last]):
                value = value.get(key) if isinstance(value, dict) else None
            found[name] = (posixpath.dirname(value) or None) if last == "parent" and isinstance(value, str) else value
        if missing := sorted(name for name, value in found.items() if value is None):
            raise LookupError(f"The solution's run must show {', '.join(missing)} (see the \"settings\" of "
                              f"{self.declaration_file}); it showed {found}")
        return found

    # --- the notebook ---

    @functools.cached_property
    def source(self) -> nbformat.NotebookNode:
        return nbformat.read(self.source_notebook, as_version=4)

    @functools.cached_property
    def checks(self) -> dict:
        """{grade_id: points} of the auto-graded test cells, in notebook order."""
        return {meta["grade_id"]: float(meta["points"]) for meta in map(nbgrader_meta, self.source.cells)
                if meta.get("grade") and not meta.get("solution")}

    @functools.cached_property
    def hand_graded(self) -> dict:
        """{grade_id: points} of the answers graded by hand in formgrader (graded solution cells)."""
        return {meta["grade_id"]: float(meta["points"]) for meta in map(nbgrader_meta, self.source.cells)
                if meta.get("grade") and meta.get("solution")}

    @property
    def course_id(self) -> str:
        return course_id(self.course)

    @property
    def default_gradebook(self) -> str:
        return default_gradebook(self.course)

    @property
    def max_score(self) -> float:
        return sum(self.checks.values())

    def check_doc(self, check: str) -> str:
        """What passing `check` means, in the lesson's words: the first line of its module's docstring
        ("name: ..."), with the solution's settings filled in ({patience}, {epochs}, ...)."""
        doc = ast.get_docstring(ast.parse((self.checks_dir / f"test_{check}.py").read_text())) or ""
        line = doc.strip().splitlines()[0] if doc.strip() else f"{check}: passed"
        return line.format_map(self.settings)

    @functools.cached_property
    def setup_source(self) -> str:
        for cell in self.source.cells:
            if nbgrader_meta(cell).get("grade_id") == SETUP_CELL:
                return cell.source
        raise LookupError(f"{self.source_notebook} has no cell with grade_id {SETUP_CELL!r}")

    @functools.cached_property
    def setup(self) -> dict:
        """The namespace of the source notebook's setup cell: `build_model`, `x_val`, `y_val`, ...

        It imports TensorFlow, so the first use costs a few seconds.
        """
        namespace = {"__name__": f"{self.name}_setup"}
        # The cell loads its data by a path relative to the assignment folder.
        with contextlib.chdir(self.source_dir):
            exec(compile(self.setup_source, f"{self.source_notebook}:setup", "exec"), namespace)
        return namespace

    @functools.cached_property
    def reference(self) -> dict:
        """The recorded reference run (see `python -m autograder reference`)."""
        return json.loads(self.reference_file.read_text())



@functools.cache
def get(name: str, course: Path = COURSE) -> Assignment:
    """The assignment `name` of `course`; raises LookupError when the course has no such assignment."""
    assignment = Assignment(name, course)
    if not assignment.declaration_file.is_file() or not assignment.source_notebook.is_file():
        known = ", ".join(sorted(find(course))) or "none"
        raise LookupError(f"{course} has no assignment {name!r} (assignments/{name}/{name}.ipynb and "
                          f"assignments/{name}/grading/assignment.json); its assignments: {known}")
    return assignment


def of(path) -> Assignment:
    """The assignment whose grading folder holds `path` (a check module names its own assignment so)."""
    path = Path(path).resolve()
    for folder in path.parents:
        if folder.name == "grading" and folder.parent.parent.name == "assignments":
            return get(folder.parent.name, folder.parent.parent.parent)
    raise LookupError(f"{path} is not inside an assignment's grading folder (assignments/<name>/grading/)")


def find(course: Path = COURSE) -> dict:
    """{name: Assignment} of every assignment of `course` the grader can grade."""
    return {folder.name: Assignment(folder.name, course)
            for folder in sorted((Path(course) / "assignments").glob("*"))
            if (folder / "grading" / "assignment.json").is_file() and (folder / f"{folder.name}.ipynb").is_file()}


@functools.cache
def course_config(course: Path = COURSE):
    """The course's nbgrader_config.py, loaded (a traitlets Config)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()


def course_id(course: Path = COURSE) -> str:
    """The nbgrader course id, as the course's nbgrader_config.py sets it."""
    return course_config(course).CourseDirectory.course_id


def default_gradebook(course: Path = COURSE) -> str:
    """The course's gradebook database, where nbgrader keeps it by default."""
    return f"sqlite:///{Path(course) / 'gradebook.db'}"
