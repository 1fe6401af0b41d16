"""A real formgrader (a `jupyter server` with nbgrader's formgrader extension) over a test course,
and the course's submission graded by our grader alone: shared by the formgrader tests."""

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from nbgrader.api import Gradebook

import autograder

from conftest import BIN, nbgrader
from course import exercise
from notebooks import submission, write

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
def formgrader(course, token=None):
    """A real `jupyter server` with nbgrader's formgrader, on 127.0.0.1, token auth (`token`, or a
    fresh one); stopped on exit.

    Yields a requests session that authenticates as formgrader's own JavaScript does (the
    token, then the _xsrf cookie echoed in X-XSRFToken) and the server's base URL.
    """
    port, token = free_port(), token or secrets.token_hex(16)
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


def graded_by_our_grader(course, written: str) -> str:
    """Alice's submission of the exercise, with `written` as her written answer, graded by
    `python -m autograder grade submitted --gradebook` alone (no `nbgrader autograde`): the id
    of her submitted callbacks notebook in the gradebook."""
    nbgrader(course, "generate_assignment", exercise.name)
    write(submission(val_loss_question=written), course / "submitted" / "alice" / exercise.name / "callbacks.ipynb")
    graded = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--json", "results.json",
                             "--gradebook", "--jobs", "1", "--quiet"],
                            cwd=course, env=env_of(course), capture_output=True, text=True, timeout=900)
    assert graded.returncode == 0, f"grade exited with {graded.returncode}: {graded.stderr[-3000:]}"
    (result,) = json.loads((course / "results.json").read_text())
    assert result["score"] == 10.0, result
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", exercise.course_id) as gradebook:
        return gradebook.find_submission_notebook("callbacks", exercise.name, "alice").id
