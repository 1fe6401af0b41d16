"""Run the hidden pytest suite on what one run left behind, and score each check.

This runs in the grader's own process, which never imports or executes anything the
student produced: the suite reads the run's snapshots and files as data (see
`autograder.evidence`) and measures weights in models it builds itself.
"""

import contextlib
import functools
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from . import evidence, measure
from .assignment import Assignment
from .cell_names import code_cell_names
from .intake import cell_text, snapshot_check
from .messages import CheckFailed, Code, Message, as_markdown


@dataclass(frozen=True)
class Context:
    """What the trusted side knows about one run, handed to the suite's fixtures."""

    assignment: Assignment  # whose notebook ran (its checks, settings and reference)
    work: Path  # the folder the notebook ran in
    run_started_at: float | None = None  # None: take the kernel's start from the snapshot
    run_problem: str | None = None  # why the run did not finish cleanly, in words for the student
    not_kept: tuple = ()  # "path (kind)": links and special files the sandbox did not hand on
    # (cell_type, source) of each cell of the clean notebook, kept by the grader before the run
    # (work/submission.ipynb can be overwritten by the run, so it is never read back).
    # Empty: not known (nbgrader's path), and the checks that read the source do not apply.
    sources: tuple = ()
    time_limit: float | None = None  # seconds, when the run was stopped at its wall-clock limit

    @functools.cached_property
    def cell_errors(self) -> dict:
        """{cell number: (error name, message)} of the cells that raised in this run."""
        from .run import cell_errors

        return cell_errors(self.work)

    @property
    def stop(self) -> str | None:
        """Why the run itself did not finish (time limit, dead kernel); cells' own errors are in cell_errors."""
        return self.run_problem

    @functools.cached_property
    def cell_names(self) -> dict:
        """{cell number: name} of the code cells, as the student finds them (see autograder.cell_names)."""
        return code_cell_names(self.sources, self.assignment)

    def place(self, cell: int) -> str:
        """Code cell `cell` (1-based, in the notebook the run executed) as the student finds it:
        "the 2nd code cell under “Your turn, step 4: build and train”". Every message names cells so."""
        return self.cell_names[cell]

    def test_cell(self, check: str) -> int | None:
        """The cell number of `check`'s test cell in the executed notebook (None: not known, or not there)."""
        for number, (kind, source) in enumerate(self.sources, start=1):
            if kind == "code" and snapshot_check(source) == check:
                return number
        return None

    def step_cells(self, check: str) -> list[int]:
        """The student's code cells that run between the previous test cell and `check`'s: its step's answer."""
        at = self.test_cell(check)
        if at is None:
            return []
        cells, number = [], at - 1
        while number >= 1 and snapshot_check(self.sources[number - 1][1]) is not None:
            number -= 1  # the other test cells of the same step (step 4 has three)
        while number >= 1 and snapshot_check(self.sources[number - 1][1]) is None:
            if self.sources[number - 1][0] == "code":
                cells.append(number)
            number -= 1
        return sorted(cells)

    def running_when_stopped(self) -> int | None:
        """The student's code cell that was running when the run stopped: the first after the last test cell it passed."""
        if not self.sources:
            return None
        last = 0
        for number, (kind, source) in enumerate(self.sources, start=1):
            check = snapshot_check(source) if kind == "code" else None
            if check and os.path.lexists(self.work / evidence.SNAPSHOTS / check / "evidence.json"):
                last = number
        for number in range(last + 1, len(self.sources) + 1):
            kind, source = self.sources[number - 1]
            if kind == "code" and snapshot_check(source) is None:
                return number
        return None

    def step_errors(self, check: str | None, skip=lambda name, value: False) -> list[str]:
        """The errors of `check`'s own cells, as sentences (the notebook's first error when `check` is None).

        Only errors of the code cells in `sources` are told: without the cells (nbgrader's path)
        no cell can be named, and the executed notebook is the run's to write.
        """
        from .run import describe_error

        if check is None:
            first = min((number for number in self.cell_errors if number in self.cell_names), default=None)
            return [describe_error(self.place(first), *self.cell_errors[first])] if first is not None else []
        return [describe_error(self.place(number), *self.cell_errors[number])
                for number in self.step_cells(check) if number in self.cell_errors and not skip(*self.cell_errors[number])]

    def why(self, snapshot=None, check=None, skip=lambda name, value: False) -> str:
        """What went wrong with the run, as a sentence to add to a message about something missing.

        With `check`, only the errors of that check's own step are named: a step-1 error says
        nothing about step 5. `skip(name, value)` leaves out errors the message already explains.
        """
        text = " ".join([self.stop or "", *self.step_errors(check, skip), *(snapshot.problems if snapshot else [])]).strip()
        return f" {text}" if text else ""


    def code_cells(self):
        """(cell number, source text) of each code cell of the notebook the run executed."""
        for number, (kind, source) in enumerate(self.sources, start=1):
            if kind == "code":
                yield number, cell_text(source)



@dataclass(frozen=True)
class CheckResult:
    """One graded check, in the shape of Gradescope's per-test results, with its messages as data."""

    name: str
    score: float
    max_score: float
    status: str  # "passed" or "failed"
    # Keywords only: before messages existed, the fifth positional field was the output.
    messages: tuple = field(default=(), kw_only=True)  # messages.Message: why it failed (empty when passed)
    output: str = field(default="", kw_only=True)  # for the student: the failure messages as a Markdown list, or what the passed check confirmed

    @classmethod
    def failed(cls, name: str, max_score: float, messages) -> "CheckResult":
        messages = tuple(messages)
        return cls(name, 0.0, max_score, "failed", messages=messages, output=as_markdown(messages))

    def to_dict(self):
        return {**asdict(self), "messages": [message.to_dict() for message in self.messages]}


CONTEXT = pytest.StashKey[Context]()  # how the suite's `context` fixture finds the run


class _Suite:
    """A pytest plugin: hands the run's context to the suite and collects each test's outcome by check."""

    def __init__(self, context):
        self._context = context
        self.failures = {}  # check name -> [Message, ...]
        self.passed = {}  # check name -> number of passed tests

    def pytest_configure(self, config):
        config.stash[CONTEXT] = self._context

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        check = item.path.stem.removeprefix("test_")
        if report.failed:
            self.failures.setdefault(check, []).append(_message(call.excinfo))
        elif report.when == "call":
            self.passed[check] = self.passed.get(check, 0) + 1
        return report


def _message(excinfo) -> Message:
    """The message of a failed test: its text for the student, without the traceback, and its code."""
    error = excinfo.value if excinfo is not None else None
    if isinstance(error, CheckFailed):
        return error.message
    if isinstance(error, AssertionError):
        # pytest appends its rewritten "assert ..." line after the test's own message.
        return Message(_evidence_code(error), str(error).split("\nassert ", 1)[0].strip() or "A check failed.")
    if isinstance(error, pytest.fail.Exception):
        return Message(_evidence_code(error), error.msg)
    # A check that crashed is the grader's bug: say so without showing its internals.
    return Message(Code.CHECK_CRASHED, f"The check could not run ({type(error).__name__}); please tell your instructor.")


def _evidence_code(error: BaseException) -> str:
    """The code of the evidence.BadEvidence this failure was raised while handling (FAILED: none)."""
    seen = error.__context__
    while seen is not None:
        if isinstance(seen, evidence.BadEvidence):
            return seen.code
        seen = seen.__context__
    return Code.FAILED


def verify(context: Context, only=None) -> list[CheckResult]:
    """Score every check of the assignment (or those named in `only`) for the run in `context.work`."""
    assignment = context.assignment
    names = [name for name in assignment.checks if only is None or name in only]
    suite = _Suite(context)
    modules = [str(assignment.checks_dir / f"test_{name}.py") for name in names]
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        pytest.main(
            # no:unraisableexception: its gc.collect() at the end costs 0.25 s per run with TensorFlow loaded.
            ["-q", "-p", "no:cacheprovider", "-p", "no:unraisableexception", "--import-mode=importlib", "-c", os.devnull,
             "--rootdir", str(assignment.checks_dir), "-s", "--tb=no", "-p", "no:warnings", *modules],
            plugins=[suite],
        )
    results = []
    for name in names:
        points = assignment.checks[name]
        failures = suite.failures.get(name, [])
        if failures or not suite.passed.get(name):
            said = dict.fromkeys(failures) or [Message(Code.CHECK_CRASHED, "The check could not run.")]
            results.append(CheckResult.failed(name, points, said))
        else:
            results.append(CheckResult(name, points, points, "passed", output=assignment.check_doc(name)))
    return results


def training_run(context: Context) -> dict:
    """What the feedback plot shows, as the assignment declares it (`Assignment.plot`):

    - each declared curve of the run's history, as exported (the student's data, which the
      checks cross-check), under its history key;
    - "measured_val_loss": the grader's own measurement of the declared weights (None: none);
    - "epochs_limit", "patience": the solution's settings the plot marks the stop against;
    - "learning_rate": what the run logged, as exported (the student's data), and
      "replayed_learning_rate": what a real Keras callback with the declared callback's settings
      sets over the run's logs (None when it cannot be replayed).
    """
    assignment, plot = context.assignment, context.assignment.plot
    settings = assignment.settings
    snapshot = evidence.load_snapshot(context.work, evidence.FINAL, assignment.variables)
    logs = (snapshot.get(assignment.history) or {}).get("history", {}) if assignment.history else {}

    def series(key):
        values = logs.get(key)
        return [_finite(v) for v in values] if isinstance(values, list) else []

    run = {key: series(key) for key, _label in plot.get("curves", ())}
    run["measured_val_loss"] = _measured(context, snapshot, plot.get("measured"))
    run["epochs_limit"] = settings.get(plot["limit"]) if "limit" in plot else None
    run["patience"] = settings.get(plot["patience"]) if "patience" in plot else None
    if rate := plot.get("learning_rate"):
        run["learning_rate"] = series(rate["logged"])
        run["replayed_learning_rate"] = _replayed_rates(context, snapshot, logs, rate)
    return run


def _measured(context, snapshot, declared) -> float | None:
    """The grader's measurement of the weights the plot declares: a file of the run, or the trained model."""
    if not declared:
        return None
    weights = (snapshot.final_weights if declared.get("trained_model")
               else declared["file"].format_map(context.assignment.settings))
    if weights is None:
        return None
    try:
        return measure.val_loss_of(context.assignment, context.work, weights)
    except evidence.BadEvidence:
        return None


MAX_REPLAYED_EPOCHS = 1000  # a real run has at most its epoch limit; a forged history may hold millions


def _replayed_rates(context, snapshot, logs, declared) -> list | None:
    """The learning rate of each epoch as a real Keras callback with the declared callback's exported
    settings sets it over this run's logs; None when that callback did not reach history's fit
    (the code says so), has no usable settings, or the logs hold nothing to replay."""
    name = declared["replay"]
    settings = (snapshot.get(name) or {}).get("settings")
    numbers = {key: values[:MAX_REPLAYED_EPOCHS] for key, values in logs.items() if key != declared["logged"]
               and isinstance(values, list) and values
               and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)}
    if not isinstance(settings, dict) or not numbers or _not_passed(context, name):
        return None
    from . import replay

    try:
        return [_finite(rate) for rate in replay.run_learning_rates(context.assignment, settings, numbers)]
    except Exception:  # settings Keras refuses, or odd logs: the plot shows no replay, the checks say what is wrong
        return None


def _not_passed(context, name) -> bool:
    """Whether the grader's reading of the code shows callback `name` was not given to history's fit."""
    if not context.sources:
        return False
    from . import source

    try:
        return source.read(context.sources, context.assignment).callback("final", name).passed is False
    except Exception:  # the reader's own bug: review() says so
        return False


def _finite(value) -> float | None:
    """`value` as a finite float, else None: the exported history may hold 10 ** 4000, "nan" or anything."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def review(context: Context) -> list[str]:
    """Why a person should look at this run, from the grader's own reading of it (empty: no reason).

    Each entry is one sentence for the instructor (and the student's feedback page); the class
    report lists the submission under "needs a person" with them.
    """
    if not context.sources:
        return []
    from . import source

    assignment = context.assignment
    try:
        reading = source.read(context.sources, assignment)
    except Exception as error:  # the grader's own reader failed: a person decides, the checks used the evidence only
        return [f"The grader could not read this notebook's code ({type(error).__name__}); "
                f"a person should check {_training_step(assignment)}."]
    # No cell number, for the instructor either: the notebook the grader numbers its cells in is
    # deleted after grading, and the submitted one (which the instructor opens) differs from it.
    out = [f"The code at {place} {what}; the grader cannot read what it does, so a person should check this notebook."
           for place, what in reading.suspicious]
    unsure = [name for name in assignment.callbacks if reading.callback("final", name).passed is None
              and name in reading.defined]
    if unsure:
        fit = reading.fits.get("final")
        where = f"the fit at {fit.place}" if fit is not None else _training_step(assignment)
        out.append(f"The grader could not tell from the code which callbacks the fit that returned `{assignment.history or 'history'}` "
                   f"received ({', '.join(f'`{name}`' for name in unsure)}); a person should check {where}.")
    return out


def _training_step(assignment) -> str:
    """Where the student trains, in the lesson's words: "step 4", from the declaration."""
    if assignment.history is None:
        return "this notebook"
    step = assignment.step_of(assignment.history)
    return f"step {step}" if step is not None else f"how `{assignment.history}` was trained"


def check_run(context: Context, only=None):
    """`verify`, `training_run` and `review` in one call: what the grader's worker does per submission."""
    return verify(context, only), training_run(context), review(context)
