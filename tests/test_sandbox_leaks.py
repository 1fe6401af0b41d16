"""Nothing of one sandboxed run survives into the next, and a run sees nothing of the grader."""

import os
import platform
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.sandbox import Limits, run_sandboxed

pytestmark = [pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap"),
              pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64's")]

FAST = Limits(wall_seconds=30)

STORE_OR_READ = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SECRET, store = b"s3cret", sys.argv[1] == "store"
def add_key(desc, keyring):
    return libc.syscall(ctypes.c_long(248), b"user", desc, SECRET, ctypes.c_size_t(len(SECRET)), ctypes.c_long(keyring))
def find_key(desc, keyring):  # KEYCTL_SEARCH 10
    return libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(keyring), b"user", desc, ctypes.c_long(0)) > 0
found = {}
for name, spec in [("user keyring", -4), ("user session keyring", -5)]:
    if store:
        add_key(b"leak", spec)
    found[name] = find_key(b"leak", spec)
persistent = libc.syscall(ctypes.c_long(250), ctypes.c_long(22), ctypes.c_long(-1), ctypes.c_long(-2))
if persistent > 0:
    if store:
        add_key(b"leak", persistent)
    found["persistent keyring"] = find_key(b"leak", persistent)
KEY = 0x5EC7E7
shm = libc.shmget(KEY, 4096, 0o1600 if store else 0o600)
found["sysv shm"] = shm >= 0
found["sysv sem"] = libc.semget(KEY, 1, 0o1600 if store else 0o600) >= 0
found["sysv msg"] = libc.msgget(KEY, 0o1600 if store else 0o600) >= 0
rt = ctypes.CDLL("librt.so.1", use_errno=True)
found["posix mq"] = rt.mq_open(b"/leak", (os.O_CREAT | os.O_RDWR) if store else os.O_RDONLY, 0o600, None) >= 0
for path in ["/dev/shm/leak", "/tmp/leak", os.path.expanduser("~/leak")]:
    if store:
        open(path, "w").write("s3cret")
    found[path] = os.path.exists(path)
print(found)
"""


def test_nothing_survives_into_the_next_run_of_the_slot(tmp_path):
    """Are keys, SysV and POSIX IPC objects and files stored by one run gone in the next run of that slot?"""
    outputs = []
    for step in ("store", "read"):
        work = tmp_path / step
        work.mkdir()
        result = run_sandboxed(["/usr/bin/python3", "-c", STORE_OR_READ, step], workdir=work, slot=12, limits=FAST)
        assert result.returncode == 0, result.stderr
        outputs.append(eval(result.stdout))
    stored, read = outputs
    assert all(stored.values()), stored  # each store worked, so its absence later means something
    assert not any(read.values()), read


def test_run_sees_no_grader_path_or_pid(tmp_path):
    """Do /proc/1/cmdline, mountinfo and every readable cmdline and environ hide the stage, workdir and grader pid?"""
    code = textwrap.dedent("""
        import glob
        for path in ["/proc/self/mountinfo", *glob.glob("/proc/*/cmdline"), *glob.glob("/proc/*/environ")]:
            try:
                print(path, open(path, "rb").read().replace(b"\\0", b" ").decode(errors="replace"))
            except OSError:
                pass
        import os; print(os.environ)
    """)
    work = tmp_path / "work"
    work.mkdir()
    result = run_sandboxed([sys.executable, "-c", code], workdir=work, slot=13, limits=FAST, ro_binds=[Path(sys.prefix)])
    assert result.returncode == 0, result.stderr
    assert "/proc/1/cmdline bwrap --args" in result.stdout
    assert not re.search(rf"\b{os.getpid()}\b", result.stdout)
    assert "sandbox-stage" not in result.stdout and "/tmp/sandbox" not in result.stdout
    assert str(tmp_path) not in result.stdout
