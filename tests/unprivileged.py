"""Run the grader as an ordinary user, from a test that runs as root (as CI does).

    result = as_user("from autograder import sandbox; print(sandbox.check_available())")

The user is `ag-unprivileged` (made with useradd the first time, no home, no login, no groups).
It must reach this Python, its virtual environment and the project: where a folder on the way
is closed to others (a Python installed by pyenv under /root, a clone in /root), the command runs
in a private mount namespace in which that folder is a tmpfs holding only the way through (the
folders it must reach, bound from the host). Nothing on the host changes, apart from the user.
"""

import functools
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

USER = "ag-unprivileged"
PROJECT = Path(__file__).resolve().parent.parent


@functools.cache
def user() -> tuple[int, int] | str:
    """(uid, gid) of the test user, made if missing; or why there can be none."""
    if os.geteuid() != 0:
        return "needs root, to act as another user"
    for tool in ("setpriv", "unshare", "mount", "bwrap"):
        if not shutil.which(tool):
            return f"needs `{tool}`"
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        if not shutil.which("useradd"):
            return f"needs the user {USER} or useradd to make it"
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                               "--shell", "/usr/sbin/nologin", "--user-group", USER], capture_output=True, text=True)
        if made.returncode != 0 and "already exists" not in made.stderr:
            return f"useradd {USER} failed: {made.stderr.strip()}"
        entry = pwd.getpwnam(USER)
    return entry.pw_uid, entry.pw_gid


def _closed_ancestors(paths) -> dict[Path, set[str]]:
    """{folder others cannot pass: the names in it on the way to `paths`}, outermost first."""
    closed = {}
    for path in paths:
        path = Path(path).resolve()
        for parent in reversed(path.parents):
            child = path.relative_to(parent).parts[0]
            if not os.stat(parent).st_mode & 0o001:
                closed.setdefault(parent, set()).add(child)
    return dict(sorted(closed.items(), key=lambda item: len(item[0].parts)))


def _opening_script(paths, stash: Path) -> str | None:
    """Shell lines (run as root in a private mount namespace) opening the way to `paths`, or None if open."""
    closed = _closed_ancestors(paths)
    if not closed:
        return None
    lines, number = [], 0
    for folder, children in closed.items():
        kept = []
        for child in sorted(children):
            number += 1
            spot = stash / str(number)
            lines += [f"mkdir -p {spot}", f"mount --rbind {shlex.quote(str(folder / child))} {spot}"]
            kept.append((child, spot))
        lines.append(f"mount -t tmpfs -o mode=0755 opened {shlex.quote(str(folder))}")
        for child, spot in kept:
            target = shlex.quote(str(folder / child))
            lines += [f"mkdir -p {target}", f"mount --move {spot} {target}"]
    return "\n".join(["set -e", *lines])


def as_user(code: str, *, cwd: Path, timeout: float | None, env=None, argv=None, wait=True):
    """Run `code` (or `argv`) with this Python as the test user, in `cwd` (made the user's), with
    PYTHONPATH the project and its tests; the project's Python must not write bytecode there.
    The finished process (subprocess.run's), or with `wait=False` the running one (a Popen)."""
    uid, gid = user()
    os.chown(cwd, uid, gid)
    argv = argv or [sys.executable, "-c", code]
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8",
                   "PYTHONPATH": f"{PROJECT}{os.pathsep}{PROJECT / 'tests'}", "PYTHONDONTWRITEBYTECODE": "1",
                   "MPLCONFIGDIR": str(cwd / ".matplotlib"), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    drop = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    with tempfile.TemporaryDirectory(prefix="opened-") as stash:
        script = _opening_script([sys.base_prefix, sys.prefix, sys.executable, PROJECT, cwd], Path(stash))
        if script is not None:
            command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                       script + '\nexec "$@"', "open", *drop, *argv]
        else:
            command = [*drop, *argv]
        if not wait:
            # The stash is only where the mounts wait before their move: empty once the command runs.
            return subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def json_of(result: subprocess.CompletedProcess):
    """The last line of a run's stdout, read as JSON (the run prints its findings last)."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])
