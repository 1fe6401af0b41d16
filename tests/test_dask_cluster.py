"""Grading on a Dask cluster (autograder.dask_cluster) gives what grading on this machine gives.

The slow tests share one LocalCluster of two single-threaded worker processes (allowed
failures 1, so a task is tried twice at most) and one class: the solution, a byte-identical
copy of it under another name, two named mistakes (tests/cases/callbacks.py), a hostile
notebook that reaches for the other worker's files and processes, and a file that is not a
notebook. The class is also graded locally (jobs=2), once, to compare.
"""

import dataclasses
import glob
import os
import re
import signal
import threading
import time

import nbformat
import psutil
import pytest

from autograder import course_files
from autograder.class_report import attention
from autograder.dask_cluster import (ClusterUnfit, check_versions, code_digest, connect, from_wire, grade_on_cluster,
                                     plain, to_wire, version_mismatch)
from autograder.grade import Result, Submission, grade
from autograder.messages import Code, Message
from autograder.sandbox import BASE_UID
from autograder.status import Status
from autograder.verify import CheckResult
from course import exercise
from hostile import cells
from hostile.cases import all_but
from notebooks import submission, write
from cases import named
from cases.callbacks import MISTAKES
SOLUTION, COPY, HOSTILE, REFUSED = ("solution", "solution, byte-identical copy", "hostile: reaches for other workers",
                                    "not a notebook")
TWO_MISTAKES = ("patience 3", "only early_stopping passed to fit")

# After honest work, step 5 writes into every place of the host where a worker keeps something
# (other runs' work folders, the unpacked checks, Dask's scratch space, the slot locks), then
# SIGKILLs every process it can see and every one it may signal.
REACH_OTHER_WORKERS = cells.RELOAD_SOLUTION + cells.code("""
    import glob, os, signal
    places = ["/tmp/autograder-courses", "/tmp/dask-scratch-space", "/tmp/autograder-worker-slots",
              "/tmp/autograder-sandbox-uids"]
    for pattern in ("/tmp/autograder-dask-*/*/work", "/tmp/autograder-dask-*/*/work/checkpoints",
                    "/tmp/autograder-courses/*/assignments/*/grading/checks", "/tmp/dask-scratch-space/*"):
        places += glob.glob(pattern)
    for place in places:
        try:
            os.makedirs(place, exist_ok=True)
            with open(os.path.join(place, "pwned_by_a_student.py"), "w") as file:
                file.write("import os; os.system('echo pwned')\\n")
        except OSError:
            pass
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    os.kill(-1, signal.SIGKILL)
""")


# --- Without a cluster -----------------------------------------------------------------------

def _versions(worker_keras="3.15.1"):
    packages = {"python": "3.11.2.final.0", "dask": "2026.8.0", "distributed": "2026.8.0", "keras": "3.15.1"}
    return {"scheduler": {"packages": dict(packages)},
            "workers": {"tcp://10.0.0.2:40000": {"packages": {**packages, "keras": worker_keras}}},
            "client": {"packages": dict(packages)}}


def test_equal_versions_pass():
    """Client, scheduler and workers with the same software: no complaint."""
    assert version_mismatch(_versions()) is None


def test_a_worker_with_other_software_is_refused_with_the_table():
    """A worker with another Keras: the message says what must hold and shows what each side has."""
    problem = version_mismatch(_versions(worker_keras="3.9.0"))
    assert problem.startswith("The Dask cluster must run the grader's software"), problem
    assert "keras" in problem and "3.15.1" in problem and "3.9.0" in problem, problem


def test_results_travel_as_plain_data_and_come_back_equal():
    """A Result goes to plain data (no enum, tuple or NumPy value) and back to an equal Result."""
    import numpy

    result = Result("ada", exercise.name, 8.0, 10.0,
                    [CheckResult("early_stopping", 1.0, 1.0, "passed", output="ok"),
                     CheckResult.failed("stopped_early", 2.0, [Message(Code.STALE_FILE, "old file")])],
                    Status.CRASHED, "the kernel died", 3.25, {"val_loss": [0.5, numpy.float32(0.25)]}, ["look"],
                    cells=[{"grade_id": "a", "cell_type": "code", "source": "1",
                            "outputs": [nbformat.v4.new_output("stream", name="stdout", text="1\n")]}])
    wire = to_wire(result)
    assert wire == plain(wire) and type(wire["status"]) is str and type(wire["training"]["val_loss"][1]) is float
    back = from_wire(wire)
    assert back.to_dict() == result.to_dict() and back.cells == result.cells
    assert back.tests[1].messages[0].code is Code.STALE_FILE  # the class report flags by code


def test_objects_of_a_run_cannot_travel():
    """Anything but plain data in a result is refused, naming its type."""
    with pytest.raises(TypeError, match="plain data only; got a builtins.object"):
        plain({"training": [object()]})


def test_course_archive_is_content_addressed(tmp_path):
    """The same course packs to the same bytes; unpacked, it is the same assignment; a wrong digest is refused."""
    digest, data = course_files.pack(exercise)
    assert course_files.pack(exercise) == (digest, data)
    course = course_files.unpack(data, digest, tmp_path)
    assert course == tmp_path / digest
    unpacked = type(exercise)(exercise.name, course)
    assert (unpacked.checks, unpacked.reference, unpacked.keep) == (exercise.checks, exercise.reference, exercise.keep)
    assert sorted(p.name for p in unpacked.checks_dir.glob("test_*.py")) == sorted(
        p.name for p in exercise.checks_dir.glob("test_*.py"))
    with pytest.raises(ValueError, match=f"must have SHA-256 {'0' * 64}; the one received has {digest}"):
        course_files.unpack(data, "0" * 64, tmp_path)


# --- On a LocalCluster -----------------------------------------------------------------------

# A run's TensorBoard folder is named after the minute and second it started (logs/fit/%Y%m%d-%H%M%S), and
# messages about its logs name it: two runs of one notebook differ there, locally too.
LOG_FOLDER_TIME = re.compile(r"\b\d{8}-\d{6}\b")


def outcome(result):
    """Everything a student or instructor gets from a result, except its timing and the log folder's time."""
    def same_time(value):
        if isinstance(value, str):
            return LOG_FOLDER_TIME.sub("<start time>", value)
        if isinstance(value, dict):
            return {key: same_time(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [same_time(item) for item in value]
        return value

    return same_time({
        "submission": result.submission, "score": result.score, "max_score": result.max_score,
        "status": result.status, "message": result.message, "training": result.training, "review": result.review,
        "tests": [(t.name, t.score, t.max_score, t.status, t.output, [(m.code, m.text) for m in t.messages])
                  for t in result.tests],
        "cells": result.cells})


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The class: [Submission], each in its own folder."""
    folder = tmp_path_factory.mktemp("class")
    notebooks = {SOLUTION: submission(), **{name: named(MISTAKES, name).notebook(exercise) for name in TWO_MISTAKES},
                 HOSTILE: submission(answer_reload=REACH_OTHER_WORKERS)}
    paths = {name: write(notebook, folder / f"{index}" / "callbacks.ipynb")
             for index, (name, notebook) in enumerate(notebooks.items())}
    (folder / "copy").mkdir()
    (folder / "copy" / "callbacks.ipynb").write_bytes(paths[SOLUTION].read_bytes())
    (folder / "refused").mkdir()
    (folder / "refused" / "callbacks.ipynb").write_text('{"cells": [')
    paths.update({COPY: folder / "copy" / "callbacks.ipynb", REFUSED: folder / "refused" / "callbacks.ipynb"})
    # The hostile one first, so that it runs while the other worker grades an honest notebook.
    order = [HOSTILE, SOLUTION, COPY, *TWO_MISTAKES, REFUSED]
    return [Submission(name, paths[name]) for name in order]


@pytest.fixture(scope="module")
def local(klass):
    """{name: Result} of the class graded on this machine; the copy's is the solution's under its own name."""
    results = {result.submission: result for result in grade([s for s in klass if s.name != COPY], exercise, jobs=2)}
    results[COPY] = dataclasses.replace(results[SOLUTION], submission=COPY)
    return results


@pytest.fixture(scope="module")
def client():
    with connect("local:2", allowed_failures=1) as client:
        yield client


@pytest.fixture(scope="module")
def on_cluster(client, klass):
    """({name: Result}, [names in the order progress saw them], the task stream: one record per task run)."""
    from distributed import get_task_stream

    seen = []
    with get_task_stream(client) as stream:
        results = grade_on_cluster(klass, exercise, client, progress=lambda result: seen.append(result.submission))
    return {result.submission: result for result in results}, seen, stream.data


@pytest.mark.slow
def test_cluster_gives_exactly_the_local_results(klass, local, on_cluster):
    """Scores, statuses, messages, training curves and cells: the same on two workers as on this machine."""
    results, _, _ = on_cluster
    assert list(results) == [s.name for s in klass]
    for name in results:
        assert outcome(results[name]) == outcome(local[name]), name


@pytest.mark.slow
def test_the_class_is_graded_as_its_notebooks_deserve(on_cluster):
    """The comparison above is a meaningful one: full marks, each mistake's checks, a crash, a refusal."""
    results, _, _ = on_cluster
    assert results[SOLUTION].score == results[COPY].score == 10
    for name in TWO_MISTAKES:
        failed = {t.name for t in results[name].tests if t.status != "passed"}
        assert failed == set(named(MISTAKES, name).fails), name
    hostile = results[HOSTILE]
    assert (hostile.status, {t.name: t.score for t in hostile.tests}) == (Status.CRASHED, all_but("reload_val_loss"))
    assert results[REFUSED].status == Status.REFUSED


@pytest.mark.slow
def test_identical_notebooks_of_two_students_are_both_run(on_cluster):
    """Two byte-identical notebooks are two tasks, each run by a worker (Dask merges tasks with one key)."""
    results, _, stream = on_cluster
    ran = [record["key"] for record in stream if str(record["key"]).startswith("autograder-")]
    assert len(ran) == len(set(ran)) == len(results) - 1  # every notebook but the refused file, once each
    assert results[SOLUTION].status == results[COPY].status == Status.GRADED


@pytest.mark.slow
def test_hostile_notebook_cannot_touch_the_other_worker(on_cluster):
    """While the hostile notebook ran on one worker, the other graded an honest one in full; nothing it wrote
    reached the host, and both workers are alive."""
    results, _, stream = on_cluster
    records = [r for r in stream if str(r["key"]).startswith("autograder-")]
    hostile = next(r for r in records if r["key"].endswith("-000000"))  # the first submission of the class
    start, stop = (lambda s: (s["start"], s["stop"]))(next(s for s in hostile["startstops"] if s["action"] == "compute"))
    beside = [r for r in records if r["worker"] != hostile["worker"]
              and any(s["action"] == "compute" and s["start"] < stop and s["stop"] > start for s in r["startstops"])]
    assert beside, "the hostile notebook must have run while the other worker graded another"
    assert glob.glob("/tmp/**/pwned_by_a_student.py", recursive=True) == []
    assert results[SOLUTION].score == results[COPY].score == 10


@pytest.mark.slow
def test_progress_counts_each_submission_as_it_is_done(klass, on_cluster):
    """The progress callback sees every submission once (the refused file at once, the rest as they finish)."""
    _, seen, _ = on_cluster
    assert sorted(seen) == sorted(s.name for s in klass) and seen[0] == REFUSED


def _executing(client):
    """{worker address: (its pid, [keys it is computing now])}, of the workers that answer (one may be dead)."""
    def now(dask_worker):
        return os.getpid(), [str(k) for k, ts in dask_worker.state.tasks.items() if ts.state == "executing"]
    return client.run(now, on_error="ignore")


def _running_a_notebook(pid):
    """The processes `pid` started, if one of them is a sandboxed run's (its uid is a slot's), else None."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
        return descendants if any(p.uids().real >= BASE_UID for p in descendants) else None
    except psutil.Error:
        return None


def _gone(process):
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _kill_when_running(client, key_end, timeout=600.0):
    """SIGKILL the worker process computing the task whose key ends in `key_end`, once its sandbox runs the
    notebook; the processes it had started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, keys in _executing(client).values():
            if any(key.endswith(key_end) for key in keys) and (started := _running_a_notebook(pid)):
                os.kill(pid, signal.SIGKILL)
                return started
        time.sleep(0.3)
    raise AssertionError(f"no worker ran the notebook of the task ending in {key_end} within {timeout:g} s")


@pytest.mark.slow
def test_a_worker_killed_mid_task_costs_no_other_submission_anything(client, tmp_path):
    """Three honest notebooks; the worker running the second is killed while it runs, then again on its retry.

    Allowed failures 1: the second death makes that submission a grader error, listed for a person;
    the other two are graded in full, the one beside it on the other worker and the one after.
    What the killed workers had started (sandbox, verifier) does not outlive them.
    """
    path = write(submission(), tmp_path / "callbacks.ipynb")
    class_ = [Submission(f"student {index}", path) for index in range(3)]
    graded = {}
    grading = threading.Thread(target=lambda: graded.update(results=grade_on_cluster(class_, exercise, client)))
    grading.start()
    try:
        killed = [_kill_when_running(client, "-000001")]
        killed.append(_kill_when_running(client, "-000001"))
    finally:
        grading.join(timeout=900)
    first, second, third = graded["results"]
    assert (first.score, third.score) == (10, 10), (first, third)
    assert second.status == Status.GRADER_ERROR and "KilledWorker" in second.message, second
    assert attention(second)[0].startswith("grader error: KilledWorker"), attention(second)
    started = [process for processes in killed for process in processes]
    deadline = time.monotonic() + 30
    while not all(map(_gone, started)) and time.monotonic() < deadline:
        time.sleep(1)
    assert [(p.pid, p.name()) for p in started if not _gone(p)] == []


class FakeClient:
    """Answers the version questions as a cluster whose worker has `worker_keras` and whose scheduler runs `scheduler_code`."""

    def __init__(self, worker_keras="3.15.1", scheduler_code=None):
        self.worker_keras, self.scheduler_code = worker_keras, scheduler_code

    def get_versions(self, packages):
        return _versions(self.worker_keras)

    def run(self, function, on_error="raise"):
        return {"tcp://10.0.0.2:40000": function()}

    def run_on_scheduler(self, function):
        if self.scheduler_code is None:
            raise ModuleNotFoundError("No module named 'autograder.dask_cluster'")
        return self.scheduler_code


def test_same_software_everywhere_passes_the_check():
    """A cluster that runs this grader and these packages everywhere is accepted."""
    check_versions(FakeClient(scheduler_code=code_digest()))


def test_version_mismatch_stops_before_anything_is_sent():
    """A worker with another Keras: ClusterUnfit, with the table."""
    with pytest.raises(ClusterUnfit, match=r"These differ:\n(.|\n)*keras *\| 3.15.1 *\| 3.15.1 *\| 3.9.0"):
        check_versions(FakeClient(worker_keras="3.9.0", scheduler_code=code_digest()))


def test_a_scheduler_without_this_grader_is_named():
    """The scheduler unpickles the tasks: one without this grader is refused before any is sent."""
    with pytest.raises(ClusterUnfit, match=r"autograder \(code\): scheduler none \(ModuleNotFoundError\), client "):
        check_versions(FakeClient())
