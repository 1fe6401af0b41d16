"""Behaviour of the bubblewrap sandbox that runs untrusted submissions (autograder/sandbox.py)."""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import sandbox
from conftest import host_pids_of
from autograder.sandbox import BASE_UID, Limits, SandboxUnavailable, check_available, run_sandboxed

# Skip only where a sandbox cannot exist; anywhere else an unavailable sandbox is a failure.
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap")

FAST = Limits(wall_seconds=20)
PROJECT = Path(__file__).resolve().parent.parent


def run(code, workdir, *, slot=0, limits=FAST):
    """Run Python code in the sandbox with the project's venv bound read-only."""
    workdir.mkdir(exist_ok=True)
    return run_sandboxed([sys.executable, "-c", textwrap.dedent(code)], workdir=workdir, slot=slot,
                         limits=limits, ro_binds=[Path(sys.prefix)])


def test_sandbox_is_available_here():
    """Can a sandbox be made on this machine (root, bwrap, util-linux, a working probe)?"""
    assert check_available() is None


def test_unavailable_reason_names_bubblewrap(monkeypatch, tmp_path):
    """Without bwrap on PATH, does check_available say so, and does run_sandboxed raise with that reason?"""
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = check_available.__wrapped__()
    assert reason is not None and "bubblewrap (bwrap) is not installed" in reason
    monkeypatch.setattr(sandbox, "check_available", lambda: reason)
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        run_sandboxed(["true"], workdir=tmp_path, slot=0)


def test_runs_as_unprivileged_uid_per_slot(tmp_path):
    """Does each slot run as its own non-root uid, without groups, capabilities or a way back to root?"""
    code = """
        import os
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        try:
            os.setuid(0)
            regained = True
        except PermissionError:
            regained = False
        print(os.getuid(), os.getgid(), os.getgroups(), status["CapEff"].strip(),
              status["CapBnd"].strip(), status["NoNewPrivs"].strip(), regained)
    """
    outputs = [run(code, tmp_path / f"w{slot}", slot=slot).stdout.split() for slot in (0, 1)]
    for slot, out in enumerate(outputs):
        uid = str(BASE_UID + slot)
        assert out == [uid, uid, "[]", "0" * 16, "0" * 16, "1", "False"]


def test_background_process_dies_with_sandbox(tmp_path):
    """Does a daemonized child that keeps writing stop for good when the command ends?"""
    result = run("""
        import subprocess
        subprocess.Popen(["sh", "-c", "while true; do echo tick >> ticks; sleep 0.05; done"],
                         start_new_session=True)
        subprocess.Popen(["sleep", "1000"], start_new_session=True)
        import os, time; time.sleep(0.3)
        print(len([p for p in os.listdir("/proc") if p.isdigit()]))
    """, tmp_path / "work", slot=5)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) <= 6  # bwrap's init, python, sh, sleep, and sh's sleep: no host process
    ticks = tmp_path / "work" / "ticks"
    size = ticks.stat().st_size
    time.sleep(0.3)
    assert size > 0 and ticks.stat().st_size == size
    assert host_pids_of({BASE_UID + 5}) == []


def _sleeping(uid):
    """Pids of `sleep` processes of `uid`."""
    pids = []
    for pid in host_pids_of({uid}):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                pids.append(pid)
        except OSError:
            pass
    return pids


def test_sandbox_dies_with_killed_grader(tmp_path):
    """If the grader is killed mid-run, do the sandbox's processes die and its disk get swept later?"""
    (tmp_path / "work").mkdir()
    grader = subprocess.Popen([sys.executable, "-c", f"""if True:
        import sys
        from autograder.sandbox import run_sandboxed
        run_sandboxed(["sleep", "1000"], workdir="{tmp_path}/work", slot=9)
    """], cwd=Path(__file__).parents[1])
    try:
        # Wait for the command itself: the grader's keyring cleaner runs briefly as the same uid before it.
        deadline = time.monotonic() + 30
        while not _sleeping(BASE_UID + 9) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sleeping(BASE_UID + 9), "the sandbox did not start"
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 2
    while host_pids_of({BASE_UID + 9}) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_pids_of({BASE_UID + 9}) == []
    stages = [s for s in Path(tempfile.gettempdir()).glob("sandbox-stage-*")
              if (s / sandbox.OWNER_FILE).read_text() == str(grader.pid)]
    assert stages and os.path.ismount(stages[0] / "disk")  # left behind by the killed grader
    sandbox._sweep_stale_stages()
    assert not stages[0].exists()


def test_wall_limit_kills_whole_sandbox(tmp_path):
    """Does an endless loop (with a child that ignores SIGTERM in its own session) end at wall_seconds?"""
    result = run("""
        import os, signal
        if os.fork() == 0:
            os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            pass
    """, tmp_path / "work", slot=6, limits=Limits(wall_seconds=2))
    assert result.timed_out and result.returncode is None
    assert 2 <= result.wall_seconds < 4
    assert host_pids_of({BASE_UID + 6}) == []


def test_no_network_but_loopback(tmp_path):
    """Does a connection to an outside address fail at once while 127.0.0.1 works?"""
    result = run("""
        import socket, time
        start = time.monotonic()
        try:
            socket.create_connection(("1.1.1.1", 53), timeout=5)
            print("outside: connected")
        except OSError as error:
            print("outside:", error.errno, round(time.monotonic() - start, 1))
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        server.accept()[0].sendall(b"pong")
        print("loopback:", client.recv(4).decode())
    """, tmp_path / "work")
    assert result.stdout.splitlines() == [f"outside: {errno.ENETUNREACH} 0.0", "loopback: pong"]


def test_grader_files_are_invisible(tmp_path):
    """Are the project, /root, sibling folders of workdir and the host's /tmp and /dev/shm hidden?"""
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "answers.txt").write_text("42")
    shm_marker = Path("/dev/shm") / f"grader-{os.getpid()}"
    shm_marker.write_text("x")
    try:
        result = run(f"""
            import os
            for path in ["{PROJECT / 'pyproject.toml'}", "/root/.bashrc", "{tmp_path}/secret/answers.txt",
                         "{tmp_path}/work", "{shm_marker}"]:
                print(path, os.path.exists(path))
            print(sorted(os.listdir("/root")) if os.path.isdir("/root") else [], os.listdir("/tmp"), os.listdir("/dev/shm"), sorted(os.listdir("..")))
        """, tmp_path / "work")
    finally:
        shm_marker.unlink()
    lines = result.stdout.splitlines()
    assert all(line.endswith(" False") for line in lines[:-1]), result.stdout + result.stderr
    # /tmp shows only the way to the venv, when the project itself lives under /tmp.
    venv_in_tmp = [Path(sys.prefix).relative_to("/tmp").parts[0]] if sys.prefix.startswith("/tmp/") else []
    # /root shows only the way to the interpreter when it lives there (pyenv's); Debian's is in /usr.
    root_seen = [Path(sys.base_prefix).relative_to("/root").parts[0]] if sys.base_prefix.startswith("/root/") else []
    assert lines[-1].startswith(f"{root_seen} {venv_in_tmp} [] ") and "secret" not in lines[-1]


def test_read_only_bind_under_tmp_is_usable(tmp_path):
    """Can the sandbox uid run a program bound read-only from under the host's /tmp (a project cloned there)?"""
    tools = Path(tempfile.mkdtemp(prefix="sandbox-bind-", dir="/tmp"))
    try:
        (tools / "hello.py").write_text("print('hello from /tmp')")
        (tools / "hello.py").chmod(0o644)
        tools.chmod(0o755)
        (tmp_path / "work").mkdir()
        result = run_sandboxed([sys.executable, str(tools / "hello.py")], workdir=tmp_path / "work", slot=0,
                               limits=FAST, ro_binds=[Path(sys.prefix), tools])
    finally:
        shutil.rmtree(tools)
    assert result.returncode == 0 and "hello from /tmp" in result.stdout, result.stderr


def test_workdir_round_trip(tmp_path):
    """Does the command see workdir as its cwd, and does the grader get back its regular files only?"""
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "given.txt").write_text("from grader")
    result = run("""
        import os
        print(os.getcwd(), open("given.txt").read())
        os.remove("given.txt")
        os.makedirs("ckpt/deep")
        open("ckpt/deep/weights.h5", "w").write("w")
        os.symlink("/etc/passwd", "history.json")
        os.mkfifo("pipe")
    """, workdir)
    assert result.stdout.strip() == "/submission from grader", result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["ckpt"]
    weights = workdir / "ckpt" / "deep" / "weights.h5"
    assert weights.read_text() == "w" and weights.stat().st_uid == 0
    assert sorted(result.not_copied) == ["history.json (symlink)", "pipe (special file)"]


def test_memory_hog_gets_memory_error(tmp_path):
    """Does allocating 8 GiB fail inside the sandbox instead of taking the host's memory?"""
    result = run("x = bytearray(8 * 2**30)", tmp_path / "work")
    assert result.returncode != 0 and "MemoryError" in result.stderr


def test_process_count_is_bounded(tmp_path):
    """Does RLIMIT_NPROC stop a submission from starting more processes than Limits.processes?"""
    result = run("""
        import os, time
        started = 0
        try:
            for _ in range(100):
                if os.fork() == 0:
                    time.sleep(30); os._exit(0)
                started += 1
        except BlockingIOError:
            pass
        print(started)
    """, tmp_path / "work", slot=7, limits=Limits(wall_seconds=10, processes=20))
    assert int(result.stdout) == 19, result.stderr  # 20 processes of the slot's uid, the first included
    assert host_pids_of({BASE_UID + 7}) == []


def test_concurrent_slots_have_separate_process_budgets(tmp_path):
    """Do two sandboxes running at once on different slots each get their own process budget?"""
    code = """
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
    limits = Limits(wall_seconds=10, processes=20)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda slot: run(code, tmp_path / f"w{slot}", slot=slot, limits=limits), (10, 11)))
    assert [int(r.stdout) for r in results] == [19, 19], [r.stderr for r in results]


def test_fork_bomb_ends_at_wall_limit(tmp_path):
    """Does a real fork bomb stay bounded and leave no process behind when the wall limit hits?"""
    result = run("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, tmp_path / "work", slot=8, limits=Limits(wall_seconds=2, processes=30))
    assert result.timed_out
    assert host_pids_of({BASE_UID + 8}) == []


def test_output_flood_is_capped(tmp_path):
    """Is a 50 MB flood on stdout cut to output_bytes, keeping head and tail, and flagged?"""
    result = run("""
        import sys
        sys.stdout.write("HEAD" + "x" * 50_000_000 + "TAIL")
        sys.stderr.write("small")
    """, tmp_path / "work")
    assert result.returncode == 0 and result.output_truncated
    assert len(result.stdout) < FAST.output_bytes + 100
    assert result.stdout.startswith("HEAD") and result.stdout.endswith("TAIL") and "bytes dropped" in result.stdout
    assert result.stderr == "small"


def test_disk_and_file_size_are_capped(tmp_path):
    """Does writing past disk_bytes (in cwd or /tmp, together) or past file_size_bytes fail?"""
    result = run("""
        import errno
        def write(path, mib):
            try:
                with open(path, "wb") as f:
                    for _ in range(mib):
                        f.write(b"x" * 2**20); f.flush()
                return "ok"
            except OSError as error:
                return errno.errorcode[error.errno]
        print(write("/tmp/a", 3), write("b", 3), write("c", 1), write("/dev/shm/d", 1))
    """, tmp_path / "work", limits=Limits(wall_seconds=20, disk_bytes=4 * 2**20, file_size_bytes=2**19))
    assert result.stdout.split() == ["EFBIG", "EFBIG", "EFBIG", "EFBIG"], result.stderr
    result = run("""
        import errno
        try:
            for name in ["/tmp/a", "b", "/dev/shm/c"]:
                with open(name, "wb") as f:
                    f.write(b"x" * 3 * 2**20)
            print("ok")
        except OSError as error:
            print(errno.errorcode[error.errno], name)
    """, tmp_path / "work", limits=Limits(wall_seconds=20, disk_bytes=4 * 2**20))
    assert result.stdout.split() == ["ENOSPC", "b"], result.stderr


def test_jupyter_kernel_runs_a_cell(tmp_path):
    """Can nbclient start the venv's python3 kernel over loopback ZMQ and run a cell inside?"""
    result = run("""
        import nbformat, nbclient
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")])
        nbclient.NotebookClient(nb, kernel_name="python3", timeout=60).execute()
        print(nb.cells[0].outputs[0]["text"].strip())
    """, tmp_path / "work", limits=Limits(wall_seconds=60))
    assert result.returncode == 0 and result.stdout.strip().endswith("2"), result.stderr


@pytest.mark.slow
def test_tensorflow_training_runs_with_default_limits(tmp_path):
    """Does an honest Keras fit of 3 epochs finish inside the sandbox with the default limits?"""
    result = run("""
        import numpy as np, tensorflow as tf, keras
        x, y = np.random.rand(256, 8).astype("float32"), np.random.rand(256, 1).astype("float32")
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        history = model.fit(x, y, epochs=3, validation_split=0.25, verbose=0)
        model.save_weights("model.weights.h5")
        print(len(history.history["val_loss"]))
    """, tmp_path / "work", limits=Limits())
    assert result.returncode == 0 and result.stdout.split()[-1] == "3", result.stderr
    assert (tmp_path / "work" / "model.weights.h5").stat().st_size > 0


def test_copy_back_is_bounded_by_disk_bytes(tmp_path):
    """Do a 3 GiB sparse file and 50 hard links come back as at most disk_bytes of real host disk?"""
    limits = Limits(wall_seconds=20, disk_bytes=64 * 2**20, file_size_bytes=4 * 2**30)
    (tmp_path / "work").mkdir()
    result = run_sandboxed(["sh", "-c", "truncate -s 3G sparse && head -c 1048576 /dev/zero > f && "
                            "for i in $(seq 50); do ln f h$i; done && echo ok > normal"],
                           workdir=tmp_path / "work", slot=3, limits=limits)
    assert result.returncode == 0, result.stderr
    seen, real = set(), 0
    for root, dirs, files in os.walk(tmp_path / "work"):
        for name in files:
            info = os.lstat(os.path.join(root, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                real += info.st_blocks * 512
    assert real < limits.disk_bytes
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["normal"]
    assert "sparse (sparse file)" in result.not_copied and "f (hard link)" in result.not_copied
    assert sum(entry.endswith("(hard link)") for entry in result.not_copied) == 51


def _has_capability(number):
    with open("/proc/self/status") as status:
        effective = next(line for line in status if line.startswith("CapEff:")).split()[1]
    return bool(int(effective, 16) >> number & 1)


def test_sandbox_runs_in_its_own_cpu_cgroup_and_dies_first_on_oom(tmp_path):
    """A fork bomb must not starve the run beside it (one CPU share per run, a cgroup it cannot
    leave), and a host out of memory must kill sandboxed processes first."""
    from concurrent.futures import ThreadPoolExecutor

    slot = 40
    uid = BASE_UID + slot
    script = "cat /proc/self/oom_score_adj; echo 0 > /proc/self/oom_score_adj; cat /proc/self/oom_score_adj; sleep 5"
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(sandbox.run_sandboxed, ["sh", "-c", script], workdir=tmp_path, slot=slot,
                              limits=Limits(wall_seconds=20))
        deadline = time.monotonic() + 30
        memberships = []
        # Poll until a process of the sandbox uid is caught alive (one may exit between the scan and the read).
        while not memberships and time.monotonic() < deadline:
            for pid in host_pids_of({uid}):
                try:
                    # The run's own processes (the grader's keyring cleaner also runs as this uid, outside it).
                    if Path(f"/proc/{pid}/comm").read_text().strip() not in ("sh", "sleep", "cat"):
                        continue
                    memberships.append(Path(f"/proc/{pid}/cgroup").read_text())
                except OSError:
                    pass
            time.sleep(0.02)
        result = running.result()
    first, after_lowering = result.stdout.split()
    assert first == "1000", result.stderr
    if _has_capability(24):  # CAP_SYS_RESOURCE: root's write also pins the floor
        assert after_lowering == "1000", result.stderr
    assert memberships, "the sandbox did not start"
    if sandbox._cpu_cgroup(uid) is None:
        pytest.skip("no writable cpu cgroup controller on this host: runs share the CPU by thread")
    assert all(sandbox.CGROUP_NAME.format(uid=uid) in membership for membership in memberships), memberships
