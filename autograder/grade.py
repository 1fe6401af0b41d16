"""Grade submissions: intake, run in a sandbox, collect evidence, verify, score, report.

Each step is its own module; this one only puts them in order for many submissions:

1. intake (`autograder.intake`): only the .ipynb, checked and rebuilt clean;
2. run (`autograder.run`, `autograder.sandbox`): in a fresh folder, in its own sandbox;
3. evidence (`autograder.evidence`): what the run left, read as untrusted data;
4. verify and score (`autograder.verify`): the hidden suite, in a worker process that
   never ran student code;
5. report: results written by this (trusted) process only, atomically.

Runs go in parallel (`jobs` sandboxes at once); verification is quick and goes through
one long-lived worker, so TensorFlow is imported once per batch, not once per student.
A submission gives its sandbox back as soon as its notebook has run, so its verification
overlaps the next run instead of adding to it.
"""

import concurrent.futures
import csv
import io
import json
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import exercise, intake
from .submissions import Submission, find_submissions  # noqa: F401 (find_submissions: part of this module's API)
from .untrusted_text import spreadsheet, terminal
from .run import NOTEBOOK, run_notebook
from .sandbox import Limits, check_available
from .verify import CheckResult, Context, check_run


@dataclass
class Result:
    """One submission's grade, in the shape of Gradescope's results plus what happened."""

    submission: str
    score: float
    max_score: float
    tests: list
    status: str = "graded"  # graded, refused, timed out, crashed, grader error
    message: str | None = None
    seconds: float = 0.0
    training: dict = field(default_factory=dict)  # curves and measured checkpoint loss, for feedback
    review: list = field(default_factory=list)  # why a person should look at it (grader's sentences)
    student: str | None = None  # nbgrader's student id, where the submitted/ layout names a valid one

    def to_dict(self):
        return {
            "submission": self.submission, "score": self.score, "max_score": self.max_score,
            "status": self.status, "message": self.message, "seconds": round(self.seconds, 2),
            "tests": [test.to_dict() for test in self.tests],
            "training": self.training, "review": self.review, "student": self.student,
        }


def failed_checks(message: str) -> list[CheckResult]:
    """Every check at 0 points with the same explanation."""
    return [CheckResult(name, 0.0, points, "failed", f"- {message}") for name, points in exercise.checks().items()]


def _quiet_worker():
    """Keep TensorFlow's and Keras's notices out of the grader's terminal."""
    import warnings

    import resource

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    warnings.filterwarnings("ignore")
    # Weights and event files are parsed here: bound what a hostile one can make it allocate.
    resource.setrlimit(resource.RLIMIT_AS, (VERIFIER_MEMORY_BYTES, VERIFIER_MEMORY_BYTES))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


VERIFIER_MEMORY_BYTES = 8 * 2**30  # address space; TensorFlow alone reserves a few GiB of it
VERIFIER_SECONDS = 120.0  # one submission's checks take about a second once TensorFlow is loaded


class Grader:
    """Grades submissions from any number of threads, with at most `jobs` notebooks running at once."""

    def __init__(self, scratch: Path, *, jobs: int = 1, sandbox: bool = True, limits: Limits = Limits()):
        self.scratch, self.sandbox, self.limits = scratch, sandbox, limits
        self._slots = queue.SimpleQueue()  # sandbox slots (uids) free to run a notebook
        for slot in range(jobs):
            self._slots.put(slot)
        self._lock = threading.Lock()
        self._verifier = self._start_verifier()

    def _start_verifier(self):
        import multiprocessing

        pool = concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker)
        pool.submit(exercise.setup)  # import TensorFlow while the first notebooks run
        return pool

    def _verify(self, context: Context):
        with self._lock:
            verifier = self._verifier
        try:
            return verifier.submit(check_run, context).result(timeout=VERIFIER_SECONDS)
        except (concurrent.futures.process.BrokenProcessPool, concurrent.futures.TimeoutError):
            with self._lock:
                if self._verifier is verifier:
                    # ProcessPoolExecutor cannot stop a busy worker (before Python 3.14): kill it.
                    for process in list(verifier._processes.values()):
                        process.kill()
                    verifier.shutdown(wait=False, cancel_futures=True)
                    self._verifier = self._start_verifier()
            return failed_checks("The grader could not read the files this notebook left behind "
                                 "(reading them crashed or hung the grader's reader)."), {}, []

    def close(self):
        self._verifier.shutdown()

    def _run(self, work: Path):
        """Run the notebook in `work` as soon as a sandbox slot is free; the slot is freed right after."""
        slot = self._slots.get()
        try:
            return run_notebook(work, slot=slot, limits=self.limits, sandbox=self.sandbox)
        finally:
            self._slots.put(slot)

    def grade(self, submission: Submission, index: int) -> Result:
        max_score = sum(exercise.checks().values())
        try:
            notebook = intake.clean(intake.read_notebook(submission.path))
        except intake.Refused as refused:
            return Result(submission.name, 0.0, max_score, failed_checks(str(refused)), "refused", str(refused))
        work = self.scratch / f"{index:04d}" / "work"
        # The run sees the release's files (the data) and the clean notebook, nothing else.
        shutil.copytree(exercise.RELEASE_NOTEBOOK.parent, work, ignore=shutil.ignore_patterns("*.ipynb"))
        (work / NOTEBOOK).write_text(json.dumps(notebook))
        run = self._run(work)
        problem = " ".join(filter(None, [run.problem, run.first_error]))
        tests, training, review = self._verify(Context(work, run.started_at, problem or None, run.not_kept))
        status = "timed out" if run.timed_out else "crashed" if run.problem else "graded"
        score = sum(test.score for test in tests)
        return Result(submission.name, score, max_score, tests, status, run.problem, run.seconds, training, review)


def grade(submissions, *, jobs: int | None = None, sandbox: bool = True, limits: Limits = Limits(), progress=None) -> list[Result]:
    """Grade `submissions` with `jobs` sandboxes at once; results in the same order.

    Raises SandboxUnavailable when `sandbox` is asked for and none can be made here.
    """
    from .sandbox import SandboxUnavailable

    if sandbox and (reason := check_available()):
        raise SandboxUnavailable(f"Cannot grade untrusted notebooks without a sandbox: {reason}.")
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        grader = Grader(Path(scratch), jobs=jobs, sandbox=sandbox, limits=limits)

        def one(index, submission):
            try:
                result = grader.grade(submission, index)
            except Exception as error:  # the grader's own failure: this submission only
                result = Result(submission.name, 0.0, sum(exercise.checks().values()),
                                failed_checks("The grader failed on this submission; your instructor will look at it."),
                                "grader error", f"{type(error).__name__}: {error}")
            result.student = submission.student
            result.review = [*submission.review, *result.review]
            if progress:
                progress(result)
            return result

        try:
            # One thread more than slots: one submission is verified while `jobs` notebooks run.
            with concurrent.futures.ThreadPoolExecutor(jobs + 1) as pool:
                return list(pool.map(one, range(len(submissions)), submissions))
        finally:
            grader.close()


def write_atomically(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=f".{path.name}.") as file:
        file.write(text)
    os.replace(file.name, path)


def results_json(results) -> str:
    return json.dumps([result.to_dict() for result in results], indent=2) + "\n"


def grade_sheet(results) -> str:
    """A CSV with one row per submission: total, then each check's points."""
    names = list(exercise.checks())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "score", "max_score", "status", *names])
    for result in results:
        points = {test.name: test.score for test in result.tests}
        writer.writerow([spreadsheet(result.submission), result.score, result.max_score, spreadsheet(result.status),
                         *(points.get(n, 0) for n in names)])
    return out.getvalue()


def table(results) -> str:
    """A plain-text grade table: one row per submission, one column per check."""
    names = list(exercise.checks())
    shown = {id(r): terminal(r.submission) for r in results}  # names come from students' folders
    width = max([len("submission"), *map(len, shown.values())])
    header = f"{'submission':<{width}}  {'score':>9}  " + "  ".join(names) + "  status"
    rows = [header, "-" * len(header)]
    for result in results:
        points = {test.name: test for test in result.tests}
        marks = "  ".join(f"{('ok' if points[n].status == 'passed' else '--') if n in points else '':^{len(n)}}" for n in names)
        rows.append(f"{shown[id(result)]:<{width}}  {result.score:>4g}/{result.max_score:<4g}  {marks}  {terminal(result.status)}")
    return "\n".join(rows)
