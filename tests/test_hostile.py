"""Hostile and broken submissions, graded by the real grader (sandbox, kernel, training).

Each case is a notebook written by a student who wants points without the work, or a file
that is simply broken. Its description says what the submission does and what the grader
must do. For every case the grader must give the score the real work earns, check by
check (usually 0 for what was faked, full points for what was really done), say why, and
keep going. All notebooks are graded in one batch, next to two honest solutions that must
keep 10/10 whatever runs beside them (that is also "the honest solution passes inside the
exact sandbox used for grading").

The cases are in tests/hostile/cases.py, their cell sources in tests/hostile/cells.py. The
batch takes about 4 minutes on 2 cores (two endless cases use their whole 60 s). The same
kinds of hostile input are fed to single parts, without training, in the unit tests beside
each part: tests/test_intake.py, test_evidence.py, test_measure.py, test_sandbox.py.
"""

import contextlib
import hashlib
import html
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.grade import Submission, grade, results_json
from autograder.sandbox import BASE_UID
from conftest import host_pids_of
from course import exercise
from hostile import cells
from hostile.cases import CASES, CHECKS, HONEST, HONEST_2, LIMITS

# --- The batch -------------------------------------------------------------------------------

def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


PROTECTED = [exercise.reference_file, exercise.source_notebook, exercise.release_notebook, *sorted(exercise.checks_dir.glob("*.py"))]


@dataclass
class Batch:
    results: dict  # case id -> Result
    seconds: float
    host_before: dict
    host_after: dict
    sandbox_pids_after: list


def grade_cases(cases, folder: Path, *, jobs=2, limits=LIMITS) -> Batch:
    """Write each case's submission under `folder` and grade them all in one batch."""
    submissions = []
    for number, case in enumerate(cases):
        (folder / f"{number:02d}").mkdir(parents=True)
        path = case.build(folder / f"{number:02d}" / "callbacks.ipynb")
        submissions.append(Submission(case.id, path))
    watched = PROTECTED + [Path(p) for p in cells.WRITE_TARGETS]
    Path(cells.PLANTED_MARKER).unlink(missing_ok=True)
    before = {str(p): digest(p) for p in watched}
    started = time.monotonic()
    results = grade(submissions, exercise, jobs=jobs, limits=limits)
    seconds = time.monotonic() - started
    after = {str(p): digest(p) for p in watched}
    # Hold the slots' uids (waiting for any other grader on this host to finish its run on them):
    # a process of these uids now can only be a leftover of this batch.
    with contextlib.ExitStack() as claims:
        for uid in range(BASE_UID, BASE_UID + jobs):
            claims.enter_context(sandbox._claim_uid(uid))
        leftovers = host_pids_of(set(range(BASE_UID, BASE_UID + jobs)))
    return Batch({r.submission: r for r in results}, seconds, before, after, leftovers)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_cases(CASES, tmp_path_factory.mktemp("hostile"))


def describe(result):
    return "\n".join([f"{result.submission}: {result.score}/{result.max_score} ({result.status}, {result.message}, "
                      f"{result.seconds:.0f} s)"]
                     + [f"  {t.name}: {t.score}/{t.max_score} {t.status}\n    {t.output}" for t in result.tests])


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_case_gets_what_its_work_earns(case, batch):
    """Exactly the points its real work earns, check by check, with its status and a reason for each check."""
    result = batch.results[case.id]
    scores = {test.name: test.score for test in result.tests}
    assert scores == case.scores, f"{case.what}\n{describe(result)}"
    assert result.score == sum(case.scores.values()) and result.max_score == sum(CHECKS.values()), describe(result)
    assert result.status == case.status, describe(result)
    for test in result.tests:
        assert test.status == ("passed" if test.score == test.max_score else "failed"), describe(result)
        assert test.output.strip(), f"{test.name} gives no reason:\n{describe(result)}"
    outputs = {test.name: test.output for test in result.tests} | {"message": result.message or ""}
    for where, text in case.messages.items():
        assert text in outputs[where], f"{where} should say {text!r}:\n{describe(result)}"


@pytest.mark.slow
def test_honest_solutions_pass_in_the_grading_sandbox(batch):
    """The solution gets 10/10 inside the exact sandbox used for grading, in every batch position."""
    for name in (HONEST, HONEST_2):
        result = batch.results[name]
        assert (result.score, result.status, result.message) == (10, "graded", None), describe(result)
        assert result.seconds < LIMITS.wall_seconds


@pytest.mark.slow
def test_nothing_hidden_reaches_any_result(batch):
    """No result (the students' feedback) contains the reference values or the hidden checks' source."""
    text = results_json(list(batch.results.values()))
    json.loads(text)
    # (The reference loss itself may appear: an honest run's own checkpoint measures it.)
    secrets = ["python -m autograder reference", '"canonical"', "def test_", "import pytest", "REL_TOL ="]
    for secret in secrets:
        assert secret not in text


@pytest.mark.slow
def test_results_are_strict_json_and_every_page_is_written(batch, tmp_path):
    """Whatever values the runs exported, is results.json strict JSON, and does every submission get its page
    and a row of the class report?"""
    from autograder.class_report import write_class_report
    from autograder.feedback import write_feedback

    def refuse(constant):
        raise ValueError(f"results.json holds {constant}, which strict JSON readers refuse")

    results = list(batch.results.values())
    json.loads(results_json(results), parse_constant=refuse)
    pages = write_feedback(results, tmp_path / "feedback", exercise)
    assert set(pages) == set(batch.results)
    report = write_class_report(results, tmp_path / "class-report.html", exercise, feedback_dir=tmp_path / "feedback",
                                grading_seconds=batch.seconds)
    text = report.read_text()
    assert all(html.escape(name) in text for name in batch.results if name == html.escape(name))


@pytest.mark.slow
def test_no_run_sees_the_graders_pid_or_folders(batch):
    """What a run could read of the processes and mounts around it names neither the grader's pid nor its folders."""
    output = next(t.output for t in batch.results["error message quotes the sandbox's command line"].tests
                  if t.name == "reload_val_loss")
    traces = output.split(cells.LEAK_MARK, 1)[1].split("]", 1)[0].split()
    assert str(os.getpid()) not in traces
    assert not [t for t in traces if "sandbox-" in t or t.startswith(str(Path(tempfile.gettempdir()) / "autograder-"))]


@pytest.mark.slow
def test_host_files_and_processes_untouched(batch):
    """The grader's files keep their bytes, nothing was created outside the runs, no sandbox process is left."""
    assert batch.host_after == batch.host_before
    for path in cells.WRITE_TARGETS:
        if batch.host_before[path] is None:
            assert not Path(path).exists(), path
    assert not Path(cells.PLANTED_MARKER).exists(), "code planted by a run was executed by the grader"
    assert batch.sandbox_pids_after == []


@pytest.mark.slow
def test_refused_files_cost_nothing(batch):
    refused = [r for r in batch.results.values() if r.status == "refused"]
    assert refused and all(r.seconds == 0 for r in refused)
