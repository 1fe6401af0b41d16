"""A warm sandbox (one zygote per slot, a fork per run) keeps every promise of a fresh one:
nothing of a run survives into the next, a run cannot reach the zygote, and each run has its
uid, its limits and no privileges. The notebook-level proof (a forked kernel, a real notebook)
is at the end."""

import json
import os
import platform
import shutil
import signal
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder import run as run_module
from autograder.sandbox import BASE_UID, Limits, WarmSandbox
from course import exercise
from test_sandbox_leaks import STORE_OR_READ

pytestmark = [pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="needs root and bwrap"),
              pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers are x86_64's")]

SLOT = 21
FAST = Limits(wall_seconds=20)
# The test program: its preload is one module the runs may tamper with; main runs the code it is given.
PROGRAM = textwrap.dedent("""
    import json
    import sys
    def main(code, *args):
        sys.argv = ["run", *args]
        exec(code, {"__name__": "__main__"})
""")


@pytest.fixture
def box():
    with WarmSandbox(PROGRAM, "test_program", slot=SLOT, limits=FAST) as sandbox:
        yield sandbox


def run(box, tmp_path, code, *args, name="work"):
    work = tmp_path / name
    work.mkdir(exist_ok=True)
    return box.run([textwrap.dedent(code), *args], workdir=work), work


def test_nothing_survives_into_the_next_run_of_the_warm_sandbox(box, tmp_path):
    """Are keys, SysV and POSIX IPC objects and files stored by one run gone in the next run of the same zygote?"""
    stored, _ = run(box, tmp_path, STORE_OR_READ, "store", name="store")
    read, _ = run(box, tmp_path, STORE_OR_READ, "read", name="read")
    assert stored.returncode == 0 and read.returncode == 0, (stored.stderr, read.stderr)
    stored, read = eval(stored.stdout), eval(read.stdout)
    assert all(stored.values()), stored  # each store worked, so its absence later means something
    assert not any(read.values()), read


def test_no_process_module_or_setting_of_a_run_survives(box, tmp_path):
    """A process left running, a patched module, an environment variable, the working folder's files:
    is each gone when the next run starts?"""
    first, work = run(box, tmp_path, """
        import json, os, subprocess, sys
        subprocess.Popen(["sleep", "1000"], start_new_session=True)  # a daemon that outlives the run
        json.dumps = lambda *a, **k: "patched"
        os.environ["LEAK"] = "1"
        os.chmod("/tmp", 0o700)
        open("left.txt", "w").write("s3cret")
    """)
    assert first.returncode == 0, first.stderr
    assert (work / "left.txt").read_text() == "s3cret"  # what a run leaves is copied back for the grader
    second, work = run(box, tmp_path, """
        import json, os, subprocess
        print(json.dumps({
            "sleepers": subprocess.run(["pgrep", "-c", "sleep"], capture_output=True, text=True).stdout.strip(),
            "patched": json.dumps(1) == "patched", "env": os.environ.get("LEAK"),
            "tmp mode": oct(os.stat("/tmp").st_mode & 0o7777), "files": sorted(os.listdir("."))}))
    """, name="next")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"sleepers": "0", "patched": False, "env": None, "tmp mode": "0o1777", "files": []}


def test_a_run_is_its_slot_uid_without_privileges_and_cannot_reach_the_zygote(box, tmp_path):
    """Is the run uid 62000+slot with no capabilities, no_new_privs and its limits, and does signalling,
    tracing or reading the memory of the zygote (its parent) fail?"""
    result, _ = run(box, tmp_path, """
        import ctypes, json, os, resource, signal
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        zygote = os.getppid()
        tries = {}
        try:
            os.kill(zygote, signal.SIGKILL); tries["kill"] = "worked"
        except OSError as error:
            tries["kill"] = error.errno
        try:
            open(f"/proc/{zygote}/mem", "rb").read(1); tries["mem"] = "worked"
        except OSError as error:
            tries["mem"] = error.errno
        libc = ctypes.CDLL(None, use_errno=True)
        tries["ptrace"] = "worked" if libc.ptrace(16, zygote, None, None) == 0 else ctypes.get_errno()  # PTRACE_ATTACH
        print(json.dumps({"ids": [os.getresuid(), os.getresgid(), os.getgroups()],
                          "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
                          "no_new_privs": status["NoNewPrivs"].strip(),
                          "as": resource.getrlimit(resource.RLIMIT_AS)[0], "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
                          "zygote uid": open(f"/proc/{zygote}/status").read().split("Uid:")[1].split()[0], "tries": tries}))
    """)
    assert result.returncode == 0, result.stderr
    seen, uid = json.loads(result.stdout), BASE_UID + SLOT
    assert seen["ids"] == [[uid] * 3, [uid] * 3, []]
    assert seen["caps"][1:] == ["0000000000000000"] * 4 and seen["no_new_privs"] == "1"
    assert (seen["as"], seen["nproc"]) == (FAST.memory_bytes, FAST.processes)
    assert seen["zygote uid"] == "0"
    assert all(isinstance(errno, int) for errno in seen["tries"].values()), seen["tries"]


FORK_BOMB = """
import os, signal
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(number, signal.SIG_IGN)
while True:
    try:
        if os.fork() == 0:
            os.setsid()
    except OSError:
        pass
"""


def test_a_fork_bomb_past_its_time_is_stopped_and_the_next_run_is_fresh(tmp_path):
    """Is a fork bomb (own sessions, ignoring signals) stopped at wall_seconds with all its processes,
    though no namespace ends with it, and does the next run work?"""
    with WarmSandbox(PROGRAM, "test_program", slot=SLOT, limits=Limits(wall_seconds=3)) as box:
        started = time.monotonic()
        endless, _ = run(box, tmp_path, FORK_BOMB, name="endless")
        assert endless.timed_out and endless.returncode is None
        assert time.monotonic() - started < 3 + 10
        after, _ = run(box, tmp_path, "print('fresh')", name="after")
        assert (after.returncode, after.stdout) == (0, "fresh\n")


def test_a_dead_zygote_is_replaced_before_the_next_run(box, tmp_path):
    """When the zygote is killed (a host out of memory would), does the next run get a new one?"""
    os.killpg(box._proc.pid, signal.SIGKILL)
    box._proc.wait()
    result, _ = run(box, tmp_path, "print('after')")
    assert (result.returncode, result.stdout) == (0, "after\n")


def test_a_failure_between_runs_replaces_the_sandbox(box, tmp_path, monkeypatch):
    """When cleaning up after a run fails (a kill that gives up, say), does that run raise, and does
    the next run get a new zygote rather than the half-stopped one?"""
    from autograder import sandbox

    zygote = box._proc.pid
    real_clear = sandbox._clear_keyrings
    failures = iter([RuntimeError("keyrings could not be cleared")])

    def clear_once_failing(uid):
        real_clear(uid)
        if error := next(failures, None):
            raise error

    monkeypatch.setattr(sandbox, "_clear_keyrings", clear_once_failing)
    with pytest.raises(RuntimeError, match="keyrings"):
        run(box, tmp_path, "print('first')", name="first")
    result, _ = run(box, tmp_path, "print('second')", name="second")
    assert (result.returncode, result.stdout) == (0, "second\n"), result.stderr
    assert box._proc.pid != zygote


def test_exit_codes_and_output_are_the_runs_own(box, tmp_path):
    """Does a run's exit code, signal, stdout and stderr come back as a one-shot run's would?"""
    assert run(box, tmp_path, "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")[0].returncode == 3
    assert run(box, tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")[0].returncode == -signal.SIGTERM
    raised = run(box, tmp_path, "raise ValueError('from the run')")[0]
    assert raised.returncode == 1 and "ValueError: from the run" in raised.stderr


@pytest.mark.slow
def test_a_forked_kernel_runs_each_notebook_fresh_and_as_a_launched_kernel_does(tmp_path):
    """Two notebooks in one warm sandbox that preloads Keras, as the grader makes it: does the second see nothing the first did to Keras, its
    globals or its files, and does each kernel behave as a launched one (own process, parent known,
    cwd, same training results as `jupyter execute`)?"""
    import nbformat

    def notebook(*cells):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(cell)) for cell in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        return nb

    train = """
        import keras, numpy as np
        keras.utils.set_random_seed(1)
        x = np.random.rand(200, 8).astype("float32"); y = (x.sum(1) > 4).astype("float32")
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy")
        print(repr(model.fit(x, y, epochs=3, verbose=0).history["loss"]))
    """
    first = notebook("import keras, os\nkeras.leak = 'first'\nGLOBAL = 1\nopen('/tmp/leak', 'w').write('x')", train)
    second = notebook("import keras, os, sys\nprint(hasattr(keras, 'leak'), 'GLOBAL' in globals(), os.path.exists('/tmp/leak'), "
                      "os.getcwd(), os.getppid() != 1, os.environ.get('JPY_PARENT_PID') == str(os.getppid()))", train)

    def outputs(work):
        executed = nbformat.read(work / run_module.EXECUTED, as_version=4)
        return ["".join(o.get("text", "") for o in cell.outputs) for cell in executed.cells]

    with run_module.warm_sandbox(slot=SLOT, limits=Limits(wall_seconds=120), preload=exercise.preload) as box:
        runs = []
        for name, nb in (("first", first), ("second", second)):
            (tmp_path / name).mkdir()
            nbformat.write(nb, tmp_path / name / run_module.NOTEBOOK)
            result = run_module.run_notebook(tmp_path / name, box=box)
            assert result.problem is None and not run_module.cell_errors(tmp_path / name), result
            runs.append(outputs(tmp_path / name))
    (tmp_path / "launched").mkdir()
    nbformat.write(second, tmp_path / "launched" / run_module.NOTEBOOK)
    assert run_module.run_notebook(tmp_path / "launched", sandbox=False).problem is None
    launched = outputs(tmp_path / "launched")
    assert runs[1][0] == "False False False /submission True True\n"
    assert runs[0][1] == runs[1][1] == launched[1]  # the same losses, to the last digit, as a launched kernel's


def test_a_read_only_bind_under_tmp_stays_visible_run_after_run(tmp_path):
    """A clone under /tmp binds its venv there, inside the run's emptied /tmp: does every run still see
    it (emptying must not remove its mount point), while what a run wrote next to it is gone?"""
    data = Path(tempfile.mkdtemp(prefix="bound-", dir="/tmp"))
    try:
        data.chmod(0o755)  # mkdtemp made it 0700: the run could not read it
        (data / "shipped.txt").write_text("shipped")
        with WarmSandbox(PROGRAM, "test_program", slot=SLOT, limits=FAST, ro_binds=[data]) as box:
            for name in ("first", "second"):
                result, _ = run(box, tmp_path, f"""
                    import os
                    print(open("{data}/shipped.txt").read(), os.path.exists("/tmp/mine"))
                    open("/tmp/mine", "w").write("x")
                """, name=name)
                assert (result.returncode, result.stdout) == (0, "shipped False\n"), result.stderr
    finally:
        shutil.rmtree(data)


def test_a_sandbox_without_a_slot_takes_a_uid_no_other_grader_holds(tmp_path):
    """Two graders on one host never wait for each other's uids (with --jobs 2 each, fixed slots
    0 and 1 deadlocked: each held one and waited for the other's): a slot-less sandbox takes the
    first free uid, past those another grader holds."""
    from autograder.sandbox import _claim_free_uid

    (other, one), (other_2, two) = _claim_free_uid(), _claim_free_uid()  # another grader's two sandboxes
    with other, other_2:
        started = time.monotonic()
        with WarmSandbox(PROGRAM, "test_program", slot=None, limits=FAST) as first, \
                WarmSandbox(PROGRAM, "test_program", slot=None, limits=FAST) as second:
            assert time.monotonic() - started < 60  # taken, not waited for
            assert len({first.uid, second.uid, BASE_UID + one, BASE_UID + two}) == 4
            result, _ = run(first, tmp_path, "import os; print(os.getuid())")
            assert result.returncode == 0 and result.stdout.strip() == str(first.uid)


def test_a_run_reads_no_key_of_the_graders_session_and_makes_no_user_namespace(tmp_path):
    """Root's sandbox: the session keyring a run inherits is the grader's, and a process may read
    the keys of the keyrings it possesses; in a user namespace of its own a run holds every
    capability there (it mounted a 12 GiB tmpfs, past disk_bytes). Neither, any more."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    code = """
        import ctypes, json, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        found = libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(-3), b"user", b"grader-secret", ctypes.c_long(0))
        unshared = libc.unshare(0x10000000)  # CLONE_NEWUSER
        nested = subprocess.run(["unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /tmp && echo mounted"],
                                capture_output=True, text=True)
        threads = subprocess.run(["python3", "-c", "import threading; t = threading.Thread(target=print, args=('ok',)); t.start(); t.join()"],
                                 capture_output=True, text=True).stdout.strip()
        print(json.dumps({"key": found > 0, "unshare": [unshared, ctypes.get_errno()], "nested": nested.stdout.strip(),
                          "threads": threads}))
    """
    # The grader's own session keyring holding a secret, as a login's does; the sandbox starts from here.
    assert libc.syscall(ctypes.c_long(250), ctypes.c_long(1), None) > 0  # join a new session keyring
    assert libc.syscall(ctypes.c_long(248), b"user", b"grader-secret", b"s3cret", ctypes.c_size_t(6), ctypes.c_long(-3)) > 0
    with WarmSandbox(PROGRAM, "test_program", slot=None, limits=FAST) as box:
        result, _ = run(box, tmp_path, code)
    found = json.loads(result.stdout)
    assert found == {"key": False, "unshare": [-1, 1], "nested": "", "threads": "ok"}, (found, result.stderr[-500:])
