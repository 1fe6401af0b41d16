"""Run as a Gradescope autograder: build the bundle Gradescope takes, and grade one submission inside it.

Gradescope's autograder specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"), which shapes everything here:
- the bundle is a zip with `setup.sh` and `run_autograder` at its root; Gradescope unpacks it in
  /autograder/source, runs setup.sh once, as root, while it builds the image (Ubuntu), and copies
  run_autograder to /autograder/run_autograder;
- for each submission it puts the student's files in /autograder/submission, runs run_autograder
  (as root, in /autograder) and uploads /autograder/results/results.json; run_autograder's stdout
  is kept in /autograder/results/stdout and shown to instructors only;
- results.json: `score`, `execution_time` (s), `output` with its `output_format` (text,
  simple_format, html, md or ansi), `visibility` and `stdout_visibility` (hidden, after_due_date,
  after_published, visible), and `tests`, each with `name`, `score`, `max_score`, `status`
  (passed or failed), `output` and its `output_format`, `visibility`.

The bundle (`build`) holds the grader's package, the assignment's folder (the source notebook,
its data, grading/), its release (the data and locked cells a run gets) and requirements.lock;
nothing of it is ever shown to a student. `run` grades /autograder/submission's one notebook
with the same intake, runner, checks and reference as `python -m autograder grade`, and writes
results.json (`results_json`): per check its points and the feedback page's words for it, and the
whole feedback page (Markdown) as the top-level output. Everything about the grading itself (which
isolation ran, why a person should look, a grader error's traceback) goes to stdout.

Isolation: the bubblewrap sandbox where the container allows it; otherwise (Docker's defaults
forbid its namespaces) `autograder.uid_runner`, after making the grader's files unreadable to it.
"""

import json
import os
import time
import traceback
import zipfile
from pathlib import Path

from . import assignment as assignments
from .assignment import Assignment
from .feedback import as_dict, check_view, clip, markdown_text, render_markdown
from .grade import Result, Submission, failed_checks, grade, grader_error, table, write_atomically
from .runner import SandboxRunner
from .sandbox import BASE_UID, Limits, SandboxUnavailable
from .status import Status
from .uid_runner import UidRunner

ROOT = Path("/autograder")  # Gradescope's; run_autograder passes $AUTOGRADER_ROOT, so tests lay it out elsewhere
CONFIG = "gradescope.json"  # in the bundle: which assignment it grades
SCRIPTS = Path(__file__).resolve().parent / "templates"
SETUP, RUN_AUTOGRADER = "setup.sh", "run_autograder"
RUNNER_ENV = "AUTOGRADER_RUNNER"  # "sandbox" or "uid" forces one; unset, the sandbox where it works, else uid
# The slot (uid 62000 + slot) a run takes. Gradescope grades one submission per container (slot 0);
# on a shared host (the tests) another slot saves waiting for a grader that holds slot 0.
SLOT_ENV = "AUTOGRADER_SLOT"
NOT_BUNDLED = frozenset({"__pycache__", ".ipynb_checkpoints"})  # folders never copied into the bundle


# ---------------------------------------------------------------- the bundle


def bundle_files(exercise: Assignment) -> dict[str, Path]:
    """{name in the zip: file} of the bundle for `exercise`: scripts, lock, package, course files."""
    package = Path(__file__).resolve().parent
    course = exercise.course
    files = {SETUP: SCRIPTS / "gradescope_setup.sh", RUN_AUTOGRADER: SCRIPTS / "gradescope_run_autograder",
             "requirements.lock": course / "requirements.lock", "nbgrader_config.py": course / "nbgrader_config.py"}
    for folder, under in ((package, "autograder"), (exercise.source_dir, f"assignments/{exercise.name}"),
                          (exercise.release_dir, f"release/{exercise.name}")):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not NOT_BUNDLED.intersection(path.relative_to(folder).parts):
                files[f"{under}/{path.relative_to(folder).as_posix()}"] = path
    return files



def build(exercise: Assignment, output: Path) -> Path:
    """Write Gradescope's autograder zip for `exercise` at `output`; raises LookupError when the
    assignment is not ready to grade (no reference run, no release)."""
    exercise.settings  # raises LookupError without the reference run's settings (`make reference`)
    if not exercise.release_notebook.is_file():
        raise LookupError(f"{exercise.release_notebook} must exist (the student version the grader puts "
                          f"locked cells back from): run `make release`")
    if missing := [str(path) for path in bundle_files(exercise).values() if not path.is_file()]:
        raise LookupError(f"the bundle needs these files: {', '.join(missing)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, path in bundle_files(exercise).items():
            _add(bundle, name, path.read_bytes(), executable=name in (SETUP, RUN_AUTOGRADER))
        _add(bundle, CONFIG, json.dumps({"assignment": exercise.name}, indent=2).encode() + b"\n")
    os.replace(temporary, output)
    return output


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, executable: bool = False):
    # A fixed date: the same course gives the same zip, byte for byte.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, data)


# ---------------------------------------------------------------- results.json


def results_json(result, exercise: Assignment, *, seconds: float | None = None) -> dict:
    """`result` (a grade.Result or its to_dict()) as Gradescope's results.json: what the student sees.

    Every text comes from the feedback page (`autograder.feedback`): the checks' student-facing
    sentences, cleaned and escaped as Markdown; no check code, reference value or tolerance.
    """
    data = as_dict(result)
    return {
        "score": _points(data.get("score")),
        "execution_time": round(seconds if seconds is not None else _points(data.get("seconds"))),
        "output": render_markdown(data, exercise),
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",  # the grader's notes for instructors: isolation, review, errors
        "tests": [_test(test, data.get("message"), exercise) for test in data["tests"] if isinstance(test, dict)],
    }


def _test(test: dict, run_message, exercise: Assignment) -> dict:
    view = check_view(test, run_message, exercise)
    parts = []
    if view["expected"]:
        parts.append(f"What this check wants: {markdown_text(view['expected'])}")
    if view["not_checked"]:
        parts.append(f"Not checked: {markdown_text(clip(run_message))}")
    elif view["messages"]:
        parts.append("What the grader found, and what to change:\n\n"
                     + "\n".join(f"- {markdown_text(message)}" for message in view["messages"]))
    return {"name": view["name"], "name_format": "text", "score": _points(test.get("score")),
            "max_score": _points(test.get("max_score")), "status": "passed" if view["passed"] else "failed",
            "output": "\n\n".join(parts), "output_format": "md", "visibility": "visible"}


def _points(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


# ---------------------------------------------------------------- run_autograder


def bundled(root: Path = ROOT) -> Assignment:
    """The assignment the bundle unpacked in `root`/source grades."""
    course = Path(root) / "source"
    return assignments.get(json.loads((course / CONFIG).read_text())["assignment"], course)


def check(root: Path = ROOT) -> str:
    """What setup.sh checks once installed (offline): the bundle's assignment loads and can be graded."""
    exercise = bundled(root)
    exercise.settings  # the reference run's settings
    if not exercise.release_notebook.is_file():
        raise LookupError(f"{exercise.release_notebook} is missing from the bundle")
    return (f"{exercise.name}: {len(exercise.checks)} checks, {exercise.max_score:g} points, "
            f"bundle in {exercise.course}")


def protect(root: Path):
    """Make everything of the grader under `root` root's alone (0700): a run as another uid reads none of it.

    Gradescope's harness and the grader are root; the student's code never needs /autograder.
    """
    for folder in (root, root / "source", root / "results"):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)


def submitted_notebook(folder: Path) -> tuple[Path | None, str | None]:
    """The one notebook of the submission, or None and what the student must change."""
    files = sorted(path for path in folder.rglob("*")
                   if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts))
    notebooks = [path for path in files if path.suffix == ".ipynb"]
    if len(notebooks) == 1:
        return notebooks[0], None
    names = ", ".join(clip(path.relative_to(folder), 80) for path in (notebooks or files)[:10])
    if not notebooks:
        return None, ("Submit exactly one Jupyter notebook (a .ipynb file); this submission has none"
                      + (f" (its files: {names})" if names else "") + ".")
    return None, (f"Submit exactly one Jupyter notebook (a .ipynb file); this submission has {len(notebooks)}: "
                  f"{names}. Submit only the assignment's notebook.")


def choose_runner(exercise: Assignment, limits: Limits, protected, choice: str | None = None):
    """(runner, a note for the instructor): the sandbox where it works here, else the uid fallback.

    `choice` (default: $AUTOGRADER_RUNNER) "sandbox" or "uid" forces one. Raises SandboxUnavailable
    when the chosen isolation, or both, cannot work here.
    """
    choice = choice or os.environ.get(RUNNER_ENV) or "auto"
    if choice not in ("auto", "sandbox", "uid"):
        raise ValueError(f"{RUNNER_ENV} must be sandbox or uid (or unset); got {choice!r}")
    slot = int(os.environ.get(SLOT_ENV) or 0)
    notes = []
    if choice != "uid":
        box = SandboxRunner(1, limits, exercise.preload)
        if (why := box.unavailable()) is None:
            return box, ("Isolation: the bubblewrap sandbox (own uid, no network, own PID, mount and IPC "
                         "namespaces, nothing of the grader visible, limits).")
        if choice == "sandbox":
            raise SandboxUnavailable(f"the bubblewrap sandbox cannot be made here: {why}")
        notes.append(f"The bubblewrap sandbox cannot be made in this container: {why.rstrip('.')}.")
    fallback = UidRunner(1, limits, protected, first_slot=slot)
    if why := fallback.unavailable():
        raise SandboxUnavailable(" ".join(notes + [f"The fallback (a separate uid with limits) cannot run either: {why}."]))
    return fallback, " ".join(notes + [
        f"WARNING: fallback isolation: the notebook ran as uid {BASE_UID + slot} with limits (memory, processes, file size, "
        "wall time), in a fresh folder, the grader's files 0700; unlike the sandbox it shares the container's "
        "network, process list and world-readable files (README, \"Gradescope\")."])


def run(root: Path = ROOT, *, limits: Limits = Limits(), runner_choice: str | None = None, log=print) -> dict:
    """Grade the submission in `root`/submission, write `root`/results/results.json, return it.

    Whatever the submission is (no notebook, several, a broken or hostile one) and whatever fails
    in the grader, a valid results.json is written; `log` (stdout: instructors only) says what happened.
    """
    root = Path(root)
    started = time.monotonic()
    protect(root)
    exercise = bundled(root)  # a broken bundle is the instructor's to fix: run_autograder writes a stub
    submission, problem = submitted_notebook(root / "submission")
    if problem:
        result = Result("(no notebook)", exercise.name, 0.0, exercise.max_score,
                        failed_checks(exercise, problem), Status.REFUSED, problem)
        log(f"Not graded: {problem}")
    else:
        result = _grade(Submission(submission.name, submission), exercise, limits, runner_choice, root, log)
    results = results_json(result, exercise, seconds=time.monotonic() - started)
    write_atomically(root / "results" / "results.json", json.dumps(results, indent=2, allow_nan=False) + "\n")
    log(table([result]))
    log(f"status: {result.status}" + (f"; run: {result.message}" if result.message else ""))
    for reason in result.review:
        log(f"needs a person: {reason}")
    log(f"graded in {time.monotonic() - started:.1f} s")
    return results


def _grade(submission: Submission, exercise: Assignment, limits, runner_choice, root: Path, log) -> Result:
    try:
        runner, note = choose_runner(exercise, limits, protected=[root, root / "source", exercise.course], choice=runner_choice)
        log(note)
        return grade([submission], exercise, jobs=1, runner=runner)[0]
    except Exception as error:  # the grader's failure: the student is told so, the instructor why
        log(f"GRADER ERROR: {type(error).__name__}: {error}")
        log(traceback.format_exc())
        result = grader_error(submission.name, exercise, f"{type(error).__name__}: {error}")
        result.message = "The grader could not grade this submission here; your instructor has been told and will look at it."
        return result

