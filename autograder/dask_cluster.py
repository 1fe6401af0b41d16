"""Grade on a Dask cluster: one task per submission, results identical to grading on this machine.

    with connect("local:2") as client:  # or connect("tcp://scheduler:8786")
        results = grade_on_cluster(submissions, assignment, client, progress=print)
    write_report(results, assignment, ...)  # the same report as a local batch

The client does the intake (only the clean notebook, plain data, leaves it); a worker runs the
notebook in its own warm sandbox and verifies it with its own verifier, the same `Grader` as a
local batch (autograder.grade), kept for every task of the batch. Only the Result comes back,
as plain data (`to_wire`): numbers, strings, lists and dicts, never an object of a run.

What Dask does not do, and the grader does here:
- Dask merges tasks with the same key, and a key derived from the arguments would make two
  byte-identical notebooks one task: every task gets its own key (batch and index).
- Dask has no task timeout: the sandbox's wall-clock limit stops a run; the verifier has its own.
- A worker's memory limit counts the worker process alone, not the sandbox and verifier it
  starts: memory is bounded by the sandbox (see README, "Grading on a Dask cluster"), and a
  local cluster turns Dask's memory-based pausing and killing off (memory_limit=0).
- A worker that dies while grading is replaced by its nanny; the scheduler runs its task
  again elsewhere, at most `allowed-failures` more times; then that submission alone is a
  "grader error" (for a person, on the class report).
- Workers on one host each take a sandbox uid no other grader or worker there holds (autograder.sandbox).
- Workers may not share the instructor's disk: the assignment's grading files and release
  folder go to each worker as one content-addressed archive (autograder.course_files), by a
  worker plugin, which also reaches workers that join or restart during the batch.
- Client, scheduler and workers must run the same software: checked before anything is sent.
"""

import contextlib
import hashlib
import json
import multiprocessing
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import nbformat
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, as_completed

from . import assignment as assignments, course_files, intake
from .assignment import Assignment
from .grade import Grader, Result, finish, grader_error, refused_result
from .messages import Code, Message
from .runner import SandboxRunner
from .sandbox import Limits, SandboxUnavailable
from .status import Status
from .verify import CheckResult

# A submission whose workers die this many times more than once is a grader error. Each death
# costs a worker restart (two TensorFlow imports, about 10 s of CPU); Dask's default is 3.
ALLOWED_FAILURES = 2
# What must be equal on client and workers beyond Dask's own packages: what decides a grade.
PACKAGES = ("keras", "tensorflow-cpu", "tensorboard", "numpy", "h5py", "nbformat", "nbclient", "ipykernel",
            "jupyter_client", "pytest")
CODE = "autograder (code)"  # the grader's own source, by digest: an editable install has no useful version
IN_FLIGHT = 64  # tasks sent ahead at least; twice the cluster's threads when it has more


class ClusterUnfit(RuntimeError):
    """The cluster cannot grade as it is; the message says what must hold and what was found."""


# --- Connecting ----------------------------------------------------------------------------------

@contextlib.contextmanager
def connect(address: str, *, allowed_failures: int = ALLOWED_FAILURES, worker_seconds: float = 120.0):
    """A Dask client: `local:N` starts a LocalCluster of N single-threaded worker processes here
    (closed on exit, with `allowed_failures`); any other address is a running scheduler's, whose
    own settings apply, and at least one worker must join within `worker_seconds`."""
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask local:N needs N, a number of workers of at least 1; got {address!r}")
        config = {
            # The grader's verifier is a child process of the worker; daemonic processes may have none.
            "distributed.worker.daemon": False,
            "distributed.scheduler.allowed-failures": allowed_failures,
            # One task per worker at a time, the others wait at the scheduler: a grading task takes
            # seconds, so a free worker takes the next one, and a worker that dies takes down (and
            # counts a failure against) only the submission it was running.
            "distributed.scheduler.worker-saturation": 1.0,
        }
        import dask

        # For the cluster's whole life: its nanny reads the worker settings again when it restarts one.
        with dask.config.set(config), LocalCluster(
                n_workers=int(count), threads_per_worker=1, processes=True, dashboard_address=None,
                # The worker process holds little; the sandbox and the verifier, its children, which
                # Dask does not count, hold the memory, and the sandbox bounds it.
                memory_limit=0) as cluster, Client(cluster) as client:
            yield client
    else:
        with Client(address) as client:
            try:
                client.wait_for_workers(1, timeout=worker_seconds)
            except TimeoutError:
                raise ClusterUnfit(f"the Dask cluster at {address} must have a worker; none joined within "
                                   f"{worker_seconds:g} s") from None
            yield client


# --- Software versions ---------------------------------------------------------------------------

def code_digest() -> str:
    """A digest of the grader's own files (autograder/): two installs grade alike when it is equal."""
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def check_versions(client: Client):
    """Raise ClusterUnfit unless scheduler, workers and this client run the same software."""
    versions = client.get_versions(packages=list(PACKAGES))
    # A worker whose grader has no such function (another version) answers with its error.
    codes = client.run(code_digest, on_error="return")
    versions["client"]["packages"][CODE] = code_digest()
    # The scheduler unpickles every task (the grader's function and limits): it needs the grader too.
    try:
        versions["scheduler"]["packages"][CODE] = client.run_on_scheduler(code_digest)
    except Exception as error:  # a scheduler without this grader cannot even unpickle the question
        versions["scheduler"]["packages"][CODE] = f"none ({type(error).__name__})"
    for worker, info in versions["workers"].items():
        if isinstance(info, dict):
            code = codes.get(worker)
            info["packages"][CODE] = code if isinstance(code, str) else f"none ({type(code).__name__})"
    if problem := version_mismatch(versions):
        raise ClusterUnfit(problem)


def version_mismatch(versions: dict) -> str | None:
    """What differs between the client, scheduler and workers of `versions` (Client.get_versions's
    shape), as a table; None when nothing does. The scheduler counts for Dask's own packages and
    the grader's code only (it runs no notebook).

    Why not get_versions(check=True): it only warns, and grades from mixed software would differ.
    """
    from distributed.versions import error_message

    table = error_message(versions["scheduler"], versions["workers"], versions["client"])["warning"]
    # Dask compares the scheduler's own packages only; the grader's code there matters too.
    ours, scheduler = versions["client"]["packages"].get(CODE), versions["scheduler"]["packages"].get(CODE, CODE)
    if CODE in versions["client"]["packages"] and scheduler != ours and CODE not in table:
        table += f"\n{CODE}: scheduler {scheduler}, client {ours}\n"
    if not table:
        return None
    return ("The Dask cluster must run the grader's software: the same Python, packages (requirements.lock) and "
            f"grader code on the scheduler, every worker and this client. These differ:\n{table}")


# --- What travels back ---------------------------------------------------------------------------

def plain(value):
    """`value` as plain data (None, bool, int, float, str, lists, dicts with str keys); raises TypeError
    for anything else, so that no object of a run (or of the grader) leaves a worker by pickle."""
    if value is None:
        return None
    for kind in (bool, int, float, str):  # exactly these types: a StrEnum becomes its string
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"a result's mappings must have str keys; got {sorted(map(repr, value))[:3]}")
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a NumPy scalar: its Python value
        return plain(value.item())
    raise TypeError(f"a result must hold plain data only; got a {type(value).__module__}.{type(value).__name__}")


def to_wire(result: Result) -> dict:
    """`result` as plain data: its results-file entry, with the exact time and the run's cells."""
    return plain({**result.to_dict(), "seconds": result.seconds, "cells": result.cells})


def from_wire(data: dict) -> Result:
    """The Result that `to_wire` gave `data` for."""
    tests = [CheckResult(test["name"], test["score"], test["max_score"], test["status"],
                         messages=tuple(Message(_code(m["code"]), m["text"]) for m in test["messages"]), output=test["output"])
             for test in data["tests"]]
    cells = data["cells"]
    if cells is not None:  # outputs as autograded.ran makes them (notebook nodes)
        cells = [{**cell, "outputs": [nbformat.from_dict(output) for output in cell["outputs"]]} for cell in cells]
    return Result(data["submission"], data["assignment"], data["score"], data["max_score"], tests,
                  Status(data["status"]), data["message"], data["seconds"], data["training"], data["review"],
                  data["student"], data["submitted_at"], cells=cells)


def _code(code: str):
    return Code(code) if code in Code._value2member_map_ else code


# --- The worker's side ---------------------------------------------------------------------------

class CourseFiles(WorkerPlugin):
    """Puts one assignment's grading files on every worker (now and joining later), unpacked once per host."""

    def __init__(self, digest: str, data: bytes):
        self.digest, self.data = digest, data
        self.name = f"autograder-course-{digest[:16]}"

    def setup(self, worker):
        course_files.unpack(self.data, self.digest)

    def teardown(self, worker):
        _close_grader(self.digest)


_current = None  # this worker process's (key, Grader, scratch folder): one assignment at a time
_current_lock = threading.Lock()


def grade_task(digest: str, name: str, submission: str, notebook: dict, grade_ids: list, index: int,
               limits: Limits) -> dict:
    """On a worker: run and verify one clean notebook (intake's, as plain data) of assignment `name`
    from the course archive `digest`; its Result as plain data (see to_wire)."""
    grader = _grader(digest, name, limits)
    try:
        result = grader.grade_clean(submission, nbformat.from_dict(notebook), grade_ids, index)
    except Exception as error:  # the grader's own failure: this submission only
        result = grader_error(submission, grader.assignment, f"{type(error).__name__}: {error}")
    return to_wire(result)


def _grader(digest: str, name: str, limits: Limits) -> Grader:
    """This worker's Grader for the assignment (its warm sandbox and verifier), made on its first task."""
    global _current
    from distributed import get_worker

    key = (digest, name, limits)
    with _current_lock:
        if _current is not None and _current[0] == key:
            return _current[1]
        _close_grader()
        if multiprocessing.current_process().daemon:
            raise ClusterUnfit(f"Dask worker {get_worker().address} must not be a daemonic process (the grader's "
                               "verifier is its child process): start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False")
        course = course_files.ROOT / digest
        if not course.is_dir():
            raise ClusterUnfit(f"Dask worker {get_worker().address} must hold the course archive {digest} "
                               "(the CourseFiles plugin unpacks it); it does not")
        exercise = assignments.get(name, course)
        runner = SandboxRunner(1, limits, exercise.preload)  # a uid no other grader or worker of the host holds
        if reason := runner.unavailable():
            raise SandboxUnavailable(f"Cannot grade untrusted notebooks on Dask worker {get_worker().address} "
                                     f"without a sandbox: {reason}.")
        scratch = Path(tempfile.mkdtemp(prefix="autograder-dask-"))
        _current = (key, Grader(scratch, exercise, runner), scratch)
        return _current[1]


def _close_grader(digest: str | None = None):
    """Stop this worker's Grader (of course `digest`, or any): its sandbox, its verifier, its scratch folder."""
    global _current
    if _current is None or digest not in (None, _current[0][0]):
        return
    _, grader, scratch = _current
    _current = None
    try:
        grader.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- The client's side ---------------------------------------------------------------------------

def grade_on_cluster(submissions, assignment: Assignment, client: Client, *, limits: Limits = Limits(),
                     progress=None) -> list[Result]:
    """Grade `submissions` of `assignment` on `client`'s cluster, one task each; results in the same order.

    `progress(result)` is called as each submission is done, in the order they finish. Raises
    ClusterUnfit when the cluster's software differs from this client's, and SandboxUnavailable
    when a worker cannot make a sandbox (the batch stops: nothing is graded unsandboxed).
    """
    check_versions(client)
    plugin = CourseFiles(*course_files.pack(assignment))
    client.register_plugin(plugin)
    batch = uuid.uuid4().hex[:12]
    results, futures = [None] * len(submissions), {}

    def done(index, result):
        results[index] = finish(result, submissions[index])
        if progress:
            progress(results[index])

    def send(index):
        """Intake submission `index` here; unless it is refused, send it to the cluster."""
        submission = submissions[index]
        try:
            notebook, grade_ids = intake.cleaned(intake.read_notebook(submission.path), assignment)
        except intake.Refused as refused:
            return done(index, refused_result(submission, assignment, refused))
        except Exception as error:  # the grader's own failure: this submission only
            return done(index, grader_error(submission.name, assignment, f"{type(error).__name__}: {error}"))
        # A key of its own: Dask would run two tasks with one key once (two students' identical notebooks).
        future = client.submit(grade_task, plugin.digest, assignment.name, submission.name,
                               json.loads(json.dumps(notebook)), grade_ids, index, limits,
                               key=f"autograder-{assignment.name}-{batch}-{index:06d}")
        futures[future] = index
        running.add(future)

    # A bounded number of notebooks in flight (the scheduler keeps each task's notebook, 0.1 MB, until it
    # is done): enough to keep every worker busy, without 5,000 notebooks in the scheduler's memory.
    waiting, running = iter(range(len(submissions))), as_completed()

    def fill():
        wanted = max(IN_FLIGHT, 2 * sum(client.nthreads().values()))
        while len(futures) < wanted and (index := next(waiting, None)) is not None:
            send(index)

    try:
        fill()
        for future in running:
            index = futures.pop(future)
            try:
                result = from_wire(future.result())
            except (SandboxUnavailable, ClusterUnfit):
                raise
            except KilledWorker as error:
                result = grader_error(submissions[index].name, assignment,
                                      f"KilledWorker: the Dask workers grading it died {error.allowed_failures + 1} "
                                      f"times (the scheduler's allowed-failures is {error.allowed_failures})")
            except Exception as error:  # lost to the cluster (a scheduler gone, ...): this submission only
                result = grader_error(submissions[index].name, assignment, f"{type(error).__name__}: {error}")
            done(index, result)
            fill()
    finally:
        client.cancel(list(futures))
        # Its teardown stops the workers' graders: their sandboxes and verifiers hold a uid and memory.
        client.unregister_worker_plugin(plugin.name)
    return results
