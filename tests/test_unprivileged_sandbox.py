"""The sandbox as an ordinary user (autograder/sandbox.py's user mode): the limits and the isolation
hold without root, hostile notebooks get what their work earns through `python -m autograder grade`,
and where no sandbox can be made the message says what to do.

The grader runs as the user `ag-unprivileged` (tests/unprivileged.py makes it, and opens the way to
this Python where it lives under a closed folder); these tests run as root, as CI does, to switch
to that user and to look at the host from outside.
"""

import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder import sandbox
from conftest import host_pids_of
from unprivileged import PROJECT, as_user, json_of, user

# Where no test user can be had (not root, no useradd): skipped, saying why. The message test needs none.
as_a_user = pytest.mark.skipif(isinstance(user(), str), reason=f"an ordinary user's grader: {user()}")


@pytest.fixture
def home():
    """A folder of the test user's, outside root's closed tmp_path; removed with what the runs left."""
    folder = Path(tempfile.mkdtemp(prefix="ag-unprivileged-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def no_process_of_the_user_left(patience=10.0):
    """Once the user's grader has exited, is every process of the user gone (the sandboxes' are the user's)?"""
    deadline = time.monotonic() + patience
    while host_pids_of({user()[0]}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return host_pids_of({user()[0]}) == []


# The probes, run by the user's grader: each a sandboxed command and what it printed or how it ended.
LIMITS_AND_ISOLATION = r'''
import errno, json, os, signal, subprocess, sys, textwrap, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from autograder import sandbox
from autograder.sandbox import Limits, WarmSandbox, run_sandboxed

assert sandbox.user_mode() and sandbox.check_available() is None, sandbox.check_available()
HOME = Path.cwd()
FAST = Limits(wall_seconds=20)
findings = {}

def run(name, code, slot=0, limits=FAST, binds=()):
    work = HOME / name
    work.mkdir()
    argv = code if isinstance(code, list) else [sys.executable, "-c", textwrap.dedent(code)]
    return run_sandboxed(argv, workdir=work, slot=slot, limits=limits, ro_binds=[Path(sys.prefix), *binds])

FORKS = """
    import os, time
    started = 0
    try:
        for _ in range(100):
            if os.fork() == 0:
                time.sleep(30); os._exit(0)
            started += 1
    except BlockingIOError:
        pass
    time.sleep(1)
    print(started)
"""

result = run("identity", """
    import json, os, resource
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    try:
        os.setuid(0); regained = True
    except OSError:  # EINVAL: no uid 0 in its user namespace
        regained = False
    pid_before = os.getsid(0)
    os.setsid()
    print(json.dumps({"ids": [os.getuid(), os.getgid(), os.getgroups()], "regained": regained,
                      "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
                      "no_new_privs": status["NoNewPrivs"].strip(), "new session": os.getsid(0) != pid_before,
                      "oom_score_adj": open("/proc/self/oom_score_adj").read().strip(),
                      "processes seen": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                      "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0]}))
""", slot=4)
findings["identity"] = json.loads(result.stdout or "null") or result.stderr

result = run("nested", ["sh", "-c", "unshare -Urm sh -c 'mount -t tmpfs none /tmp && echo mounted'"])
findings["nested user namespace"] = [result.returncode, result.stdout, result.stderr.strip()[-200:]]

result = run("network", """
    import socket
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=5); print("outside: connected")
    except OSError as error:
        print("outside:", error.errno)
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    server.accept()[0].sendall(b"pong")
    print("loopback:", client.recv(4).decode())
""")
findings["network"] = result.stdout.splitlines()

(HOME / "secret").mkdir()
(HOME / "secret" / "answers.txt").write_text("42")
result = run("files", f"""
    import os
    print([path for path in ["{HOME}/secret/answers.txt", "{HOME}", "/proc/1/root/etc/shadow", "/etc/shadow",
                             "{Path(sandbox.__file__).parent.parent / 'assignments'}"] if os.path.exists(path)])
""")
findings["files"] = result.stdout.strip() or result.stderr

result = run("memory", "x = bytearray(8 * 2**30)")
findings["memory"] = [result.returncode, "MemoryError" in result.stderr]

result = run("disk", """
    import errno
    def write(path, mib):
        try:
            with open(path, "wb") as f:
                for _ in range(mib):
                    f.write(b"x" * 2**20); f.flush()
            return "ok"
        except OSError as error:
            return errno.errorcode[error.errno]
    print(write("/tmp/a", 3), write("b", 3), write("/dev/shm/c", 3), write("/home/student/d", 1), write("/e", 1), write("/dev/f", 1))
""", limits=Limits(wall_seconds=20, disk_bytes=4 * 2**20, file_size_bytes=2**30))
findings["disk"] = result.stdout.split() or result.stderr

result = run("processes", FORKS, slot=7, limits=Limits(wall_seconds=10, processes=20))
findings["processes"] = result.stdout.strip() or result.stderr

limits = Limits(wall_seconds=10, processes=20)
with ThreadPoolExecutor(2) as pool:
    results = list(pool.map(lambda slot: run(f"concurrent{slot}", FORKS, slot=slot, limits=limits), (10, 11)))
findings["concurrent"] = [r.stdout.strip() or r.stderr for r in results]

# A fork bomb of sessions next to the grader's own process budget: the grader can still fork.
bomb = threading.Thread(target=lambda: findings.setdefault("fork bomb", run("bomb", """
    import os
    while True:
        try:
            if os.fork() == 0:
                os.setsid()
        except OSError:
            pass
""", slot=8, limits=Limits(wall_seconds=4, processes=64)).timed_out))
bomb.start()
time.sleep(2)
findings["grader forks meanwhile"] = subprocess.run(["true"]).returncode
bomb.join()

# kill -9 -1 inside: every process it may signal. Our own sleeper outside must live on.
sleeper = subprocess.Popen(["sleep", "60"])
result = run("kill", "import os, signal, subprocess; subprocess.Popen(['sleep', '60']); os.kill(-1, signal.SIGKILL); print('after')")
findings["kill -1"] = [result.returncode, result.stdout, sleeper.poll()]
sleeper.kill()

result = run("wall", """
    import os, signal
    if os.fork() == 0:
        os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN)
    open("started", "w").write("yes")
    while True:
        pass
""", slot=6, limits=Limits(wall_seconds=2))
findings["wall"] = [result.timed_out, round(result.wall_seconds), (HOME / "wall" / "started").exists()]

# A key in the grader's own session keyring (the user's: a login's, say) is not the run's.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.syscall(ctypes.c_long(250), ctypes.c_long(1), None)  # a session keyring of the grader's own
libc.syscall(ctypes.c_long(248), b"user", b"grader-secret", b"s3cret", ctypes.c_size_t(6), ctypes.c_long(-3))
result = run("keys", """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    found = libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(-3), b"user", b"grader-secret", ctypes.c_long(0)) > 0
    # /proc/keys lists keys of its uid it may view (their names); their payloads need possession.
    ids = [int(line.split()[0], 16) for line in open("/proc/keys") if "grader-secret" in line]
    buffer = ctypes.create_string_buffer(64)
    read = [libc.syscall(ctypes.c_long(250), ctypes.c_long(11), ctypes.c_long(i), buffer, ctypes.c_long(64)) for i in ids]
    print(found, bool(ids), any(n >= 0 for n in read) or b"s3cret" in buffer.raw)
""")
findings["grader's session key"] = result.stdout.split() or result.stderr

# One warm sandbox, two runs: nothing of the first (keys, IPC, files, processes) is there in the second.
from test_sandbox_leaks import STORE_OR_READ
PROGRAM = "import sys\ndef main(code, *args):\n    sys.argv = ['run', *args]\n    exec(code, {'__name__': '__main__'})\n"
with WarmSandbox(PROGRAM, "test_program", slot=21, limits=FAST) as box:
    seen = []
    for step in ("store", "read"):
        (HOME / step).mkdir()
        extra = "\nimport subprocess; subprocess.Popen(['sleep', '1000'], start_new_session=True)" if step == "store" else \
                "\nimport subprocess; print(subprocess.run(['pgrep', '-c', 'sleep'], capture_output=True, text=True).stdout.strip())"
        result = box.run([STORE_OR_READ + extra, step], workdir=HOME / step)
        seen.append(result.stdout.strip().splitlines() if result.returncode == 0 else result.stderr)
findings["warm"] = seen

print(json.dumps(findings))
'''


@as_a_user
@pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64's")
def test_limits_and_isolation_hold_for_an_ordinary_user(home):
    """As an ordinary user: is each run its own uid with no privileges, no network, nothing of the grader
    visible, and bounded in memory, disk, processes (per sandbox, not per uid) and time; does a fork bomb
    leave the grader its processes; does kill -9 -1 stay inside; does nothing survive into the next run?"""
    started = time.monotonic()
    found = json_of(as_user(LIMITS_AND_ISOLATION, cwd=home, timeout=240))
    identity = found["identity"]
    assert isinstance(identity, dict), identity
    uid = sandbox.BASE_UID + 4
    assert identity["ids"] == [uid, uid, []] and identity["regained"] is False
    assert identity["caps"] == ["0000000000000000"] * 5 and identity["no_new_privs"] == "1"
    assert identity["new session"] is False  # setsid does nothing: one scheduler share per run
    assert identity["oom_score_adj"] == "1000"
    assert identity["processes seen"][:2] == [1, 2]  # its own init and itself: nothing of the grader or the zygote
    assert identity["nproc"] == sandbox.Limits().processes + 2  # its init and that init's parent count too
    # No user namespace of its own, so no tmpfs past disk_bytes (it mounted one of half the host's memory).
    assert found["nested user namespace"][0] != 0 and "mounted" not in found["nested user namespace"][1], found
    assert found["network"] == ["outside: 101", "loopback: pong"]  # ENETUNREACH
    assert found["files"] == "[]"
    assert found["memory"] == [1, True]
    # 3 MiB fit in the 4 MiB disk, the rest fills it; / and /dev are no disk beyond disk_bytes.
    assert found["disk"] == ["ok", "ENOSPC", "ENOSPC", "ENOSPC", "EROFS", "EROFS"]
    assert found["processes"] == "19"  # 20 processes, the first included, as for root
    assert found["concurrent"] == ["19", "19"]  # one uid on the host, two budgets
    assert found["fork bomb"] is True and found["grader forks meanwhile"] == 0
    assert found["kill -1"] == [0, "after\n", None]  # its own init and the grader's sleeper live on
    assert found["wall"][0] is True and 2 <= found["wall"][1] < 5 and found["wall"][2] is True
    assert found["grader's session key"] == ["False", "True", "False"]  # its name shows, not its payload
    stored, read = found["warm"]
    assert isinstance(stored, list) and isinstance(read, list), found["warm"]
    assert all(eval(stored[0]).values()), stored
    assert not any(eval(read[0]).values()) and read[1] == "0", read
    assert no_process_of_the_user_left()
    assert time.monotonic() - started < 200


@as_a_user
def test_the_sandbox_dies_with_a_killed_grader(home):
    """If an ordinary user's grader is killed mid-run, does every process of its sandbox die (the user has
    no process left), and is its staging folder swept by the next grader?"""
    (home / "work").mkdir()
    os.chown(home / "work", *user())
    grader = as_user(f"from autograder.sandbox import run_sandboxed\n"
                     f"run_sandboxed(['sleep', '1000'], workdir='{home}/work', slot=9)", cwd=home, timeout=None, wait=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [pid for pid in host_pids_of({user()[0]}) if _comm(pid) == "sleep"]:
            time.sleep(0.05)
        assert [pid for pid in host_pids_of({user()[0]}) if _comm(pid) == "sleep"], grader.stderr.read() if grader.poll() else ""
        stages = list(Path(tempfile.gettempdir()).glob("sandbox-stage-*"))
        ours = [s for s in stages if s.stat().st_uid == user()[0]]
        assert _comm(grader.pid).startswith("python")  # unshare, sh and setpriv exec'd the grader in this pid
    finally:
        grader.kill()  # the grader alone: its sandbox must follow
        grader.wait()
    assert no_process_of_the_user_left(patience=5)
    assert ours and all(s.exists() for s in ours)  # left behind by the killed grader
    json_of(as_user("from autograder import sandbox; sandbox._sweep_stale_stages(); print('[]')", cwd=home, timeout=60))
    assert not any(s.exists() for s in ours)


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_unavailable_sandbox_says_what_to_do(monkeypatch):
    """Where an ordinary user's probe fails, does the reason name the switch that refuses it and the fix
    (Debian's sysctl, Ubuntu 24.04's AppArmor one, max_user_namespaces; else sudo), and is a missing bwrap
    or a kernel older than 5.15 named?"""
    monkeypatch.setattr(sandbox, "user_mode", lambda: True)
    monkeypatch.setattr(sandbox, "_sweep_stale_stages", lambda: None)
    monkeypatch.setattr(sandbox, "_kernel_version", lambda: (6, 1))
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: f"/usr/bin/{tool}")  # bwrap and util-linux "installed"

    def probe(workdir):
        raise RuntimeError("bwrap: No permissions to create new namespace")

    monkeypatch.setattr(sandbox, "_probe_user_sandbox", probe)
    cases = {
        "kernel/unprivileged_userns_clone": "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        "kernel/apparmor_restrict_unprivileged_userns": "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        "user/max_user_namespaces": "sudo sysctl -w user.max_user_namespaces=15000",
    }
    for switch, fix in cases.items():
        off = "1" if "apparmor" in switch else "0"
        monkeypatch.setattr(sandbox, "_sysctl", lambda name, switch=switch, off=off: off if name == switch else None)
        reason = sandbox.check_available.__wrapped__()
        assert fix in reason and "grade as root (with sudo)" in reason, reason
    monkeypatch.setattr(sandbox, "_sysctl", lambda name: None)
    reason = sandbox.check_available.__wrapped__()
    assert "No permissions to create new namespace" in reason and "grade as root (with sudo)" in reason, reason
    monkeypatch.setattr(sandbox.shutil, "which", lambda tool: None)
    assert "sudo apt-get install bubblewrap" in sandbox.check_available.__wrapped__()
    monkeypatch.setattr(sandbox, "_kernel_version", lambda: (5, 10))  # Debian 11: RLIMIT_NPROC per uid
    assert "needs Linux 5.15 or later" in sandbox.check_available.__wrapped__()


@as_a_user
def test_the_command_line_refuses_with_the_reason_as_an_ordinary_user(home):
    """As an ordinary user on a host whose kernel refuses user namespaces (simulated: Debian's switch reads 0
    and the probe fails as bwrap then does), does `python -m autograder grade` refuse with the switch to
    turn and sudo as the way out, and no longer with "the sandbox must be started by root"?"""
    notebook = home / "nb.ipynb"
    notebook.write_text((PROJECT / "release" / "callbacks" / "callbacks.ipynb").read_text())
    code = textwrap.dedent(f"""
        from autograder import cli, sandbox
        sandbox._sysctl = lambda name: "0" if name == "kernel/unprivileged_userns_clone" else None
        def refused(workdir):
            raise RuntimeError("bwrap: No permissions to creating new namespace")
        sandbox._probe_user_sandbox = refused
        cli.main(["grade", "{notebook}", "--assignment", "callbacks", "--json", "{home}/out/results.json"])
    """)
    result = as_user(code, cwd=home, timeout=120)
    assert result.returncode != 0 and not (home / "out" / "results.json").exists()
    assert "kernel.unprivileged_userns_clone = 0" in result.stderr, result.stderr
    assert "sudo sysctl -w kernel.unprivileged_userns_clone=1" in result.stderr and "grade as root (with sudo)" in result.stderr
    assert "must be started by root" not in result.stderr


# --- The hostile suite, graded by `python -m autograder grade` as an ordinary user ----------------

SUBSET = ["honest solution", "fork bomb after the work", "honest solution, second copy", "endless training without early stopping",
          "memory bomb", "disk filled after the work", "reads the grader's files and leaks them through an error",
          "writes outside its folder", "kill -9 -1"]


@pytest.mark.slow
@as_a_user
def test_hostile_cases_get_what_their_work_earns_as_an_ordinary_user(home):
    """The hostile suite's resource and hiding cases and the solution, graded by the command line as an
    ordinary user with two sandboxes: the same scores, statuses and messages as root's batch, the host's
    files untouched, and no process of the user left."""
    from hostile import cells
    from hostile.cases import CASES, CHECKS, LIMITS
    from test_hostile import PROTECTED, digest

    cases = [case for name in SUBSET for case in CASES if case.id == name]
    assert len(cases) == len(SUBSET)
    if not Path(sys.prefix).is_relative_to(PROJECT):
        # A git worktree using another checkout's venv: the probe cannot list the project (not bound), and says so.
        cases = [dataclasses.replace(case, messages={"reload_val_loss": f"No such file or directory: '{PROJECT}'"})
                 if case.id.startswith("reads the grader's files") else case for case in cases]
    folder = home / "submissions"
    for number, case in enumerate(cases):
        (folder / f"{number:02d}").mkdir(parents=True)
        case.build(folder / f"{number:02d}" / "callbacks.ipynb")
    watched = PROTECTED + [Path(p) for p in cells.WRITE_TARGETS]
    before = {str(p): digest(p) for p in watched}
    started = time.monotonic()
    result = as_user("", cwd=home, timeout=600, argv=[
        sys.executable, "-m", "autograder", "grade", str(folder), "--assignment", "callbacks", "--jobs", "2",
        "--timeout", str(int(LIMITS.wall_seconds)), "--json", str(home / "out" / "results.json"), "--quiet"])
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-5000:]
    results = {Path(r["submission"]).parent.name: r for r in json.loads((home / "out" / "results.json").read_text())}
    problems = []
    for number, case in enumerate(cases):
        graded = results[f"{number:02d}"]
        scores = {test["name"]: test["score"] for test in graded["tests"]}
        outputs = {test["name"]: test["output"] for test in graded["tests"]} | {"message": graded["message"] or ""}
        if scores != case.scores or graded["status"] != case.status:
            problems.append(f"{case.id}: {scores} {graded['status']} {graded['message']}")
        problems += [f"{case.id}: {where} should say {text!r}: {outputs[where]}"
                     for where, text in case.messages.items() if text not in outputs[where]]
    assert not problems, "\n".join(problems)
    assert sum(CHECKS.values()) == 10
    assert {str(p): digest(p) for p in watched} == before
    assert not [p for p in cells.WRITE_TARGETS if before[p] is None and Path(p).exists()]
    assert no_process_of_the_user_left()
    print(f"graded {len(cases)} as an ordinary user in {seconds:.0f} s")
