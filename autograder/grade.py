"""Grade submissions: intake, run in a sandbox, collect evidence, verify, score, report.

Each step is its own module; this one only puts them in order for many submissions:

1. intake (`autograder.intake`): only the .ipynb, checked and rebuilt clean;
2. run (`autograder.runner`): in a fresh folder, by a runner (its own sandbox, by default);
3. evidence (`autograder.evidence`): what the run left, read as untrusted data;
4. verify and score (`autograder.verify`): the hidden suite, in a worker process that
   never ran student code;
5. report (`autograder.report`): results written by this (trusted) process only, atomically.

Runs go in parallel (`jobs` sandboxes at once); verification is quick and goes through
one long-lived worker, so TensorFlow is imported once per batch, not once per student.
A submission gives its sandbox back as soon as its notebook has run, so its verification
overlaps the next run instead of adding to it.
"""

import concurrent.futures
import csv
import functools
import io
import json
import math
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import autograded, intake, measure
from .assignment import Assignment
from .submissions import Submission, find_submissions  # noqa: F401 (find_submissions: part of this module's API)
from .untrusted_text import spreadsheet, terminal
from .run import NOTEBOOK
from .runner import Runner, make_runner
from .sandbox import Limits
from .verify import CheckResult, Context, check_run
from .messages import Code, Message
from .status import Status


@dataclass
class Result:
    """One submission's grade, in the shape of Gradescope's results plus what happened."""

    submission: str
    assignment: str  # the assignment's name: results, sheets, gradebook and reports are per assignment
    score: float
    max_score: float
    tests: list
    status: Status = Status.GRADED
    message: str | None = None
    seconds: float = 0.0
    training: dict = field(default_factory=dict)  # curves and measured checkpoint loss, for feedback
    review: list = field(default_factory=list)  # why a person should look at it (grader's sentences)
    student: str | None = None  # nbgrader's student id, where the submitted/ layout names a valid one
    submitted_at: str | None = None  # ISO 8601, UTC: when nbgrader's exchange says it was submitted
    # The run's cells and outputs (autograded.ran), kept past the work folder for nbgrader's
    # autograded notebook; not in the results file. None: nothing ran.
    cells: list | None = field(default=None, repr=False)

    def to_dict(self):
        return {
            "submission": self.submission, "assignment": self.assignment, "score": self.score, "max_score": self.max_score,
            "status": self.status, "message": self.message, "seconds": round(self.seconds, 2),
            "tests": [test.to_dict() for test in self.tests],
            "training": self.training, "review": self.review, "student": self.student,
            "submitted_at": self.submitted_at,
        }


def failed_checks(assignment: Assignment, message: str) -> list[CheckResult]:
    """Every check of `assignment` at 0 points with the same explanation (nothing was checked)."""
    said = [Message(Code.NOT_CHECKED, message)]
    return [CheckResult.failed(name, points, said) for name, points in assignment.checks.items()]


def _quiet_worker(grader: int | None = None):
    """Keep TensorFlow's and Keras's notices out of the grader's terminal; end with the grader (its pid)."""
    import warnings

    import resource

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.filterwarnings("ignore")
    # Weights and event files are parsed here: bound what a hostile one can make it allocate.
    resource.setrlimit(resource.RLIMIT_AS, (VERIFIER_MEMORY_BYTES, VERIFIER_MEMORY_BYTES))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if grader is not None:
        threading.Thread(target=_end_when_orphaned, args=(grader,), daemon=True).start()


def _end_when_orphaned(grader: int):
    # A grader that is killed (a Dask worker that dies, kill -9) cannot shut its verifier down, and
    # an idle verifier would wait on its queue for ever, holding TensorFlow's 0.6 GB: it leaves itself.
    while os.getppid() == grader:
        time.sleep(1.0)
    os._exit(0)


def _nothing_back(function):
    """Call `function` in the worker; return None (what an assignment's setup holds, TensorFlow's objects, cannot be pickled)."""
    function()


VERIFIER_MEMORY_BYTES = 8 * 2**30  # address space; TensorFlow alone reserves a few GiB of it
VERIFIER_SECONDS = 120.0  # one submission's checks take about a second once TensorFlow is loaded
VERIFIER_START_SECONDS = 600.0  # a fresh worker importing TensorFlow on a busy machine


class VerificationStopped(Exception):
    """The verifier was killed while it worked on one submission's files (they hung or crashed it)."""


class Grader:
    """Grades submissions of one assignment from any number of threads; `runner` runs their
    notebooks (autograder.runner: at most its `jobs` at once, sandboxed or not).

    `check` and `warm_up` are what the verifier worker runs (per submission, and once when it
    starts; default check_run and measure.warm_up of the assignment, looked up when the grader
    is made); they are parameters so that tests can give a worker a check that hangs.
    """

    def __init__(self, scratch: Path, assignment: Assignment, runner: Runner, *, check=None, warm_up=None,
                 verifier_seconds: float | None = None):
        self.scratch, self.assignment, self.runner = scratch, assignment, runner
        self._check = check or check_run
        self._warm_up = warm_up or functools.partial(measure.warm_up, assignment)
        self.verifier_seconds = verifier_seconds or VERIFIER_SECONDS
        # One submission at a time in the worker: its time limit then counts its own
        # verification only, and a kill stops no other submission's work.
        self._lock = threading.Lock()
        self._verifier, self._ready = self._start_verifier()

    def _start_verifier(self):
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker, initargs=(os.getpid(),))
        # Import TensorFlow while the first notebooks run; it is waited for before any submission's time starts.
        return pool, pool.submit(_nothing_back, self._warm_up)

    def _restart_verifier(self):
        # ProcessPoolExecutor cannot stop a busy worker (before Python 3.14): kill it.
        for process in list(self._verifier._processes.values()):
            process.kill()
        self._verifier.shutdown(wait=False, cancel_futures=True)
        self._verifier, self._ready = self._start_verifier()

    def _verify(self, context: Context):
        """`check(context)` in the worker, within `verifier_seconds` of its own start.

        Raises VerificationStopped when it hung or crashed the worker; the worker is then
        replaced, and submissions waiting for it are verified by the new one.
        """
        with self._lock:
            if self._ready is not None:
                try:
                    # The worker's start is the grader's own business, not this submission's.
                    self._ready.result(timeout=VERIFIER_START_SECONDS)
                except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError) as error:
                    self._restart_verifier()
                    raise RuntimeError(f"the grader's verifier did not start within {VERIFIER_START_SECONDS:g} s "
                                       f"({type(error).__name__})") from None
                self._ready = None
            try:
                return self._verifier.submit(self._check, context).result(timeout=self.verifier_seconds)
            except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError) as error:
                self._restart_verifier()
                what = (f"did not finish within {self.verifier_seconds:g} s"
                        if isinstance(error, concurrent.futures.TimeoutError) else "crashed")
                raise VerificationStopped(
                    f"The grader's reader {what} on the files this notebook left behind (TensorBoard logs, "
                    "weights files), so it was stopped and nothing was checked; your instructor will look at them."
                ) from None

    def close(self):
        self._verifier.shutdown()
        self.runner.close()

    def grade(self, submission: Submission, index: int) -> Result:
        """Intake, run, verify: one submission's result (its grader errors are the caller's to catch)."""
        try:
            notebook, grade_ids = intake.cleaned(intake.read_notebook(submission.path), self.assignment)
        except intake.Refused as refused:
            return refused_result(submission, self.assignment, refused)
        return self.grade_clean(submission.name, notebook, grade_ids, index)

    def grade_clean(self, name: str, notebook, grade_ids, index: int) -> Result:
        """Run and verify a notebook that intake made (`intake.cleaned`), in work folder number `index`.

        The part of grading that runs student code: a distributed grader calls it where the runner is.
        """
        assignment = self.assignment
        max_score = assignment.max_score
        work = self.scratch / f"{index:04d}" / "work"
        try:
            # The run sees the release's files (the data) and the clean notebook, nothing else.
            shutil.copytree(assignment.release_dir, work, ignore=shutil.ignore_patterns("*.ipynb"))
            (work / NOTEBOOK).write_text(json.dumps(notebook))
            run = self.runner.run(work, keep=assignment.keep)
            # The checks read the cells as the grader cleaned them, never the file the run could rewrite;
            # each check names the errors of its own step's cells, read from the executed notebook.
            sources = tuple((cell.cell_type, cell.source) for cell in notebook.cells)
            limit = self.runner.limits.wall_seconds if run.timed_out else None
            try:
                tests, training, review = self._verify(
                    Context(assignment, work, run.started_at, run.problem, run.not_kept, sources, limit))
            except VerificationStopped as stopped:
                return Result(name, assignment.name, 0.0, max_score, failed_checks(assignment, str(stopped)),
                              Status.VERIFICATION_STOPPED, str(stopped), run.seconds,
                              cells=autograded.ran(notebook, grade_ids, work))
            cells = autograded.ran(notebook, grade_ids, work)
        finally:
            # What the run left is read by now: the host keeps at most one work folder per thread.
            shutil.rmtree(work.parent, ignore_errors=True)
        status = Status.TIMED_OUT if run.timed_out else Status.CRASHED if run.problem else Status.GRADED
        score = sum(test.score for test in tests)
        return Result(name, assignment.name, score, max_score, tests, status, run.problem, run.seconds,
                      training, review, cells=cells)


def refused_result(submission: Submission, assignment: Assignment, refused: Exception) -> Result:
    """Intake refused the file: every check at 0 with the reason."""
    return Result(submission.name, assignment.name, 0.0, assignment.max_score, failed_checks(assignment, str(refused)),
                  Status.REFUSED, str(refused))


def grader_error(name: str, assignment: Assignment, error: str) -> Result:
    """The grader itself failed on this submission (and only on it): 0, and a person looks."""
    return Result(name, assignment.name, 0.0, assignment.max_score,
                  failed_checks(assignment, "The grader failed on this submission; your instructor will look at it."),
                  Status.GRADER_ERROR, error)


def finish(result: Result, submission: Submission) -> Result:
    """What the submission's folder says (nbgrader's student id, timestamp, layout problems), added to its result."""
    result.student = submission.student
    result.submitted_at = submission.timestamp.isoformat() if submission.timestamp else None
    result.review = [*submission.review, *result.review]
    return result


def grade(submissions, assignment: Assignment, *, jobs: int | None = None, sandbox: bool = True,
          limits: Limits = Limits(), progress=None, runner: Runner | None = None) -> list[Result]:
    """Grade `submissions` of `assignment` on this machine, `jobs` notebooks at once; results in the same order.

    `runner` runs the notebooks (default: a SandboxRunner of `jobs` slots, or a LocalRunner when
    not `sandbox`); `progress(result)` is called as each submission is done.
    Raises SandboxUnavailable when the runner cannot work here.
    """
    from .sandbox import SandboxUnavailable

    jobs = jobs or os.cpu_count() or 1
    runner = runner or make_runner(sandbox=sandbox, jobs=jobs, limits=limits, preload=assignment.preload)
    if reason := runner.unavailable():
        raise SandboxUnavailable(f"Cannot grade untrusted notebooks without a sandbox: {reason}.")
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        grader = Grader(Path(scratch), assignment, runner)

        def one(index, submission):
            try:
                result = grader.grade(submission, index)
            except Exception as error:  # the grader's own failure: this submission only
                result = grader_error(submission.name, assignment, f"{type(error).__name__}: {error}")
            finish(result, submission)
            if progress:
                progress(result)
            return result

        # One thread more than slots: one submission is verified while `jobs` notebooks run.
        with concurrent.futures.ThreadPoolExecutor(jobs + 1) as pool:
            try:
                return list(pool.map(one, range(len(submissions)), submissions))
            finally:
                # Before the pool's threads end: a sandbox dies with the thread that started it.
                grader.close()


def write_atomically(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=f".{path.name}.") as file:
        file.write(text)
    # Readable by all, as a file written with open() would be: nbgrader's release_feedback copies
    # pages to a shared exchange with their mode, and a temporary file's 0600 locks students out.
    os.chmod(file.name, 0o644)
    os.replace(file.name, path)


def json_safe(value, depth: int = 0):
    """`value` as strict JSON data: non-finite numbers and ints no float can hold become None.

    Why: results hold what a student's run exported (a history entry of 10 ** 4000, NaN);
    bare NaN or Infinity is not JSON, and such an int breaks every reader that wants a float.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return None
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if depth > 20:  # results are a few levels deep; deeper is not ours to keep
        return None
    if isinstance(value, dict):
        return {str(key): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, depth + 1) for item in value]
    try:  # NumPy scalars and the like
        return json_safe(value.item(), depth + 1)
    except Exception:
        return None


def _result_dict(result) -> dict:
    """`result.to_dict()` as strict JSON data; a result that cannot give one is written as a grader error."""
    try:
        return json_safe(result.to_dict())
    except Exception as error:  # one broken result must not cost the others their results file
        return {"submission": json_safe(str(getattr(result, "submission", "?"))),
                "assignment": json_safe(str(getattr(result, "assignment", "?"))), "score": 0.0,
                "max_score": json_safe(getattr(result, "max_score", None)), "status": Status.GRADER_ERROR,
                "message": f"This result could not be written ({type(error).__name__}); your instructor will look at it.",
                "seconds": 0.0, "tests": [], "training": {}, "review": []}


def results_json(results) -> str:
    """The results as strict JSON (no NaN or Infinity), one entry per submission."""
    return json.dumps([_result_dict(result) for result in results], indent=2, allow_nan=False) + "\n"


def check_names(results) -> list:
    """The checks the results hold, in the order the first result that has each lists it."""
    return list(dict.fromkeys(test.name for result in results for test in result.tests))


def grade_sheet(results) -> str:
    """A CSV with one row per submission: total, then each check's points (one assignment's results)."""
    names = check_names(results)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "score", "max_score", "status", *names])
    for result in results:
        points = {test.name: test.score for test in result.tests}
        writer.writerow([spreadsheet(result.submission), result.score, result.max_score, spreadsheet(result.status),
                         *(points.get(n, 0) for n in names)])
    return out.getvalue()


def table(results) -> str:
    """A plain-text grade table: one row per submission, one column per check (one assignment's results)."""
    names = check_names(results)
    shown = {id(r): terminal(r.submission) for r in results}  # names come from students' folders
    width = max([len("submission"), *map(len, shown.values())])
    header = f"{'submission':<{width}}  {'score':>9}  " + "  ".join(names) + "  status"
    rows = [header, "-" * len(header)]
    for result in results:
        points = {test.name: test for test in result.tests}
        marks = "  ".join(f"{('ok' if points[n].status == 'passed' else '--') if n in points else '':^{len(n)}}" for n in names)
        rows.append(f"{shown[id(result)]:<{width}}  {result.score:>4g}/{result.max_score:<4g}  {marks}  {terminal(result.status)}")
    return "\n".join(rows)
