"""The student's first minutes: the release's setup cell and `%tensorboard`, as a student meets them.

One real Jupyter kernel runs the release notebook's locked setup cell, a cell that writes to
stderr, then the lesson's `%tensorboard` command, in a copy of the release. The kernel is
started the way `.venv/bin/jupyter lab` starts it when the virtual environment's bin/ is not
on PATH: it is the environment's Python (jupyter_client puts its own `sys.executable` in place
of the kernelspec's `python`), but `tensorboard` cannot be found by name.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course import exercise

BIN = Path(sys.executable).parent
# What the setup cell prints, and all a student should see under it.
SETUP_OUTPUT = [{"output_type": "stream", "name": "stdout", "text": "300 training and 300 validation images of 8x8 pixels\n"}]
# A later cell's C++ message (written to file descriptor 2, as TensorFlow writes), which the student must see.
LATER_STDERR = 'written = os.write(2, b"written to fd 2 after the setup cell\\n")\n'
# The lesson's command, on a free loopback port (--port 0) so that it meets nothing else on
# this machine; the legacy loader starts no data server process besides TensorBoard itself.
TENSORBOARD_MAGIC = "%load_ext tensorboard\n%tensorboard --logdir logs/fit --host 127.0.0.1 --port 0 --load_fast=false\n"


def _setup_cell():
    release = nbformat.read(exercise.release_notebook, as_version=4)
    return next(cell for cell in release.cells if exercise.nbgrader_meta(cell).get("grade_id") == exercise.SETUP_CELL)


def _processes_started_in(folder: Path):
    """Pids of the processes whose working folder is `folder` (TensorBoard, started by the kernel there)."""
    pids = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if Path(os.readlink(cwd)) == folder:
                pids.append(int(cwd.parent.name))
        except OSError:
            continue  # ended meanwhile, or not ours to read
    return [pid for pid in pids if pid != os.getpid()]


def _stop(pids, seconds=10):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + seconds
    while (alive := [pid for pid in pids if Path(f"/proc/{pid}").exists()]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)


def _servers(info_folder: Path) -> dict:
    """What TensorBoard recorded of the servers it started, their command lines, and what the one server serves."""
    servers = [json.loads(info.read_text()) for info in sorted(info_folder.glob("pid-*.info"))]
    found = {"servers": servers, "cmdlines": [Path(f"/proc/{s['pid']}/cmdline").read_bytes().split(b"\0")[:-1] for s in servers]}
    if len(servers) == 1:  # ask it as a browser would, directly (no proxy), on loopback
        url = f"http://127.0.0.1:{servers[0]['port']}/data/logdir"
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=10) as answer:
            found["logdir"] = json.loads(answer.read())
    return found


@pytest.fixture(scope="module")
def student_run(tmp_path_factory):
    """{"setup", "later", "tensorboard": each cell's outputs, and _servers() as the kernel left them}."""
    root = tmp_path_factory.mktemp("student")
    folder = root / exercise.name
    shutil.copytree(exercise.release_dir, folder)  # what nbgrader's fetch gives a student
    private_tmp = root / "tmp"  # TensorBoard records its running servers in $TMPDIR/.tensorboard-info
    private_tmp.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[_setup_cell(), *map(nbformat.v4.new_code_cell, (LATER_STDERR, TENSORBOARD_MAGIC))],
                                        metadata=nbformat.read(exercise.release_notebook, as_version=4).metadata)
    client = NotebookClient(notebook, timeout=120, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    client.reset_execution_trackers()
    try:
        with contextlib.ExitStack() as kernel:
            with pytest.MonkeyPatch.context() as environment:  # the kernel inherits this environment
                environment.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
                environment.setenv("TMPDIR", str(private_tmp))
                # ipykernel shows the notebook what the process writes to file descriptor 2 (TensorFlow's
                # C++ notices), as a student sees it, only when PYTEST_CURRENT_TEST is not set.
                for name in ("PYTEST_CURRENT_TEST", "TENSORBOARD_BINARY", "TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS"):
                    environment.delenv(name, raising=False)
                kernel.enter_context(client.setup_kernel())
            for index, cell in enumerate(notebook.cells):
                client.execute_cell(cell, index)
            # Look before the kernel's shutdown: it ends the TensorBoard it started (its process group),
            # which then removes its record.
            found = _servers(private_tmp / ".tensorboard-info")
    finally:
        _stop(_processes_started_in(folder))  # in case the kernel's shutdown left a server running
    setup, later, tensorboard = (cell.outputs for cell in notebook.cells)
    return {"setup": setup, "later": later, "tensorboard": tensorboard, **found}


@pytest.mark.slow  # the shared kernel imports TensorFlow and starts TensorBoard: about 15 s
def test_setup_cell_prints_only_its_own_line(student_run):
    """Does the locked setup cell show the student its own line on stdout, and nothing on stderr
    (TensorFlow's C++ start-up notices, once per copy of its logging library)?"""
    outputs = [dict(output) for output in student_run["setup"]]
    assert outputs == SETUP_OUTPUT, f"the setup cell must show only {SETUP_OUTPUT}; it showed {outputs}"


@pytest.mark.slow  # the shared kernel imports TensorFlow and starts TensorBoard: about 15 s
def test_setup_cell_gives_stderr_back(student_run):
    """After the setup cell, does the student see what a later cell writes to stderr's file descriptor?"""
    outputs = [dict(output) for output in student_run["later"]]
    expected = [{"output_type": "stream", "name": "stderr", "text": "written to fd 2 after the setup cell\n"}]
    assert outputs == expected, f"a later cell's write to fd 2 must show as {expected}; it showed {outputs}"


def test_setup_cell_gives_stderr_back_when_the_import_fails(tmp_path):
    """When Keras cannot be imported, does the setup cell, as the grader runs it (exec in a plain
    process), put file descriptor 2 back, so that the reason can be seen, and leave no descriptor open?"""
    (tmp_path / "keras.py").write_text('raise ImportError("this keras cannot be imported")\n')
    program = (
        "import os\n"
        "opened = sorted(os.listdir('/proc/self/fd'))\n"
        "try:\n"
        f"    exec(compile({exercise.setup_source!r}, 'setup', 'exec'), {{}})\n"
        "except ImportError as error:\n"
        "    os.write(2, f'after the setup cell: {error}; open fds {opened} then {sorted(os.listdir(\"/proc/self/fd\"))}'.encode())\n"
    )
    # The folder of the fake keras comes first on sys.path (python -c puts its working folder there).
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "after the setup cell: this keras cannot be imported" in result.stderr, (
        f"the setup cell must put fd 2 back when its import fails; the process's stderr was {result.stderr!r}")
    opened = result.stderr.split("open fds ")[1].split(" then ")
    assert opened[0] == opened[1], f"the setup cell must close the descriptors it opens: before and after, {opened}"


@pytest.mark.slow  # the shared kernel imports TensorFlow and starts TensorBoard: about 15 s
def test_tensorboard_magic_starts_the_environments_tensorboard_without_it_on_path(student_run):
    """Does `%tensorboard --logdir logs/fit`, run after the setup cell, start the TensorBoard of the
    kernel's own environment and show it, when that environment's bin/ is not on PATH?"""
    shown = json.dumps([dict(output) for output in student_run["tensorboard"]])
    assert "Could not find" not in shown and "ERROR" not in shown, f"%tensorboard must start TensorBoard; it showed {shown}"
    assert len(student_run["servers"]) == 1, f"%tensorboard must start one TensorBoard; it recorded {student_run['servers']}"
    server, cmdline = student_run["servers"][0], student_run["cmdlines"][0]
    assert str(BIN / "tensorboard").encode() in cmdline, f"the server must be {BIN / 'tensorboard'}; its command line is {cmdline}"
    assert f"const port = {server['port']};" in shown, f"the cell must show the server on port {server['port']}; it showed {shown}"
    assert student_run["logdir"] == {"logdir": "logs/fit"}, f"the server must serve logs/fit; /data/logdir said {student_run['logdir']}"
