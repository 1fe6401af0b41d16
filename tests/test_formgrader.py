"""Manual grading in a real formgrader after `python -m autograder grade submitted --gradebook` alone."""

import contextlib
import csv
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from nbgrader.api import Gradebook

import autograder

from course import exercise
from conftest import BIN, nbgrader
from notebooks import submission, write

pytestmark = pytest.mark.slow

# The written answer is the student's own markdown: with raw HTML in it, it must not run in the
# instructor's formgrader page (logged in, it could change grades through formgrader's API).
WRITTEN = ("Because EarlyStopping kept training FORMGRADER-MARK epochs past the best one. "
           "<script>document.title = 'HOSTILE-SCRIPT'</script><img src=x onerror=\"alert('HOSTILE-HANDLER')\">")
SERVER_START_SECONDS = 90


def env_of(course):
    """The environment of a command run in `course`: nbgrader's PATH, and the autograder package
    under test (the virtual environment's own install may be another checkout's)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NBGRADER_COURSE_ROOT": str(course),
            "PYTHONPATH": str(Path(autograder.__file__).parent.parent)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def formgrader(course):
    """A real `jupyter server` with nbgrader's formgrader, on 127.0.0.1, token auth; stopped on exit.

    Yields a requests session that authenticates as formgrader's own JavaScript does (the
    token, then the _xsrf cookie echoed in X-XSRFToken) and the server's base URL.
    """
    port, token = free_port(), secrets.token_hex(16)
    command = [str(BIN / "jupyter"), "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(course / "formgrader.log", "w")
    server = subprocess.Popen(command, cwd=course, env=env_of(course), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            assert server.poll() is None, f"jupyter server exited with {server.returncode}: {(course / 'formgrader.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"formgrader did not answer within {SERVER_START_SECONDS} s"
            with contextlib.suppress(requests.ConnectionError):
                if session.get(f"{base}/formgrader/api/status", timeout=10).status_code == 200:
                    break
            time.sleep(0.5)
        session.get(f"{base}/formgrader", timeout=30)  # sets the _xsrf cookie, as opening the page does
        session.headers["X-XSRFToken"] = session.cookies.get("_xsrf", "")
        yield session, base
    finally:
        session.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_the_written_question_is_graded_in_formgrader_after_our_grader(course):
    """After `grade submitted --gradebook` (no `nbgrader autograde`), can the instructor open the
    submission in formgrader, see the written answer, grade it there, and export the total?"""
    nbgrader(course, "generate_assignment", exercise.name)
    write(submission(val_loss_question=WRITTEN), course / "submitted" / "alice" / exercise.name / "callbacks.ipynb")
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--json", "results.json",
                             "--gradebook", "--jobs", "1", "--quiet"],
                            cwd=course, env=env_of(course), capture_output=True, text=True, timeout=900)
    assert graded.returncode == 0, f"grade exited with {graded.returncode}: {graded.stderr[-3000:]}"
    (result,) = json.loads((course / "results.json").read_text())
    assert result["score"] == 10.0, result

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", exercise.course_id) as gradebook:
        submission_id = gradebook.find_submission_notebook("callbacks", exercise.name, "alice").id

    with formgrader(course) as (session, base):
        page = session.get(f"{base}/formgrader/submissions/{submission_id}/", timeout=60)
        assert page.status_code == 200, f"the submission's page must open; got HTTP {page.status_code}"
        # Formgrader's "Manual Grading" list shows only submissions whose autograded notebook exists.
        listed = session.get(f"{base}/formgrader/api/submitted_notebooks/{exercise.name}/callbacks", timeout=30).json()
        assert [(n["id"], n["student"], n["needs_manual_grade"]) for n in listed] == [(submission_id, "alice", True)], listed
        assert "FORMGRADER-MARK" in page.text, "the page must show the written answer"
        # The student's tags show as text: no <script> or tag with a handler forms from them.
        assert "&lt;script&gt;document.title" in page.text, "the written answer must still show what the student wrote"
        for hostile in (r"<script>document\.title", r"<img[^>]*onerror"):
            found = re.search(hostile, page.text)
            assert not found, f"the written answer's HTML must not run in the instructor's page: {found and page.text[found.start() - 200:found.end() + 100]!r}"
        assert 'id="val_loss_question"' in page.text, "the written answer must have formgrader's score box"

        grades = session.get(f"{base}/formgrader/api/grades", params={"submission_id": submission_id}, timeout=30).json()
        (written,) = [grade for grade in grades if grade["name"] == "val_loss_question"]
        assert written["auto_score"] is None and written["needs_manual_grade"], written
        put = session.put(f"{base}/formgrader/api/grade/{written['id']}",
                          data=json.dumps({"manual_score": 1.5, "extra_credit": None}), timeout=30)
        assert put.status_code == 200, f"formgrader must take the manual grade; got HTTP {put.status_code}: {put.text[:500]}"
        assert put.json()["manual_score"] == 1.5 and not put.json()["needs_manual_grade"], put.json()

    nbgrader(course, "export")
    (row,) = csv.DictReader(open(course / "grades.csv"))
    assert (row["student_id"], float(row["raw_score"]), float(row["max_score"])) == ("alice", 11.5, 12.0), row
