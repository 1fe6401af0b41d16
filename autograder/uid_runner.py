"""Run notebooks as an unprivileged uid with limits, where no sandbox (namespaces) can be made.

The fallback of `autograder.runner`'s SandboxRunner for containers that forbid bubblewrap: Docker's
default seccomp profile and capabilities (Gradescope's autograders run in Docker) refuse both
root's mounts and unprivileged user namespaces. What still works there, and what this runner does:

- each run gets a fresh 0700 folder of its own (work, HOME, TMPDIR), owned by the run's uid
  (62000 + slot, as the sandbox's; claimed host-wide the same way), holding a copy of the work
  folder: nothing of the grader's is in it;
- the notebook runs as that uid (`setpriv`: no groups, no capabilities, no_new_privs) under
  `prlimit` limits (address space, processes of the uid, file size, no core dumps), first to die
  on an out-of-memory, in the uid's own CPU cgroup where the host lets us make one;
- the wall-clock limit is the grader's: at the end every process of the uid is killed, files the
  uid left in the world-writable folders (/tmp, /var/tmp, /dev/shm) are removed, and only then
  is what the run left copied back (`keep`, folders and regular files, at most `disk_bytes`).

The grader's own files are hidden from the uid by their modes only: whoever uses this runner
makes them unreadable (0700, root's; autograder.gradescope does) and names them in `protected`:
`unavailable()` refuses to run while the uid can read any of them.

What it does not give, unlike the sandbox (README, "Gradescope"): no network, PID, mount or IPC
namespace (the run may use the network, sees the host's processes and every world-readable file,
and its SysV IPC objects outlive it), and no disk quota (a run may fill the disk while it runs).
"""

import json
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import sandbox
from .run import ALWAYS_KEPT, JUPYTER_EXECUTE, Run, problem
from .sandbox import BASE_UID, Limits

PROBE_UID = BASE_UID + sandbox.MAX_SLOTS  # past every slot's uid
RUN_FOLDERS = ("work", "home", "tmp")  # a run's: its cwd (the work folder's copy), HOME, TMPDIR
# World-writable folders a run can leave files in, outside its own folder.
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")

_PROBE = """
import json, os, sys
readable = []
for path in sys.argv[1:]:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        readable.append(path)
    except OSError:
        pass
print(json.dumps(readable))
"""


class UidRunner:
    """A Runner (autograder.runner) that isolates each run by uid and limits alone; see the module doc."""

    def __init__(self, jobs: int = 1, limits: Limits = Limits(), protected=(), first_slot: int = 0):
        self.limits, self.protected = limits, tuple(str(path) for path in protected)
        self._slots = queue.SimpleQueue()  # slots (uids, claimed host-wide as the sandbox's) free to run a notebook
        for slot in range(first_slot, first_slot + jobs):
            self._slots.put(slot)

    def unavailable(self) -> str | None:
        if os.geteuid() != 0:
            return f"running notebooks as another uid needs root; running as uid {os.geteuid()}"
        for tool in ("setpriv", "prlimit"):
            if not shutil.which(tool):
                return f"`{tool}` (util-linux) is not installed: run `apt-get install util-linux`"
        # As an unprivileged uid (no groups), as a run is: the interpreter must start, and none of
        # the grader's files may open. A uid of its own: probing never waits for a busy slot.
        uid = PROBE_UID
        with sandbox._claim_uid(uid):
            try:
                probe = subprocess.run(self._as_uid(uid, [sys.executable, "-I", "-c", _PROBE, *self.protected]),
                                       capture_output=True, text=True, cwd="/", env=sandbox._clean_env({}), timeout=120)
            except (OSError, subprocess.SubprocessError) as error:
                return f"the probe run as uid {uid} failed: {error}"
            finally:
                _end_processes(uid)
        if probe.returncode != 0:
            return (f"{sys.executable} must run as uid {uid} (a Python under a 0700 home cannot); "
                    f"the probe exited with {probe.returncode}: {probe.stderr.strip()[-300:]}")
        if readable := json.loads(probe.stdout.strip().splitlines()[-1]):
            return f"the grader's files must not be readable by uid {uid}; it can read {', '.join(readable)}"
        return None

    def run(self, work: Path, keep=()) -> Run:
        slot = self._slots.get()
        try:
            with sandbox._claim_uid(BASE_UID + slot):
                return self._run(Path(work), BASE_UID + slot, keep)
        finally:
            self._slots.put(slot)

    def close(self):
        pass  # nothing is kept between runs

    def _as_uid(self, uid, argv) -> list[str]:
        limits = self.limits
        return ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
                f"--fsize={limits.file_size_bytes}", "--core=0", "--",
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--", *argv]

    def _run(self, work: Path, uid: int, keep) -> Run:
        limits = self.limits
        _end_processes(uid)  # what a grader that died mid-run left
        _remove_files_of(uid)
        # Root's, 0711: the run reaches its own folders inside (0700, the uid's) but cannot remove or
        # replace them; _remove_files_of, which takes what the uid owns in /tmp, leaves it alone.
        folder = Path(tempfile.mkdtemp(prefix="autograder-uid-run-"))
        os.chmod(folder, 0o711)
        started = time.time()
        try:
            for name in RUN_FOLDERS:
                (folder / name).mkdir()
            shutil.copytree(work, folder / "work", symlinks=True, dirs_exist_ok=True)
            for root, dirs, files in os.walk(folder):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), uid, uid)
            for name in RUN_FOLDERS:
                os.chmod(folder / name, 0o700)
            env = sandbox._clean_env({"HOME": str(folder / "home"), "TMPDIR": str(folder / "tmp")})
            command = sandbox._share_and_oom_wrapper(sandbox._cpu_cgroup(uid)) + self._as_uid(uid, JUPYTER_EXECUTE)
            process = subprocess.Popen(command, cwd=folder / "work", env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            stderr = sandbox._Capture(process.stderr, limits.output_bytes)
            timed_out = False
            try:
                process.wait(timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
            # Every process of the run ends before its files are read: no late writer, no swapped link.
            _end_processes(uid)
            process.wait()  # the run's first process, a zombie until we reap it
            stderr.thread.join(timeout=5)
            seconds = time.time() - started
            _remove_files_of(uid)
            not_kept = sandbox._collect(folder, work, (*ALWAYS_KEPT, *keep), limits)
        finally:
            try:
                _end_processes(uid)
            finally:  # even when a process outlived its SIGKILLs: the folder is not left behind
                shutil.rmtree(folder, ignore_errors=True)
        returncode = None if timed_out else process.returncode
        return Run(started, seconds, timed_out, problem(limits, timed_out, returncode, stderr.text()), tuple(not_kept))


def _end_processes(uid, patience: float = 60.0):
    """Kill every process of `uid` and wait until none of them can run again: gone, or a zombie.

    Why not sandbox._kill_uid, which waits until they are gone: without a PID namespace, the run's
    orphans are reaped by the container's PID 1, which in a Docker container may never reap; and
    the run's first process stays a zombie until the runner waits for it. A zombie writes nothing.
    """
    try:
        # One stroke, as sandbox._kill_uid: a process of the uid reaches all of them at once.
        subprocess.run(["/bin/sh", "-c", "kill -KILL -1"], user=uid, group=uid, extra_groups=[], env={}, cwd="/",
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pass  # the loop below kills them one by one
    deadline = time.monotonic() + patience
    while alive := [pid for pid in sandbox._pids_of(uid) if not _zombie(pid)]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of uid {uid} must be dead {patience:.0f} s after SIGKILL; "
                               f"still alive: {len(alive)} ({alive[:20]})")
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone meanwhile


def _remove_files_of(uid):
    """Remove what `uid` left at the top of the world-writable folders (its processes are gone by now)."""
    for shared in SHARED_TMP:
        try:
            entries = list(os.scandir(shared))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if info.st_uid != uid:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    shutil.rmtree(entry.path)  # fd-based: never follows a link inside
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
