"""Shared fixtures: a temporary nbgrader course built from this project's files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import exercise

BIN = Path(sys.executable).parent


def nbgrader(course: Path, *args, check=True):
    """Run the real nbgrader command line in `course` (nbgrader starts `alembic` by name: PATH)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "NBGRADER_COURSE_ROOT": str(course)}
    return subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True, check=check)


def host_pids_of(uids):
    """Pids of host processes whose real uid is in `uids` (a sandbox's processes, from outside)."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            real = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if int(real.split()[1]) in uids:
            pids.append(int(status.parent.name))
    return pids


# This machine's Python lives under /root, which is 0700: a run as an unprivileged uid without a
# mount namespace (autograder.uid_runner) could not start it, where Gradescope's, in /usr, starts.
# In a mount namespace of the command's own, /root becomes a traversable folder holding the
# interpreter's tree and nothing else.
_TRAVERSABLE_ROOT = """
set -e
keep=/tmp/autograder-test-python  # an empty folder on the host: the mount point
top="$1"; shift
mkdir -p "$keep/$top" && /bin/mount --bind "/root/$top" "$keep/$top"
/bin/mount -t tmpfs -o mode=0711,size=1m python-only /root
mkdir "/root/$top" && /bin/mount --bind "$keep/$top" "/root/$top"
exec "$@"
"""


def with_python_for_every_uid(command: list) -> list:
    """`command`, run where any uid can start this Python (unchanged where it already can)."""
    if not sys.base_prefix.startswith("/root/"):
        return list(command)
    top = Path(sys.base_prefix).relative_to("/root").parts[0]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _TRAVERSABLE_ROOT, "sh", top, *command]


@pytest.fixture
def course(tmp_path):
    """A fresh course folder holding this project's assignments/ and nbgrader_config.py."""
    shutil.copytree(exercise.source_dir, tmp_path / "assignments" / exercise.name)
    shutil.copy(exercise.course / "nbgrader_config.py", tmp_path)
    return tmp_path
