"""Run one command for one untrusted submission inside a bubblewrap sandbox, with limits.

Design (the grader runs as root; measured on Debian 12, bubblewrap 0.8.0):
- bwrap is started by root without a user namespace, so it can bind a Python that lives under
  the 0700 /root and mount tmpfs; inside, `prlimit` sets the limits and `setpriv` drops for good
  to uid = gid = 62000 + slot (no groups, no capabilities, no_new_privs). That uid is real in the
  host's user namespace, so RLIMIT_NPROC counts the processes and threads of this sandbox only.
  Each run (a warm sandbox: each batch, for as long as it keeps the slot) claims its uid host-wide
  (a flock) so that two graders on one host never share one; the second waits for the first.
- CPU and memory pressure: each run gets its own cpu cgroup where the host has one (one fair share
  of the CPU, however many processes it starts), and oom_score_adj 1000 (a host out of memory
  kills the sandbox's processes first, not the grader).
- Namespaces: pid (bwrap's init is pid 1; when the command ends or bwrap is killed, every process
  left behind is killed by the kernel), net (loopback only), ipc, uts, cgroup; --die-with-parent.
- Disk: one host tmpfs of `disk_bytes` per run, mounted in a private 0700 staging folder, holds
  everything writable: /submission (the command's cwd), /tmp, /dev/shm and HOME=/home/student.
  The caller's `workdir` is copied into /submission before the run. After the run, once no process
  of the sandbox uid is left (so no late writer), `workdir` is emptied and refilled with what the
  sandbox left in /submission: directories and regular files only, owned by root; symlinks and
  special files are not copied and are listed in `SandboxResult.not_copied`, and so are hard links
  and files past a budget of `disk_bytes` of host disk (sparse files): what comes back takes at most
  disk_bytes of the host's disk. `keep` limits it to what the caller reads. The tmpfs is unmounted.
- Nothing outlives a run: the namespaces and the tmpfs go with it, and the uid's kernel keyrings
  (user, user session, persistent: per uid, not per namespace) are cleared before and after it.
- Nothing of the grader shows: bwrap takes its options (host paths) from a pipe (`--args`), so
  /proc/1/cmdline shows only the command; the staging folder's name holds no pid (owner.pid inside does).
- Visible inside: /usr (and the /bin, /lib* links), a few /etc files, generated passwd/group/hosts,
  sys.base_prefix and `ro_binds` (read-only, same path), nothing else of the host.
Put data the command only reads in `ro_binds`, not in `workdir` (that copy counts as disk).

Without root (user mode: the grader is an ordinary user, on a laptop or JupyterHub; measured on
Debian 12, Linux 6.x, bubblewrap 0.8.0), the same sandbox is made in user namespaces, and what
needed root is done so:
- The disk and /etc tmpfs are mounted in a user and mount namespace of the grader's own, from which
  bwrap starts (`_user_disk_wrapper`); the grader reaches the disk through /proc/<bwrap>/root.
- bwrap adds a user namespace in which the zygote is uid 62000 + slot (the grader's uid on the host)
  without capabilities; / and /dev are read-only (they are that uid's, and would be disk).
- Each run is a child of the zygote in a user, PID, IPC and mount namespace of its own (zygote.py):
  RLIMIT_NPROC counts per user namespace (Linux >= 5.15), so every run has its own process budget,
  though every sandbox is the instructor's uid on the host; the run's PID namespace has an init of
  ours, killed by the zygote at the wall limit, which ends every process of the run at once (no uid
  to kill by); keyrings and IPC objects die with the run's namespaces; /proc shows only the run.
- CPU: no cgroup (unless a writable one exists), but each sandbox is one session, one scheduler
  autogroup: setsid does nothing in a run (seccomp). Without that, a fork bomb of 300 sessions
  kept a 2 s loop of the instructor's from ending within 200 s (measured).
- Limits that differ: oom_score_adj is 1000 but a run may lower it to 0 (no CAP_SYS_RESOURCE);
  the runs' processes also count toward the instructor's own RLIMIT_NPROC; 32-bit syscalls fail.

Two ways to run: `run_sandboxed` makes a sandbox for one command; a `WarmSandbox` keeps one
sandbox per slot for many runs, each a fork of a zygote that imported a Python program once
(zygote.py), and restores between runs what a fresh sandbox would give (see its doc).
"""

import contextlib
import fcntl
import functools
import json
import os
import platform
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import zygote

SANDBOX_WORKDIR = "/submission"
SANDBOX_HOME = "/home/student"
BASE_UID = 62000
MAX_SLOTS = 1000
# The availability probe's own slot: a probe never waits for a batch holding slot 0 (uids are claimed
# host-wide; on a shared host a check waited 9 minutes for other graders' batches).
PROBE_SLOT = MAX_SLOTS - 1
MAX_COPY_DEPTH = 32  # deeper folders are not copied back: no honest use, and paths would outgrow PATH_MAX
MiB = 2**20
ZYGOTE = Path(zygote.__file__).read_text()  # the source a warm sandbox's zygote runs (python -c)


@dataclass(frozen=True)
class Limits:
    """Limits of one sandboxed run; each is enforced by the kernel, not by the command."""

    wall_seconds: float = 180.0
    memory_bytes: int = 4 * 1024 * MiB  # RLIMIT_AS per process; TensorFlow needs > 2 GiB
    processes: int = 512  # RLIMIT_NPROC for the slot's uid, threads included
    file_size_bytes: int = 256 * MiB  # RLIMIT_FSIZE
    disk_bytes: int = 512 * MiB  # size of the tmpfs behind /submission, /tmp, /dev/shm, HOME
    output_bytes: int = 1 * MiB  # kept of stdout and of stderr each (head and tail)


@dataclass
class SandboxResult:
    """What a sandboxed command did; returncode is None when it was killed for its wall time."""

    returncode: int | None
    timed_out: bool
    stdout: str
    stderr: str
    wall_seconds: float
    output_truncated: bool
    not_copied: list[str] = field(default_factory=list)  # "path (kind)" left out of workdir


class SandboxUnavailable(Exception):
    """No sandbox can be made on this machine; the message says why."""


def user_mode() -> bool:
    """Is the grader an ordinary user? Then sandboxes are made in user namespaces (see the module doc)."""
    return os.geteuid() != 0


@functools.cache
def check_available() -> str | None:
    """Return None when a sandbox can be made here, else a one-line reason that says what to do."""
    if user_mode():
        return _user_mode_problem()
    if not shutil.which("bwrap"):
        return "bubblewrap (bwrap) is not installed: run `make setup` or `apt-get install bubblewrap`"
    for tool in ("setpriv", "prlimit", "mount", "umount"):
        if not shutil.which(tool):
            return f"`{tool}` (util-linux) is not installed: run `apt-get install util-linux mount`"
    _sweep_stale_stages()
    with tempfile.TemporaryDirectory() as probe:
        try:
            result = _run(["true"], Path(probe), PROBE_SLOT, Limits(wall_seconds=30), {}, [])
        except (OSError, subprocess.SubprocessError) as error:
            return f"the sandbox probe failed: {error}"
    if result.returncode != 0:
        return f"the sandbox probe `true` exited with {result.returncode}: {result.stderr.strip()[-300:]}"
    return None


_PROBE_NAME = "sandbox_probe"  # the program name of check_available's own probe (which must not ask itself)


def _user_mode_problem() -> str | None:
    """check_available for an ordinary user: Linux 5.15, bwrap, util-linux, and a probe run through it all."""
    if _kernel_version() < (5, 15):
        # Before 5.15 RLIMIT_NPROC counted per uid: every sandbox would share the instructor's own count.
        return (f"grading as an ordinary user needs Linux 5.15 or later (per-sandbox process limits); this is "
                f"{platform.release()}: grade as root (with sudo)")
    if not shutil.which("bwrap"):
        return ("bubblewrap (bwrap) is not installed: an administrator can install it with "
                "`sudo apt-get install bubblewrap` (or `make setup` run as root)")
    for tool in ("unshare", "mount", "cp"):
        if not shutil.which(tool):
            return f"`{tool}` is not installed: an administrator can install it with `sudo apt-get install util-linux mount coreutils`"
    _sweep_stale_stages()
    with tempfile.TemporaryDirectory() as probe:
        try:
            result = _probe_user_sandbox(Path(probe))
        except Exception as error:  # whatever broke, the advice is the same: say what the host refuses
            return explain_user_namespaces(f"{type(error).__name__}: {str(error)[-400:]}")
    if result.returncode != 0:
        return explain_user_namespaces(f"the probe `true` exited with {result.returncode}: {result.stderr.strip()[-300:]}")
    return None


def _probe_user_sandbox(workdir: Path) -> SandboxResult:
    with WarmSandbox(EXEC_PROGRAM, _PROBE_NAME, slot=0, limits=Limits(wall_seconds=30)) as box:
        result = box.run(["true"], workdir=workdir)
        if result.returncode != 0:  # what failed before the run (its namespaces, say) is in the zygote's stderr
            result.stderr += box._startup.text() if box._proc is not None else ""
        return result


def _kernel_version() -> tuple[int, int]:
    try:
        return tuple(int(part) for part in platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return (0, 0)


def _sysctl(name: str) -> str | None:
    """The value of /proc/sys/`name` (e.g. "user/max_user_namespaces"), or None where the kernel has none."""
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None


def explain_user_namespaces(detail: str) -> str:
    """Why an ordinary user's sandbox failed here (`detail`: what failed), and what to do about it."""
    if _sysctl("kernel/unprivileged_userns_clone") == "0":
        cause = ("unprivileged user namespaces are disabled on this machine (kernel.unprivileged_userns_clone = 0, "
                 "Debian's switch): an administrator can allow them with `sudo sysctl -w kernel.unprivileged_userns_clone=1` "
                 "(and that line, without `sysctl -w`, in /etc/sysctl.d/ to keep it)")
    elif _sysctl("kernel/apparmor_restrict_unprivileged_userns") == "1":
        cause = ("AppArmor forbids unprivileged user namespaces on this machine (kernel.apparmor_restrict_unprivileged_userns = 1, "
                 "Ubuntu 24.04's default): an administrator can allow them with "
                 "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or give /usr/bin/bwrap an AppArmor "
                 "profile that allows `userns`")
    elif _sysctl("user/max_user_namespaces") == "0":
        cause = ("user namespaces are disabled on this machine (user.max_user_namespaces = 0): an administrator can "
                 "allow them with `sudo sysctl -w user.max_user_namespaces=15000`")
    else:
        cause = f"a sandbox could not be made as an ordinary user ({detail})"
    return f"{cause}; or grade as root (with sudo), whose sandbox needs no user namespace"


def run_sandboxed(argv, *, workdir, slot, limits=Limits(), env=None, ro_binds=(), keep=None) -> SandboxResult:
    """Run argv in a fresh sandbox with cwd /submission holding a copy of workdir; see the module doc.

    `keep`: the relative paths copied back into workdir after the run (None: everything).
    """
    problem = check_available()
    if problem:
        raise SandboxUnavailable(problem)
    if user_mode():
        return _run_unprivileged(list(argv), Path(workdir), slot, limits, dict(env or {}), ro_binds, keep)
    return _run(list(argv), Path(workdir), slot, limits, dict(env or {}), [Path(p) for p in ro_binds], keep)


# The program of a one-shot sandbox in user mode: its run becomes the command.
EXEC_PROGRAM = "import os\n\ndef main(*argv):\n    os.execvp(argv[0], argv)\n"


def _run_unprivileged(argv, workdir, slot, limits, env, ro_binds, keep) -> SandboxResult:
    """One command in user mode: a warm sandbox of one run, whose run execs `argv`.

    Why not bwrap alone: the run's disk is a tmpfs that exists only in the sandbox's mount
    namespace, so something of ours must hold it while the grader copies the results out.
    """
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}; got {slot!r}")
    if not workdir.is_dir():
        raise ValueError(f"workdir must be an existing folder; got {workdir}")
    with WarmSandbox(EXEC_PROGRAM, "sandboxed_command", slot=slot, limits=limits, env=env, ro_binds=ro_binds) as box:
        return box.run(argv, workdir=workdir, keep=keep)


def _run(argv, workdir, slot, limits, env, ro_binds, keep=None) -> SandboxResult:
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}; got {slot!r}")
    if not workdir.is_dir():
        raise ValueError(f"workdir must be an existing folder; got {workdir}")
    if missing := [str(p) for p in ro_binds if not p.exists()]:
        raise ValueError(f"ro_binds must exist on the host; missing: {', '.join(missing)}")
    uid = BASE_UID + slot
    with _claim_uid(uid):
        return _run_as(argv, workdir, uid, limits, env, ro_binds, keep)


class WarmSandbox:
    """One sandbox kept for many runs of one slot, whose zygote imported `program` once.

    Each `run` is a child forked from the zygote (see zygote.py), the run's uid with the run's
    limits, in this sandbox's namespaces; between runs the grader restores what a fresh sandbox
    would give: no process of the uid (killed), an empty disk (emptied, then `workdir` copied in),
    no keys, no SysV or POSIX IPC objects (removed by the zygote's cleaner). If the zygote dies
    or a cleaning fails, the sandbox is replaced before the next run. Not thread-safe: one per slot.

    `program`: a module's source (it must import nothing of the autograder, which the sandbox
    does not show) whose top-level imports are what every run needs, and whose `main(*args)`
    each run calls; `name` names it in tracebacks. The zygote is this Python (sys.prefix is
    bound read-only, with `ro_binds`).
    """

    def __init__(self, program: str, name: str, *, slot: int | None, limits: Limits = Limits(), env=None, ro_binds=()):
        """`slot`: the slot (uid) to hold, waiting while another grader on this host holds it, or
        None for the first slot no grader on this host holds (the uid is then `self.uid`)."""
        if problem := (None if name == _PROBE_NAME else check_available()):
            raise SandboxUnavailable(problem)
        if slot is not None and not 0 <= slot < MAX_SLOTS:
            raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}; got {slot!r}")
        self.program, self.name, self.limits = program, name, limits
        self.unprivileged = user_mode()
        # A host uid is claimed only where it is real: in user mode the uid exists in the sandbox's
        # namespaces alone (every sandbox is the grader's own uid on the host).
        if self.unprivileged:
            self._claim, slot = contextlib.nullcontext(), slot or 0
        elif slot is None:
            self._claim, slot = _claim_free_uid()
        else:
            self._claim = _claim_uid(BASE_UID + slot)
        self._claim.__enter__()
        self.uid, self.env = BASE_UID + slot, _clean_env(dict(env or {}))
        self.ro_binds = [Path(sys.prefix), *map(Path, ro_binds)]  # the zygote is this Python
        # Binds under /tmp (the sandbox's /tmp is the run's, emptied after each run) have mount points there.
        self._mount_points = [Path("tmp") / p.relative_to("/tmp") for p in self.ro_binds if p.is_relative_to("/tmp")]
        if missing := [str(p) for p in self.ro_binds if not p.exists()]:
            raise ValueError(f"ro_binds must exist on the host; missing: {', '.join(missing)}")
        self._proc = self._stage = self._control = self._disk = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start(self):
        if self.unprivileged:
            self._stage = _make_user_stage(self.uid)
        else:
            _kill_uid(self.uid)
            _clear_keyrings(self.uid)
            self._stage = _make_stage(self.uid, self.limits)
            for name in DISK_FOLDERS:
                (self._stage / "disk" / name).mkdir()
            _own_folders(self._stage / "disk", self.uid)
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            python = Path(sys.prefix) / "bin" / "python"  # a venv's; a system Python (Debian's) has python3 only
            argv = [str(python if python.exists() else sys.executable), "-c", ZYGOTE, str(theirs.fileno())]
            command, options = _bwrap_command(argv, self._stage, self.uid, self.limits, self.ro_binds, zygote=True,
                                              unprivileged=self.unprivileged)
            wrapper = _share_and_oom_wrapper(_cpu_cgroup(self.uid))
            if self.unprivileged:
                wrapper += _user_disk_wrapper(self._stage, self.limits)
            self._proc = _spawn(wrapper + command, options, self.env, pass_fds=(theirs.fileno(),), stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._startup = _Capture(self._proc.stderr, self.limits.output_bytes)
        reply = self._ask({"program": self.program, "name": self.name}, timeout=self.limits.wall_seconds)
        if self.unprivileged and reply == {"ready": True}:
            # The disk as the grader sees it: through the sandbox's outer bwrap, which stays in the
            # mount namespace where its tmpfs is mounted (the grader owns that namespace).
            self._disk = Path(f"/proc/{self._proc.pid}/root") / self._stage.relative_to("/") / "disk"
        if reply != {"ready": True}:
            raise RuntimeError(f"the warm sandbox's zygote must import its program and say ready; it said {reply!r}; "
                               f"its stderr ends: {self._startup.text()[-2000:]}")

    def _ask(self, request, fds=(), timeout=None):
        """Send one request and wait up to `timeout` s for the answer (None: the zygote is gone)."""
        try:
            socket.send_fds(self._control, [json.dumps(request).encode()], list(fds))
            self._control.settimeout(timeout)
            answer = self._control.recv(zygote.MESSAGE_BYTES)
        except OSError:
            return None
        return json.loads(answer) if answer else None

    def run(self, args, *, workdir, keep=None) -> SandboxResult:
        """`main(*args)` in a fresh child with cwd /submission holding a copy of `workdir`; see run_sandboxed."""
        if self._proc is None or self._proc.poll() is not None:
            self._restart()
        try:
            return self._run(args, Path(workdir), keep)
        except BaseException:
            # Whatever failed (a cleaning, a copy, the zygote), the next run must not meet its
            # remains: the sandbox is replaced. Why: a kill that gave up once left a half-stopped
            # sandbox, and every later run of its slot came back "killed" in 0 s.
            with contextlib.suppress(Exception):
                self._stop()
            raise

    def _run(self, args, workdir: Path, keep) -> SandboxResult:
        limits, unprivileged = self.limits, self.unprivileged
        disk = self._disk if unprivileged else self._stage / "disk"
        _empty(disk, self.uid, self._mount_points, chown=not unprivileged)
        _copy_in(disk, workdir, self.uid, limits, chown=not unprivileged)
        if not unprivileged:
            _clear_keyrings(self.uid)  # in user mode each run has a user namespace, and keyrings, of its own
        pipes = [os.pipe(), os.pipe()]
        run = {"uid": self.uid, "cwd": SANDBOX_WORKDIR, "env": self.env, "args": list(args),
               "rlimits": {"RLIMIT_AS": limits.memory_bytes, "RLIMIT_NPROC": limits.processes,
                           "RLIMIT_FSIZE": limits.file_size_bytes, "RLIMIT_CORE": 0}}
        if unprivileged:
            run["isolated"] = True
        start = time.monotonic()
        try:
            socket.send_fds(self._control, [json.dumps({"run": run}).encode()], [w for _, w in pipes])
            sent = True
        except OSError:
            sent = False
        finally:
            for _, write in pipes:
                os.close(write)
        outputs = [_Capture(os.fdopen(read, "rb"), limits.output_bytes) for read, _ in pipes]
        timed_out, answer = False, None
        if sent:
            try:
                self._control.settimeout(limits.wall_seconds)
                answer = self._control.recv(zygote.MESSAGE_BYTES)
            except TimeoutError:
                timed_out = True
                if unprivileged:
                    # The zygote kills the init of the run's PID namespace: every process of the run dies,
                    # and the zygote answers once they are all gone. As _kill_uid's patience: 505 forks of
                    # a TensorFlow kernel take seconds to end, more on a busy machine.
                    with contextlib.suppress(OSError):
                        self._control.send(json.dumps({"kill": True}).encode())
                    answer = self._answer(timeout=60)
                else:
                    _kill_uid(self.uid)  # the child dies, and the zygote says so
                    answer = self._answer(timeout=10)
            except OSError:
                answer = None
        wall = time.monotonic() - start
        if not unprivileged:  # in user mode the run's PID namespace ended with it, before the answer
            _kill_uid(self.uid)
            _clear_keyrings(self.uid)
        for capture in outputs:
            capture.thread.join(timeout=5)
        code = json.loads(answer).get("exit") if answer else None
        if code is None and not timed_out:
            code = -signal.SIGKILL  # the zygote itself died (a host out of memory kills the sandbox first)
        result = SandboxResult(None if timed_out else code, timed_out, outputs[0].text(), outputs[1].text(),
                               wall, any(c.truncated for c in outputs))
        if answer is None and unprivileged:
            # The zygote is gone, and the disk with its mount namespace: replaced before the next
            # run, and nothing of this run is handed back.
            self._stop()
            for entry in workdir.iterdir():
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            return result
        result.not_copied = _collect(disk, workdir, keep, limits)
        _empty(disk, self.uid, self._mount_points, chown=not unprivileged)
        # SysV and POSIX IPC: removed by the zygote's cleaner; in user mode they died with the run's IPC namespace.
        if not unprivileged and (answer is None or self._ask({"clean": {"uid": self.uid}}, timeout=30) in (None, {"cleaned": None})):
            self._stop()  # replaced before the next run
        return result

    def _answer(self, timeout):
        try:
            self._control.settimeout(timeout)
            return self._control.recv(zygote.MESSAGE_BYTES) or None
        except OSError:
            return None

    def _restart(self):
        self._stop()
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._stop()  # a zygote that never said ready is not used: the next run tries anew
            raise

    def _stop(self):
        try:
            if self._control is not None:
                self._control.close()
                self._control = None
            if self._proc is not None:
                # The zygote ends when its control socket closes: ended so, every process is waited
                # for by its parent (the benchmark's CPU accounting sees them); a kill is the fallback.
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    self._proc.wait()
                self._proc = None
            if not self.unprivileged:  # in user mode, bwrap's PID namespace ended with its init
                _kill_uid(self.uid)
                _clear_keyrings(self.uid)
        finally:
            if self._stage is not None:
                _remove_stage(self._stage)
                self._stage = None

    def close(self):
        """Stop the sandbox and free its uid (idempotent)."""
        try:
            self._stop()
        finally:
            if self._claim is not None:
                self._claim.__exit__(None, None, None)
                self._claim = None


# Host-wide claims on the sandbox uids (one lock file per uid, root's, in a 0700 folder).
UID_LOCKS = Path(tempfile.gettempdir()) / "autograder-sandbox-uids"


@contextlib.contextmanager
def _claim_uid(uid):
    """Hold `uid` for one run, waiting while another grader on this host holds it.

    Why: slots are numbered per grader process, so two graders on one host (two CI jobs, a
    test run next to a grading run) used the same uids at once. Each one's _kill_uid then
    SIGKILLed the other's sandbox mid-run (an honest notebook came back "crashed", exit 137),
    and RLIMIT_NPROC was shared. A flock is released by the kernel if the grader dies.
    """
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(UID_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class _FreeUid:
    """The flock of a slot's uid that no grader on this host held when it was taken (a context, entered already)."""

    def __init__(self, fd):
        self._fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self._fd)


def _claim_free_uid():
    """(claim, slot) of the first slot whose uid no grader on this host holds, held until the claim exits.

    Why not slots 0..jobs-1 each time: two graders with --jobs 2 each held one of uids 0 and 1
    and waited for the other's (both waited until the other finished: never). Taking any free
    uid never waits, and lets Dask workers on one host each have their own.
    """
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    for slot in range(MAX_SLOTS):
        fd = os.open(UID_LOCKS / f"{BASE_UID + slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return _FreeUid(fd), slot
    raise SandboxUnavailable(f"all {MAX_SLOTS} sandbox uids of this host are held by other graders")


def _run_as(argv, workdir, uid, limits, env, ro_binds, keep) -> SandboxResult:
    stage = _make_stage(uid, limits)
    try:
        _fill(stage / "disk", workdir, uid, limits)
        command, options = _bwrap_command(argv, stage, uid, limits, ro_binds)
        _clear_keyrings(uid)  # in case a grader died before clearing after its run
        result = _execute(_share_and_oom_wrapper(_cpu_cgroup(uid)) + command, options, _clean_env(env), limits)
        _kill_uid(uid)  # the pid namespace should have done it: make sure before reading files
        _clear_keyrings(uid)
        result.not_copied = _collect(stage / "disk", workdir, keep, limits)
        return result
    finally:
        _kill_uid(uid)
        _remove_stage(stage)


def _make_user_stage(uid) -> Path:
    """User mode's staging folder: the folders the disk and /etc tmpfs are mounted on (by the
    sandbox's own mount namespace: _user_disk_wrapper) and the /etc files to copy there."""
    stage = Path(tempfile.mkdtemp(prefix="sandbox-stage-"))  # 0700, the grader's
    try:
        (stage / OWNER_FILE).write_text(str(os.getpid()))
        for name in ("disk", "etc", "etc-files"):
            (stage / name).mkdir()
        for name, text in _etc_files(uid).items():
            (stage / "etc-files" / name).write_text(text)
        return stage
    except BaseException:
        _remove_stage(stage)
        raise


def _user_disk_wrapper(stage, limits) -> list[str]:
    """User mode: enter a user and mount namespace of the grader's own (its root is the grader's
    uid), mount the run's disk (a tmpfs of disk_bytes, the folders of DISK_FOLDERS in it) and the
    /etc tmpfs on the stage there, then exec bwrap, which binds them as in root mode.

    Why: an ordinary user cannot mount on the host, and bwrap can bind only what exists before it
    starts. The tmpfs lives in this namespace only: the grader reaches it through
    /proc/<bwrap's pid>/root (WarmSandbox._disk), as the namespace's owner.
    """
    options = f"size={limits.disk_bytes},nr_inodes={max(1024, limits.disk_bytes // 16384)},mode=0755,nosuid,nodev"
    script = ('cd "$0" && mount -t tmpfs -o "$1" sandbox disk && mkdir -m 0755 disk/work disk/home '
              '&& mkdir -m 1777 disk/tmp disk/shm && mount -t tmpfs -o size=64k,mode=0755,nosuid,nodev sandbox etc '
              '&& cp etc-files/* etc/ && shift && exec "$@"')
    return ["unshare", "--user", "--map-root-user", "--mount", "--", "sh", "-c", script, str(stage), options]


def _make_stage(uid, limits) -> Path:
    """A private staging folder holding the run's disk (a tmpfs of disk_bytes) and /etc files."""
    # 0700 and root's: nothing else on the host reaches in. The owner's pid, in a file (not in the
    # name, which would be one more thing a run could learn of the grader), lets a later grader sweep it.
    stage = Path(tempfile.mkdtemp(prefix="sandbox-stage-"))
    try:
        (stage / OWNER_FILE).write_text(str(os.getpid()))
        (stage / "disk").mkdir()
        # nr_inodes bounds the kernel memory a flood of empty files could take.
        options = f"size={limits.disk_bytes},nr_inodes={max(1024, limits.disk_bytes // 16384)},mode=0755,nosuid,nodev"
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "sandbox", str(stage / "disk")], check=True, capture_output=True)
        # On a tmpfs of their own, not in the stage: mountinfo shows a bind's path inside its file
        # system (it showed the stage's host path); not on `disk`, whose bytes are the run's.
        (stage / "etc").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755,nosuid,nodev", "sandbox", str(stage / "etc")],
                       check=True, capture_output=True)
        for name, text in _etc_files(uid).items():
            (stage / "etc" / name).write_text(text)
        return stage
    except BaseException:
        _remove_stage(stage)
        raise


DISK_FOLDERS = ("work", "home", "tmp", "shm")  # on the disk: /submission, HOME, /tmp, /dev/shm


def _fill(disk, workdir, uid, limits):
    """Make the run's empty folders on `disk` and copy `workdir` into its /submission, owned by `uid`."""
    for name in DISK_FOLDERS:
        (disk / name).mkdir()
    _own_folders(disk, uid)
    _copy_in(disk, workdir, uid, limits)


def _own_folders(disk, uid, chown=True):
    for name in DISK_FOLDERS:
        if chown:
            os.chown(disk / name, uid, uid)
        os.chmod(disk / name, 0o1777 if name in ("tmp", "shm") else 0o755)


def _copy_in(disk, workdir, uid, limits, chown=True):
    try:
        shutil.copytree(workdir, disk / "work", symlinks=True, dirs_exist_ok=True)
    except (OSError, shutil.Error) as error:
        raise ValueError(f"workdir must fit in disk_bytes={limits.disk_bytes}; copying {workdir} failed: {error}") from None
    os.chmod(disk / "work", 0o755)  # copytree gave it the mode of workdir; bwrap (no DAC override) must chdir in
    if not chown:
        return  # user mode: the grader's files are already the sandbox uid's (the same uid on the host)
    for root, dirs, files in os.walk(disk / "work"):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def _collect(disk, workdir, keep, limits) -> list[str]:
    """Empty `workdir` and refill it with what the run left in /submission; what was not copied."""
    for entry in workdir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return _copy_back(disk / "work", workdir, keep, limits.disk_bytes)


def _empty(disk, uid, mount_points=(), chown=True):
    """Remove everything a run left in the folders of `disk` (once no process of `uid` is left).

    The folders themselves stay: they are the sandbox's mount points, and so do `mount_points`
    (paths relative to `disk`: the folders bwrap made for a read-only bind under /tmp, a clone
    in /tmp, say; removed from the host's side, their bind vanished from the sandbox). What the
    run put inside them goes. Owner and mode of the folders are set again, in case the run changed them.
    """
    keep = {Path(p) for m in mount_points for p in [m, *Path(m).parents]}
    stack = [Path(name) for name in DISK_FOLDERS]
    while stack:
        folder = stack.pop()
        for entry in os.scandir(disk / folder):
            if folder / entry.name in keep and entry.is_dir(follow_symlinks=False):
                stack.append(folder / entry.name)
            elif entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)  # fd-based: never follows a link the run made
            else:
                os.unlink(entry.path)
    _own_folders(disk, uid, chown)


def _remove_stage(stage):
    for mount in (stage / "disk", stage / "etc"):
        if os.path.ismount(mount):
            _unmount(mount)
    shutil.rmtree(stage, ignore_errors=True)


OWNER_FILE = "owner.pid"
CGROUP_NAME = "autograder-sandbox-{uid}"


def _cpu_cgroup(uid) -> Path | None:
    """A CPU cgroup of its own for the run of `uid` (cgroup v2, else v1), or None where there is none.

    Why: without it the scheduler shares the CPU between threads (or, with autogroup, between
    sessions), so a fork bomb of 500 spinning processes, each calling setsid, next to an honest
    notebook made the honest one time out. In its own cgroup a run gets one share of the CPU,
    however many processes it starts; the (empty) cgroup stays for the next run of that uid.
    Cgroups are optional: a host without a writable cpu controller still gets every other limit.
    """
    unified = Path("/sys/fs/cgroup")
    try:
        v2 = "cpu" in (unified / "cgroup.subtree_control").read_text().split()
    except OSError:
        v2 = False
    root = unified if v2 else unified / "cpu"
    if not (root / "cgroup.procs").exists():
        return None
    cgroup = root / CGROUP_NAME.format(uid=uid)
    try:
        cgroup.mkdir(exist_ok=True)
    except OSError:
        return None
    # Made by root before, it may exist and still not be ours (an ordinary user's grader).
    return cgroup if os.access(cgroup / "cgroup.procs", os.W_OK) else None


def _share_and_oom_wrapper(cgroup) -> list[str]:
    """A shell that moves itself into `cgroup` and marks itself first to die on a host out-of-memory,
    then execs bwrap: everything the run starts inherits both. The cgroup cannot be left from
    inside; the mark cannot be lowered where the grader's root has CAP_SYS_RESOURCE.

    Why the OOM mark: RLIMIT_AS bounds each process, not their sum, so many processes can still
    exhaust the host; the kernel's OOM killer then takes the sandbox's processes, not the grader.
    """
    script = 'echo 1000 > /proc/self/oom_score_adj && { [ -z "$0" ] || echo $$ > "$0"; } && exec "$@"'
    return ["sh", "-c", script, str(cgroup / "cgroup.procs") if cgroup else ""]


def _unmount(path):
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True)


def _sweep_stale_stages():
    """Unmount and remove the staging folders of grader processes that died mid-run."""
    for stage in Path(tempfile.gettempdir()).glob("sandbox-stage-*"):
        try:
            pid = (stage / OWNER_FILE).read_text()
        except OSError:
            continue  # being made right now, or not ours
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove_stage(stage)


def _etc_files(uid) -> dict[str, str]:
    # Our own passwd/hosts: name lookups work and nothing of the host's accounts shows.
    return {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\nstudent:x:{uid}:{uid}:student:{SANDBOX_HOME}:/bin/sh\n",
        "group": f"root:x:0:\nstudent:x:{uid}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }


def _bwrap_command(argv, stage, uid, limits, ro_binds, *, zygote=False, unprivileged=False) -> list[str]:
    """bwrap's command and its options; argv runs as `uid` with the limits, or, for a warm
    sandbox's `zygote`, as the sandbox's root with CAP_SETUID, CAP_SETGID and CAP_SETPCAP only
    (it drops each child itself) and with /dev/mqueue mounted (so that it can empty it).

    `unprivileged` (user mode, zygote only): bwrap makes a user namespace in which the zygote is
    `uid` without capabilities (each run makes its own namespaces: zygote.py), and / and /dev are
    read-only (there they belong to the sandbox's uid, and would be disk beyond disk_bytes)."""
    disk = stage / "disk"
    command = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--hostname", "sandbox"]
    if unprivileged:
        command += ["--unshare-user", "--uid", str(uid), "--gid", str(uid), "--cap-drop", "ALL"]
    else:
        # root's capabilities are dropped by bwrap except those setpriv needs to drop to uid.
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    command += ["--ro-bind", "/usr", "/usr"]
    binds = [str(p) for p in dict.fromkeys([Path(sys.base_prefix), *ro_binds]) if not str(p).startswith("/usr/")]
    command += _parents(["/etc/x", SANDBOX_HOME])
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):  # merged /usr: keep the link, not a second bind
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"):
        command += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name in _etc_files(uid):
        command += ["--ro-bind", str(stage / "etc" / name), f"/etc/{name}"]
    # /tmp before the read-only binds, so a bind that lives under the host's /tmp stays visible.
    command += ["--proc", "/proc", "--dev", "/dev", "--bind", str(disk / "shm"), "/dev/shm",
                "--bind", str(disk / "tmp"), "/tmp", "--bind", str(disk / "home"), SANDBOX_HOME,
                "--bind", str(disk / "work"), SANDBOX_WORKDIR] + (["--mqueue", "/dev/mqueue"] if zygote and not unprivileged else [])
    # After the /tmp bind: a bind under the host's /tmp (a clone in /tmp, say) needs its parents there.
    command += _parents(binds)
    for path in binds:
        command += ["--ro-bind", path, path]
    if unprivileged:
        command += ["--remount-ro", "/", "--remount-ro", "/dev"]
    command += ["--chdir", SANDBOX_WORKDIR]
    # bwrap reads its options from a pipe (fd ARGS_FD), so its cmdline, which any process of the
    # run can read at /proc/1/cmdline, shows no host path. The command itself (bwrap takes it from
    # argv only) names no grader path but the venv's.
    options = b"".join(arg.encode() + b"\0" for arg in command[1:])
    if zygote:
        return ["bwrap", "--args", ARGS_FD, "--"] + argv, options
    return ["bwrap", "--args", ARGS_FD, "--",
                "prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
                f"--fsize={limits.file_size_bytes}", "--core=0", "--",
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"] + argv, options


def _parents(paths) -> list[str]:
    """bwrap options making the missing parents of `paths` 0755.

    Why: bwrap (as root) makes missing parents of mount points 0700, and the sandbox uid
    could not pass through them.
    """
    options = []
    for parent in dict.fromkeys(str(a) for p in paths for a in reversed(Path(p).parents)):
        if parent != "/":
            options += ["--perms", "0755", "--dir", parent]
    return options


def _clean_env(extra) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": SANDBOX_HOME, "USER": "student",
           "LOGNAME": "student", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "MALLOC_ARENA_MAX": "2",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1"}
    return env | extra


ARGS_FD = "{args_fd}"  # in bwrap's command: replaced by the number of the pipe holding its options


def _write_all(fd, data):
    with open(fd, "wb") as pipe:
        try:
            pipe.write(data)
        except OSError:
            pass  # bwrap died before reading: _execute reports its exit


def _spawn(command, options, env, pass_fds=(), stdout=subprocess.PIPE) -> subprocess.Popen:
    """Start bwrap with its options on a pipe; stderr is a pipe."""
    reader, writer = os.pipe()
    os.set_inheritable(reader, True)
    try:
        # Own session: one killpg reaches bwrap; its pid namespace and --die-with-parent do the rest.
        command = [str(reader) if arg == ARGS_FD else arg for arg in command]
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.PIPE, start_new_session=True, pass_fds=(reader, *pass_fds))
    finally:
        os.close(reader)
    threading.Thread(target=_write_all, args=(writer, options), daemon=True).start()
    return proc


def _execute(command, options, env, limits) -> SandboxResult:
    start = time.monotonic()
    proc = _spawn(command, options, env)
    outputs = [_Capture(proc.stdout, limits.output_bytes), _Capture(proc.stderr, limits.output_bytes)]
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wall = time.monotonic() - start
    for capture in outputs:
        capture.thread.join(timeout=5)
    return SandboxResult(None if timed_out else proc.returncode, timed_out, outputs[0].text(),
                         outputs[1].text(), wall, any(c.truncated for c in outputs))


class _Capture:
    """Drain a pipe in a thread, keeping its first and last limit/2 bytes."""

    def __init__(self, pipe, limit):
        self.pipe, self.head_max, self.tail_max = pipe, limit // 2, limit - limit // 2
        self.head, self.tail, self.total = bytearray(), bytearray(), 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        with self.pipe:
            while chunk := self.pipe.read1(1 << 16):
                self.total += len(chunk)
                room = self.head_max - len(self.head)
                self.head += chunk[:room]
                self.tail += chunk[room:] if room > 0 else chunk
                if len(self.tail) > 2 * self.tail_max:
                    del self.tail[:-self.tail_max]

    @property
    def truncated(self) -> bool:
        return self.total > self.head_max + self.tail_max

    def text(self) -> str:
        tail = self.tail[-self.tail_max:] if self.tail_max else b""
        marker = f"\n[... {self.total - len(self.head) - len(tail)} bytes dropped ...]\n" if self.truncated else ""
        return self.head.decode(errors="replace") + marker + bytes(tail).decode(errors="replace")


def _kill_uid(uid, patience=60.0):
    """Kill every host process whose real uid is the slot's uid, and wait until none is left.

    First in one stroke: kill(-1, SIGKILL) sent by a process that is `uid` reaches every
    process of that uid at once (the kernel walks them under a lock that fork must take, and a
    killed process forks no more). Why: a fork bomb outran a kill of one pid after another
    (hundreds still alive after 5 s), and in a warm sandbox no namespace ends to do it instead.
    Then patience: a killed process is not gone at once. 505 forks of a kernel that imported
    TensorFlow took 3.2 s to end on two idle cores (each tears down a large address space), and
    longer next to another run; a 5 s patience made the grader give up on a busy machine.
    Whatever is still listed is killed again (should the stroke have failed); only a process
    that outlives `patience` seconds of SIGKILLs is an error.
    """
    try:
        subprocess.run(["/bin/sh", "-c", "kill -KILL -1"], user=uid, group=uid, extra_groups=[], env={}, cwd="/",
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pass  # the loop below still kills them one by one
    deadline = time.monotonic() + patience
    while pids := _pids_of(uid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes of sandbox uid {uid} must be gone {patience:.0f} s after SIGKILL; "
                               f"still alive: {len(pids)} ({pids[:20]})")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def _pids_of(uid) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        # The real uid from status: /proc/PID itself shows root for non-dumpable processes.
        try:
            if entry.name.isdigit() and _real_uid(entry.path) == uid:
                pids.append(int(entry.name))
        except OSError:
            pass  # the process ended while we looked
    return pids


def _real_uid(proc_dir) -> int:
    with open(f"{proc_dir}/status") as status:
        return int(next(line for line in status if line.startswith("Uid:")).split()[1])


BLOCK = 4096  # what one directory or the tail of one file takes on the host's disk, at most


def _clear_keyrings(uid):
    """Empty the kernel keyrings that belong to `uid` and outlive its processes.

    Why: the user keyring (@u), the user session keyring (@us, also the session keyring of a
    run, which has none of its own) and the persistent keyring live in the kernel per uid, not
    per namespace: a key one submission stored was read back by the next run in its slot.
    A short child that is `uid` clears them (KEYCTL_CLEAR needs the owner's write permission).
    """
    # The system Python: the venv may live where the uid cannot reach (under /root, say).
    subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", _CLEAR_KEYRINGS], user=uid, group=uid, extra_groups=[],
                   env={}, cwd="/", stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=True)


# keyctl(2): x86_64 syscall 250, aarch64 219; KEYCTL_CLEAR 7, KEYCTL_GET_PERSISTENT 22.
_CLEAR_KEYRINGS = """
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
keyctl = {"x86_64": 250, "aarch64": 219}[platform.machine()]
libc.syscall.restype = ctypes.c_long
for spec in (-4, -5):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING
    libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(7), ctypes.c_long(spec))
persistent = libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(22), ctypes.c_long(-1), ctypes.c_long(-2))
if persistent > 0:  # -2: linked into a process keyring of this child only
    libc.syscall(ctypes.c_long(keyctl), ctypes.c_long(7), ctypes.c_long(persistent))
"""


def _wanted(path: Path, keep) -> bool:
    """Is `path` (relative) one of `keep`, inside one, or a folder on the way to one?"""
    return keep is None or any(path.parts[:len(k.parts)] == k.parts or k.parts[:len(path.parts)] == path.parts for k in keep)


def _copy_back(src: Path, dst: Path, keep=None, budget=None) -> list[str]:
    """Copy directories and regular files from src into dst without following links.

    Only what `keep` names, and at most `budget` bytes of the host's disk: a file is charged
    its size (rounded up to BLOCK), a folder one BLOCK. Why: sparse files and hard links take
    little of the sandbox's tmpfs but their full size, each, once copied; one run of 1 MiB made
    3.2 GiB on the host. Hard links are refused (no honest run makes one); a file past the
    budget (a sparse one, since the tmpfs itself holds at most budget) is not copied.
    """
    keep = None if keep is None else [Path(k) for k in keep]
    left = float("inf") if budget is None else budget
    not_copied, stack = [], [Path()]
    while stack:
        rel = stack.pop()
        with os.scandir(src / rel) as entries:
            for entry in entries:
                path = rel / entry.name
                if not _wanted(path, keep):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                    mode, cost = info.st_mode, -(-max(info.st_size, 1) // BLOCK) * BLOCK
                    if stat.S_ISREG(mode) and info.st_nlink > 1:
                        not_copied.append(f"{path} (hard link)")
                    elif (stat.S_ISDIR(mode) or stat.S_ISREG(mode)) and cost > left:
                        sparse = stat.S_ISREG(mode) and info.st_blocks * 512 < info.st_size
                        not_copied.append(f"{path} ({'sparse file' if sparse else 'over the disk limit'})")
                    elif stat.S_ISDIR(mode) and len(path.parts) <= MAX_COPY_DEPTH:
                        left -= BLOCK
                        (dst / path).mkdir(mode=0o755)
                        stack.append(path)
                    elif stat.S_ISREG(mode):
                        left -= cost
                        shutil.copyfile(src / path, dst / path, follow_symlinks=False)
                    else:
                        kind = "symlink" if stat.S_ISLNK(mode) else "too deep" if stat.S_ISDIR(mode) else "special file"
                        not_copied.append(f"{path} ({kind})")
                except OSError as error:
                    not_copied.append(f"{path} ({error.strerror})")
    return not_copied
