"""Behaviour of the fallback runner (autograder/uid_runner.py): where no sandbox can be made, a
notebook runs as an unprivileged uid with the limits, in a folder of its own, and nothing of it
outlives the run. (What it does not stop is in the README's "Gradescope" section; the grader's
files it cannot read are in tests/test_gradescope.py.)

Each test runs a small notebook (no TensorFlow) through UidRunner.run in a child process that
can start this Python as any uid (conftest.with_python_for_every_uid).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from autograder.sandbox import BASE_UID, Limits
from conftest import host_pids_of, with_python_for_every_uid

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="running as another uid needs root")]

SLOT = 918  # a slot of its own on this shared machine (see test_gradescope.SLOT)
UID = BASE_UID + SLOT

RUN = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from autograder.run import EXECUTED, NOTEBOOK
    from autograder.sandbox import Limits
    from autograder.uid_runner import UidRunner

    work, wall, cells = Path(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
    nbformat.write(new_notebook(cells=[new_code_cell(cell) for cell in cells]), work / NOTEBOOK)
    run = UidRunner(limits=Limits(wall_seconds=wall), first_slot=int(sys.argv[4])).run(work)
    executed = nbformat.read(work / EXECUTED, as_version=4) if (work / EXECUTED).exists() else None
    outputs = [[o.get("text", o.get("ename", "")) for o in cell.outputs] for cell in executed.cells] if executed else None
    print(json.dumps({"timed_out": run.timed_out, "problem": run.problem, "outputs": outputs,
                      "left": sorted(p.name for p in work.iterdir())}))
""")


def run_cells(tmp_path, *cells, wall=60.0) -> dict:
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("the release's data")
    done = subprocess.run(with_python_for_every_uid([sys.executable, "-c", RUN, str(work), str(wall), json.dumps(cells), str(SLOT)]),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def alive(pids) -> list:
    """The pids of `pids` that can still run: not gone, not zombies."""
    running = []
    for pid in pids:
        try:
            if open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[0] != "Z":
                running.append(pid)
        except OSError:
            pass
    return running


WHO_AND_LIMITS = """
import json, os, resource
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
print(json.dumps({"uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(),
                  "as": resource.getrlimit(resource.RLIMIT_AS), "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
                  "fsize": resource.getrlimit(resource.RLIMIT_FSIZE), "core": resource.getrlimit(resource.RLIMIT_CORE),
                  "caps": [status["CapEff"].strip(), status["CapBnd"].strip()], "no_new_privs": status["NoNewPrivs"].strip(),
                  "cwd": os.getcwd(), "home": os.environ["HOME"], "tmp": os.environ["TMPDIR"],
                  "data": open("data.txt").read()}))
"""


def test_a_run_is_the_slots_uid_with_the_limits_in_a_folder_of_its_own(tmp_path):
    """Does the notebook run as uid 62000 + slot only (no groups, no capabilities, no_new_privs),
    under the memory, process, file-size and core limits, in a fresh folder holding the work
    folder's copy, with HOME and TMPDIR of its own; and does a cell asking for more memory than
    the limit get a MemoryError, not the machine's memory?"""
    seen = run_cells(tmp_path, WHO_AND_LIMITS, "try:\n    bytearray(6 * 2**30)\nexcept MemoryError:\n    print('MemoryError')")
    assert seen["problem"] is None and not seen["timed_out"]
    who = json.loads(seen["outputs"][0][0])
    limits = Limits()
    assert who["uid"] == [UID] * 3 and who["gid"] == [UID] * 3 and who["groups"] == []
    assert who["as"] == [limits.memory_bytes] * 2 and who["nproc"] == [limits.processes] * 2
    assert who["fsize"] == [limits.file_size_bytes] * 2 and who["core"] == [0, 0]
    assert who["caps"] == ["0000000000000000"] * 2 and who["no_new_privs"] == "1"
    folder = os.path.dirname(who["cwd"])
    assert folder != str(tmp_path) and os.path.basename(folder).startswith("autograder-uid-run-")
    assert (who["home"], who["tmp"]) == (f"{folder}/home", f"{folder}/tmp")
    assert who["data"] == "the release's data"
    assert seen["outputs"][1] == ["MemoryError\n"]
    assert not os.path.exists(folder), "the run's folder is removed once its files are copied back"


def test_an_endless_notebook_is_stopped_at_the_wall_limit_with_nothing_left_running(tmp_path):
    """Is a notebook that never ends (with a detached child of its own) stopped at the wall-clock
    limit, told so, and are all of the uid's processes and its files in /tmp gone afterwards?"""
    endless = ("import subprocess, sys, time\n"
               f"open('/tmp/uid-runner-test-left-{SLOT}', 'w').write('left')\n"
               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
               "while True:\n    time.sleep(1)")
    seen = run_cells(tmp_path, endless, wall=20)
    assert seen["timed_out"] and "did not finish within 20 s" in seen["problem"]
    assert alive(host_pids_of([UID])) == [], "every process of the run's uid is killed (a zombie awaiting its reaper is dead)"
    assert not os.path.exists(f"/tmp/uid-runner-test-left-{SLOT}"), "what the uid left in /tmp is removed"
