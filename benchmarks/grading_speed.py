"""Benchmark: grading one generated class with nbgrader and with this grader, on this machine.

    .venv/bin/python benchmarks/grading_speed.py [--students 6] [--jobs CORES] [--old] [--json FILE] [--keep]
    make benchmark

What it compares. An instructor without this package would grade the exercise with nbgrader
and ordinary hidden asserts in the kernel, so that is the peer: a temporary course generated
from `assignments/callbacks/callbacks.ipynb` with each `### BEGIN/END HIDDEN TESTS` region
replaced by plain asserts of the same checks (`PEER_ASSERTS`, one entry per grade_id: stop
epoch, weights file exists and reloads within tolerance, event files, callback settings). The
benchmark fails unless that peer gives the correct submission full marks.

Steps, one after the other on the same generated class (`--students` notebooks from `MIX`,
mostly correct: the honest ones are named cases of tests/cases/callbacks.py, which also says
what each must score):
1. bare execution, the floor: one Python process running each notebook with
   `nbclient.NotebookClient` in a fresh folder with the data; no grading;
2. `nbgrader autograde` in the peer course (in-kernel hidden asserts);
3. with `--old` only: `nbgrader autograde` in a course whose hidden cells are this package's
   (each starts a verifier process that imports TensorFlow): the old comparison, not a peer;
4. `python -m autograder grade --jobs 1`, then `--jobs <cores>`;
5. bare execution again: on a shared virtual machine the same run varies by 10% or more over
   minutes, so the floor is the mean of a pass at each end.

What it reports, per step: wall time per submission (for `--jobs N`: the class's wall time
divided by its size, i.e. throughput); CPU seconds per submission, user + system of every
process the step started, from the kernel's accounting; the peak memory of the largest single
process; and the ratios against the peer, with the targets and whether each is met.

How CPU is counted. Each step is a subprocess; CPU is the delta of
`getrusage(RUSAGE_CHILDREN)`, which holds every descendant that was waited for. A process
whose parent exits without waiting for it (a kernel or a helper left behind, a sandbox whose
monitor was killed) would be reparented to init and missed, so this script makes itself a
child subreaper (prctl PR_SET_CHILD_SUBREAPER): such orphans are reparented to it instead,
and it reaps them after the step (counted, and reported by name). This matters for our
grader: inside a sandbox the kernel is reaped by bwrap's init (pid 1 of the sandbox), but that
init is not waited for by the bwrap that started it, so it is orphaned with the notebook's CPU
in its account (and so is one python helper, multiprocessing's resource tracker); without the
subreaper over half of our grader's CPU went uncounted on a class of 2. As a cross-check, the
machine-wide busy CPU time (/proc/stat, all users) is read around each step: the step's CPU
must not exceed it, nor wall x cores; the difference is other work on the machine, printed so
that a noisy run shows as one.

Shared machines. Our grader claims its sandbox uids host-wide (a flock each), so while another
grader or test run holds them it waits, and that wait is in its wall time. The benchmark reads
/proc/locks twice a second and reports how long a process of its own waited for a uid lock held
by someone else.

Peak memory is `ru_maxrss` of the step's process tree (from wait4): the largest single
process, not the sum over processes running at once.

The last output is Markdown tables for the README; `--json FILE` also writes the figures.
Run it on an otherwise idle machine; `--keep` keeps the scratch folder (logs, courses; it is
also kept when the benchmark fails).
"""

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# nbgrader starts `alembic` by name: the venv's bin/ must be on PATH.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "3"}
ASSIGNMENT = "callbacks"
DATA = ROOT / "release" / ASSIGNMENT / "data"

# The honest kinds are named cases of the assignment's catalogue (tests/cases/callbacks.py), which
# also says what each must score: kind -> case name.
CATALOGUED = {
    "correct": "solution",
    "loss_monitor": "early_stopping monitoring loss",
    "patience_3": "patience 3",
    "not_passed": "only early_stopping passed to fit",
    "no_reload": "no reload, the trained model evaluated",
}
# Hostile, but quick: they must not change the timing picture, only the mix (answer cell -> source).
HOSTILE = {
    "hostile_forged_history": {"answer_fit": (
        "class History: pass\nhistory = History()\nhistory.epoch = list(range(14))\n"
        "history.history = {'val_loss': [1.0 - 0.05 * i for i in range(9)] + [0.6] * 5}\nhistory.params = {'epochs': 200}\n")},
    "hostile_patched_evaluate": {"answer_reload": (
        "import keras\nkeras.Model.evaluate = lambda self, *a, **k: [min(history.history['val_loss']), 1.0]\n"
        "best_val_loss = build_model().evaluate(x_val, y_val)[0]\n")},
    "hostile_exit": {"answer_fit": "import os\nos._exit(0)\n"},
}
# The mix of a class: mostly honest work. Every kind once and the correct one five times in 12,
# ordered so that the first 6 (the default) are 4 correct, one mistake and one hostile.
MIX = ["correct", "correct", "patience_3", "correct", "hostile_patched_evaluate", "correct",
       "no_reload", "hostile_forged_history", "loss_monitor", "not_passed", "hostile_exit", "correct"]

# The peer's hidden tests: what an instructor would write in each hidden region, as plain
# asserts run in the student's kernel (grade_id -> source). They check the same things as
# autograder/checks, the simple way: so they trust the kernel, and a hostile notebook fools them.
PEER_ASSERTS = {
    "early_stopping": (
        "assert isinstance(early_stopping, EarlyStopping)\n"
        'assert early_stopping.monitor == "val_loss" and early_stopping.patience == 5\n'
        'assert early_stopping.mode in ("auto", "min")\n'),
    "model_checkpoint": (
        "assert isinstance(model_checkpoint, ModelCheckpoint)\n"
        'assert os.path.normpath(model_checkpoint.filepath) == "checkpoints/best_model.weights.h5"\n'
        'assert model_checkpoint.monitor == "val_loss" and model_checkpoint.mode in ("auto", "min")\n'
        'assert model_checkpoint.save_best_only and model_checkpoint.save_weights_only and model_checkpoint.save_freq == "epoch"\n'),
    "tensorboard_callback": (
        "assert isinstance(tensorboard_callback, TensorBoard)\n"
        'assert re.fullmatch(r"logs/fit/\\d{8}-\\d{6}", os.path.normpath(tensorboard_callback.log_dir))\n'),
    "stopped_early": (
        'best_epoch = history.history["val_loss"].index(min(history.history["val_loss"]))\n'
        "assert len(history.epoch) < 200\n"
        "assert len(history.epoch) == best_epoch + 1 + 5\n"),
    "best_weights_file": (
        'assert os.path.exists("checkpoints/best_model.weights.h5")\n'
        "reloaded = build_model()\n"
        'reloaded.load_weights("checkpoints/best_model.weights.h5")\n'
        'assert abs(reloaded.evaluate(x_val, y_val, verbose=0)[0] - min(history.history["val_loss"])) < 1e-3\n'),
    "tensorboard_logs": (
        "import glob\n"
        'for part in ("train", "validation"):\n'
        '    assert glob.glob(os.path.join(tensorboard_callback.log_dir, part, "events.out.tfevents.*"))\n'),
    "reload_val_loss": (
        "assert isinstance(best_val_loss, (float, np.floating))\n"
        'assert abs(best_val_loss - min(history.history["val_loss"])) < 1e-3\n'),
}
HIDDEN_REGION = re.compile(r"(### BEGIN HIDDEN TESTS\n).*?(### END HIDDEN TESTS)", re.S)

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def bare_worker(folders):
    """Execute each folder's callbacks.ipynb in a kernel, in this one process: the floor."""
    import nbformat
    from nbclient import NotebookClient

    for folder in map(Path, folders):
        notebook = nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)
        client = NotebookClient(notebook, timeout=300, allow_errors=True, resources={"metadata": {"path": str(folder)}})
        try:
            client.execute()
        except Exception as error:  # hostile_exit: the kernel dies (DeadKernelError); the floor moves on
            print(f"{folder.name}: {type(error).__name__}: {str(error)[:200]}", flush=True)


def machine_busy_seconds():
    """CPU seconds the whole machine spent busy since boot (/proc/stat: all users, all cores)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def cpu_of(usage):
    return usage.ru_utime + usage.ru_stime


def reap_orphans(patience=30.0):
    """Wait for the processes reparented to this subreaper; return {name: count}, their rusages, and
    the pids left running.

    A process still running after `patience` seconds is a leak of the step: it is listed and killed
    (it is a descendant of this script), then reaped so that its CPU still counts.
    """
    names, usages, leaked = Counter(), [], []
    deadline = time.monotonic() + patience
    while True:
        try:
            # WNOWAIT: look first (the zombie's name is still in /proc), then reap it with wait4 for its rusage.
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return dict(names), usages, leaked
        if info is not None:
            try:
                names[Path(f"/proc/{info.si_pid}/comm").read_text().strip()] += 1
            except OSError:
                names["?"] += 1
            usages.append(os.wait4(info.si_pid, 0)[2])
            continue
        if time.monotonic() > deadline:
            for pid in children_of(os.getpid()):
                leaked.append(pid)
                os.kill(pid, signal.SIGKILL)
            deadline = float("inf")  # killed: now wait for them
        time.sleep(0.1)


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def children_of(parent):
    pids = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and parent_of(entry.name) == parent:
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            pass  # gone meanwhile
    return pids


def is_descendant(pid):
    """Whether `pid` is a descendant of this script (orphans reparented to it included)."""
    try:
        while pid > 1:
            pid = parent_of(pid)
            if pid == os.getpid():
                return True
    except (OSError, ValueError, IndexError):
        pass
    return False


# Where our grader claims sandbox uids host-wide (autograder/sandbox.py, one flock per uid).
UID_LOCKS = Path(tempfile.gettempdir()) / "autograder-sandbox-uids"


class UidWaitSampler(threading.Thread):
    """Counts the seconds during which a process of this benchmark waited for a sandbox uid's
    lock held by a process that is not (another grader or test run on this host).

    Why: our grader waits for such a uid before it can run a notebook, so on a shared machine its
    wall time holds time spent waiting for other people's runs; this says how much.
    Read from /proc/locks twice a second ("->" lines are the blocked waiters).
    """

    def __init__(self, interval=0.5):
        super().__init__(daemon=True)
        self.interval, self.seconds, self.done = interval, 0.0, threading.Event()

    def run(self):
        while not self.done.wait(self.interval):
            try:
                self.seconds += self.interval * self.blocked()
            except OSError:
                pass

    def blocked(self):
        inodes = {str(path.stat().st_ino) for path in UID_LOCKS.glob("*.lock")}
        holders, waiters = {}, []
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            waiting = fields[1] == "->"
            fields = fields[2:] if waiting else fields[1:]
            if fields[0] != "FLOCK" or fields[4].rsplit(":", 1)[-1] not in inodes:
                continue
            pid, inode = int(fields[3]), fields[4].rsplit(":", 1)[-1]
            if waiting:
                waiters.append((pid, inode))
            else:
                holders[inode] = pid
        return any(is_descendant(pid) and not is_descendant(holders.get(inode, 0)) for pid, inode in waiters)

    def stop(self):
        self.done.set()
        self.join()
        return self.seconds


class Bench:
    def __init__(self, scratch, cores):
        self.scratch, self.cores = scratch, cores
        (scratch / "logs").mkdir(parents=True, exist_ok=True)
        # Orphans of the steps come to us, so that their CPU is counted (see the module doc).
        libc = ctypes.CDLL(None, use_errno=True)
        self.subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        if not self.subreaper:
            print("WARNING: could not become a child subreaper: orphaned processes' CPU would not be counted", flush=True)

    def measure(self, name, command, *, cwd, env=ENV):
        """Run one step as a subprocess; its wall time, CPU (all descendants), peak RSS and the machine's busy time."""
        log = self.scratch / "logs" / f"{name}.log"
        before, busy_before = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds()
        sampler = UidWaitSampler()
        sampler.start()
        start = time.perf_counter()
        with open(log, "w") as out:
            process = subprocess.Popen([str(c) for c in command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT)
            # wait4, not wait: it also gives the rusage of this step's tree alone (for its peak RSS).
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        uid_wait = sampler.stop()
        orphans, orphan_usages, leaked = reap_orphans()
        after, busy_after = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds()
        step = {
            "wall_s": wall,
            "cpu_s": cpu_of(after) - cpu_of(before),
            "tree_cpu_s": cpu_of(usage),  # the same, without the orphans: their share shows the gap closed
            "peak_rss_mib": max([usage.ru_maxrss] + [u.ru_maxrss for u in orphan_usages]) / 1024,
            "machine_busy_s": busy_after - busy_before,
            "orphans_reaped": orphans,  # {process name: count}
            "orphans_cpu_s": sum(map(cpu_of, orphan_usages)),
            "left_running": leaked,
            "waited_for_sandbox_uid_s": uid_wait,
            "returncode": process.returncode,
            "log": str(log),
        }
        print(f"{name}: {wall:.1f} s wall, {step['cpu_s']:.1f} s CPU, peak {step['peak_rss_mib']:.0f} MiB, "
              f"exit {process.returncode}" + (f", waited {uid_wait:.0f} s for sandbox uids held by other graders" if uid_wait else "")
              + (f", orphans reaped: {orphans} ({step['orphans_cpu_s']:.1f} s CPU)" if orphans else "")
              + (f", LEFT RUNNING and killed: {leaked}" if leaked else ""), flush=True)
        return step


def tail(path, lines=40):
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def make_course(course, class_dir, hidden=None):
    """An nbgrader course in `course`: assignments/ (hidden regions replaced by `hidden` when given),
    the config, the class in submitted/; then generate_assignment (not measured: done once per course)."""
    shutil.copytree(ROOT / "assignments", course / "assignments")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    if hidden is not None:
        import nbformat

        path = course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        replaced = set()
        for cell in notebook.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if HIDDEN_REGION.search(cell.source):
                if grade_id not in hidden:
                    sys.exit(f"The source notebook's cell {grade_id!r} has a hidden region the peer has no asserts for: "
                             "add it to PEER_ASSERTS.")
                cell.source = HIDDEN_REGION.sub(lambda m: m[1] + hidden[grade_id] + m[2], cell.source)
                replaced.add(grade_id)
        if unused := set(hidden) - replaced:
            sys.exit(f"PEER_ASSERTS names cells without a hidden region in the source notebook: {sorted(unused)}")
        nbformat.write(notebook, path)
    shutil.copytree(class_dir, course / "submitted")
    env = {**ENV, "NBGRADER_COURSE_ROOT": str(course)}
    subprocess.run([BIN / "nbgrader", "generate_assignment", ASSIGNMENT, "--log-level=WARN"], cwd=course, env=env,
                   check=True, capture_output=True)
    # The students' version must be the project's release: only the hidden tests differ between courses.
    import nbformat

    released = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    ours = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    if [c.source for c in released.cells] != [c.source for c in ours.cells]:
        sys.exit(f"The course in {course} releases a notebook other than release/{ASSIGNMENT}/: run `make release`?")
    return env


def gradebook_scores(course, students, checks, course_id):
    """{student: {check: auto_score}} from the course's gradebook; None where nbgrader has no grade."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gradebook:
        for student in students:
            try:
                scores[student] = {name: gradebook.find_grade(name, ASSIGNMENT, ASSIGNMENT, student).auto_score for name in checks}
            except MissingEntry:
                scores[student] = None
    return scores


def total(scores):
    """Auto points of one submission; None when it has none (nbgrader drops a notebook whose kernel died)."""
    if scores is None or all(v is None for v in scores.values()):
        return None
    return sum(v or 0 for v in scores.values())


def points(value):
    return "not graded" if value is None else f"{value:g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=6, help="size of the generated class (default 6: ~10-15 min on 2 cores)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="our grader's parallel run (default: the cores)")
    parser.add_argument("--old", action="store_true", help="also time nbgrader running this package's hidden cells (slow)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, courses, results)")
    parser.add_argument("--bare-worker", nargs="+", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        return bare_worker(args.bare_worker)

    sys.path.insert(0, str(ROOT / "tests"))
    from cases import SOLUTION, catalogue, named
    from notebooks import submission, write

    from course import exercise

    cases = catalogue(exercise)

    def case_of(kind):
        return named([SOLUTION, *cases.MISTAKES], CATALOGUED[kind])

    def notebook(kind):
        return submission(**HOSTILE[kind]) if kind in HOSTILE else case_of(kind).notebook(exercise)

    checks = exercise.checks
    cores = os.cpu_count()
    scratch = Path(tempfile.mkdtemp(prefix="benchmark-"))
    bench = Bench(scratch, cores)
    students = {f"s{i:02d}_{kind}": kind for i, kind in enumerate((MIX * args.students)[:args.students])}
    honest = [s for s, k in students.items() if not k.startswith("hostile")]
    hostile = [s for s, k in students.items() if k.startswith("hostile")]
    class_dir = scratch / "class"  # nbgrader's submitted/ layout, copied into each course
    for student, kind in students.items():
        write(notebook(kind), class_dir / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    n = len(students)
    print(f"{n} submissions: " + ", ".join(f"{count} {kind}" for kind, count in Counter(students.values()).items())
          + f"; {cores} cores; scratch {scratch}", flush=True)

    steps = {}

    def bare(name):
        """The floor: one process (nbclient) executes every notebook, each in a fresh folder with the data."""
        folders = []
        for student in students:
            folder = scratch / name / student
            shutil.copytree(DATA, folder / "data")
            shutil.copy(class_dir / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
            folders.append(folder)
        steps[name] = bench.measure(name, [sys.executable, Path(__file__).resolve(), "--bare-worker", *folders], cwd=scratch)

    # 1. The floor, first pass.
    bare("bare-first")

    # 2. The peer: nbgrader autograde with in-kernel hidden asserts.
    peer_course = scratch / "peer"
    env = make_course(peer_course, class_dir, hidden=PEER_ASSERTS)
    steps["peer"] = bench.measure("peer", [BIN / "nbgrader", "autograde", ASSIGNMENT], cwd=peer_course, env=env)
    peer_scores = gradebook_scores(peer_course, students, checks, exercise.course_id)
    # The peer is only a fair peer if it passes the correct work: fail loudly otherwise.
    wrong = {s: peer_scores[s] for s, k in students.items() if k == "correct" and peer_scores[s] != checks}
    if wrong:
        print(tail(steps["peer"]["log"]), file=sys.stderr)
        sys.exit(f"FAILED: the peer (nbgrader with in-kernel asserts) does not give the correct submission full marks: "
                 f"{wrong} (expected {checks}); its log: {steps['peer']['log']}, course: {peer_course}")

    # 3. Optional: the old comparison, nbgrader running this package's hidden cells.
    old_scores = None
    if args.old:
        old_course = scratch / "old"
        env = make_course(old_course, class_dir)
        steps["old"] = bench.measure("old", [BIN / "nbgrader", "autograde", ASSIGNMENT], cwd=old_course, env=env)
        old_scores = gradebook_scores(old_course, students, checks, exercise.course_id)

    # 4. This grader, one job, then one per core; each in a course folder of its own (it writes feedback/ beside submitted/).
    ours, job_counts = {}, sorted({1, args.jobs})
    for jobs in job_counts:
        course = scratch / f"ours-{jobs}"
        shutil.copytree(class_dir, course / "submitted")
        out = course / "results.json"
        steps[f"ours-{jobs}"] = bench.measure(f"ours-{jobs}", [sys.executable, "-m", "autograder", "grade", course / "submitted",
                                                               "--json", out, "--jobs", jobs, "--quiet"], cwd=ROOT)
        if not out.exists():
            print(tail(steps[f"ours-{jobs}"]["log"]), file=sys.stderr)
            sys.exit(f"FAILED: our grader wrote no results (--jobs {jobs}); log: {steps[f'ours-{jobs}']['log']}")
        ours[jobs] = {r.get("student") or r["submission"]: {t["name"]: t["score"] for t in r["tests"]}
                      for r in json.loads(out.read_text())}

    # 5. The floor, second pass; the floor is the mean of both.
    bare("bare-last")
    steps["bare"] = {key: (steps["bare-first"][key] + steps["bare-last"][key]) / 2 for key in ("wall_s", "cpu_s", "machine_busy_s")}
    steps["bare"]["peak_rss_mib"] = max(steps["bare-first"]["peak_rss_mib"], steps["bare-last"]["peak_rss_mib"])

    # Figures per submission, ratios, targets.
    def per(name, key):
        return steps[name][key] / n

    many = args.jobs
    ratios = {
        "cpu_ours_jobs1_over_peer": steps["ours-1"]["cpu_s"] / steps["peer"]["cpu_s"],
        "wall_ours_jobs1_over_peer": steps["ours-1"]["wall_s"] / steps["peer"]["wall_s"],
        f"throughput_ours_jobs{many}_over_peer": steps["peer"]["wall_s"] / steps[f"ours-{many}"]["wall_s"],
        "wall_ours_jobs1_over_bare": steps["ours-1"]["wall_s"] / steps["bare"]["wall_s"],
        "wall_peer_over_bare": steps["peer"]["wall_s"] / steps["bare"]["wall_s"],
        "cpu_peer_over_bare": steps["peer"]["cpu_s"] / steps["bare"]["cpu_s"],
        "cpu_ours_jobs1_over_bare": steps["ours-1"]["cpu_s"] / steps["bare"]["cpu_s"],
    }
    if args.old:
        ratios["wall_old_over_peer"] = steps["old"]["wall_s"] / steps["peer"]["wall_s"]
    targets = [  # (what, measured, target text, met)
        ("CPU per submission: ours `--jobs 1` / nbgrader with asserts", ratios["cpu_ours_jobs1_over_peer"], "<= 1.00x",
         ratios["cpu_ours_jobs1_over_peer"] <= 1.0),
        ("wall per submission: ours `--jobs 1` / nbgrader with asserts", ratios["wall_ours_jobs1_over_peer"], "<= 1.05x",
         ratios["wall_ours_jobs1_over_peer"] <= 1.05),
        (f"class throughput: ours `--jobs {many}` / nbgrader with asserts", ratios[f"throughput_ours_jobs{many}_over_peer"],
         ">= 1.8x", ratios[f"throughput_ours_jobs{many}_over_peer"] >= 1.8),
    ]

    # Scores. Agreement on the honest submissions is information (the peer's asserts are simpler);
    # on the hostile ones the peer is expected to be fooled.
    agreement = {}
    for student in honest:
        theirs, mine = peer_scores[student], ours[many].get(student)
        differ = sorted(c for c in checks if (theirs or {}).get(c) != (mine or {}).get(c))
        agreement[student] = ("same" if not differ else
                              f"differ on {', '.join(differ)} (peer {points(total(theirs))}, ours {points(total(mine))})")
    hostile_points = {s: {"peer": total(peer_scores[s]), "ours": total(ours[many].get(s))} for s in hostile}
    ours_as_catalogued = all(ours[many].get(s) == case_of(k).scores(exercise) for s, k in students.items() if k in CATALOGUED)
    ours_correct_full = all(ours[j].get(s) == checks for j in ours for s, k in students.items() if k == "correct")
    jobs_agree = all(ours[1] == ours[j] for j in ours)
    old_agree = None
    if old_scores is not None:
        old_agree = {s: old_scores[s] == ours[many].get(s) for s in honest}

    # Accounting checks: CPU must fit in wall x cores and in the machine's busy time.
    accounting = {}
    for name in ["bare-first", "peer", *(["old"] if args.old else []), *(f"ours-{j}" for j in job_counts), "bare-last"]:
        step = steps[name]
        accounting[name] = {
            "cpu_s": step["cpu_s"], "machine_busy_s": step["machine_busy_s"], "wall_x_cores_s": step["wall_s"] * cores,
            "other_work_cores": max(0.0, step["machine_busy_s"] - step["cpu_s"]) / step["wall_s"],
            "fits": step["cpu_s"] <= step["wall_s"] * cores * 1.02 and step["cpu_s"] <= step["machine_busy_s"] * 1.02 + 1,
            "orphans_reaped": step["orphans_reaped"], "orphans_cpu_s": step["orphans_cpu_s"], "left_running": step["left_running"],
            "waited_for_sandbox_uid_s": step["waited_for_sandbox_uid_s"],
        }

    # The tables (Markdown, for the README).
    mib = lambda name: f"{steps[name]['peak_rss_mib']:.0f} MiB"  # noqa: E731
    labels = [
        ("bare", "bare execution, one process (`nbclient`, no grading; floor, mean of a pass before and after)"),
        ("peer", "`nbgrader autograde`, in-kernel hidden asserts (the peer)"),
        *([("old", "`nbgrader autograde` running this package's hidden cells (old comparison)")] if args.old else []),
        *((f"ours-{j}", f"`python -m autograder grade --jobs {j}`" + (" (class wall / submissions)" if j > 1 else ""))
          for j in job_counts),
    ]
    kinds = ", ".join(f"{count} {kind}" for kind, count in Counter(students.values()).items())
    print(f"\n{n} submissions ({kinds}), {cores} cores.\n")
    print("| step | wall per submission | CPU per submission (user + system, all processes) | cores busy (CPU / wall) | peak memory (largest single process) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, label in labels:
        wall = f"{per(name, 'wall_s'):.1f} s"
        if name == "bare":
            wall += f" ({per('bare-first', 'wall_s'):.1f}, {per('bare-last', 'wall_s'):.1f})"
        print(f"| {label} | {wall} | {per(name, 'cpu_s'):.1f} s | {steps[name]['cpu_s'] / steps[name]['wall_s']:.2f} | {mib(name)} |")

    print("\n| target | measured | target | met |\n| --- | ---: | ---: | --- |")
    for what, value, target, met in targets:
        print(f"| {what} | {value:.2f}x | {target} | {'yes' if met else 'NO'} |")

    print("\n| other ratio | value |\n| --- | ---: |")
    print(f"| wall: ours `--jobs 1` / bare execution | {ratios['wall_ours_jobs1_over_bare']:.2f}x |")
    print(f"| wall: nbgrader with asserts / bare execution | {ratios['wall_peer_over_bare']:.2f}x |")
    print(f"| CPU: ours `--jobs 1` / bare execution | {ratios['cpu_ours_jobs1_over_bare']:.2f}x |")
    print(f"| CPU: nbgrader with asserts / bare execution | {ratios['cpu_peer_over_bare']:.2f}x |")
    if args.old:
        print(f"| wall: nbgrader with this package's hidden cells / nbgrader with asserts | {ratios['wall_old_over_peer']:.2f}x |")

    print("\n| scores | value |\n| --- | --- |")
    print(f"| peer gives the correct submissions full marks ({sum(checks.values()):g} auto points) | yes (checked) |")
    print(f"| ours gives the correct submissions full marks | {'yes' if ours_correct_full else 'NO'} |")
    print(f"| ours: `--jobs 1` scores = `--jobs {many}` scores | {'yes' if jobs_agree else 'NO'} |")
    print(f"| ours = the catalogue's expected scores on the honest submissions | {'yes' if ours_as_catalogued else 'NO'} |")
    for student, verdict in agreement.items():
        print(f"| peer vs ours, {student} | {verdict} |")
    for student, given in hostile_points.items():
        print(f"| points given to {student}: peer, ours | {points(given['peer'])}, {points(given['ours'])} of {sum(checks.values()):g} |")
    if old_agree is not None:
        print(f"| old comparison's scores = ours on the non-hostile submissions | "
              f"{'yes' if all(old_agree.values()) else [s for s, same in old_agree.items() if not same]} |")

    print("\n| CPU accounting | CPU counted | machine-wide busy CPU (all users) | wall x cores | other work on the machine "
          "| waited for sandbox uids held by others | orphans reaped by the benchmark (their CPU, counted above) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, acc in accounting.items():
        orphans = ", ".join(f"{count} {comm}" for comm, count in acc["orphans_reaped"].items()) or "none"
        print(f"| {name} | {acc['cpu_s']:.1f} s | {acc['machine_busy_s']:.1f} s | {acc['wall_x_cores_s']:.1f} s | "
              f"{acc['other_work_cores']:.2f} cores | {acc['waited_for_sandbox_uid_s']:.0f} s | {orphans} ({acc['orphans_cpu_s']:.1f} s) |")
    gaps = [name for name, acc in accounting.items() if not acc["fits"]]
    leaks = {name: acc["left_running"] for name, acc in accounting.items() if acc["left_running"]}
    print(f"\nCPU accounting: {'subreaper on' if bench.subreaper else 'NO SUBREAPER: orphans not counted'}; "
          + ("every step's CPU fits in wall x cores and in the machine's busy time." if not gaps
             else f"CPU exceeds wall x cores or the machine's busy time in {gaps}: do not trust those figures.")
          + (f" Processes left running after a step (killed, counted): {leaks}." if leaks else ""))
    orphaned = sum(acc["orphans_cpu_s"] for acc in accounting.values())
    if orphaned:
        print(f"NOTE: {orphaned:.1f} s of the CPU counted came from orphaned processes (their parent exited without "
              "waiting for them); getrusage(RUSAGE_CHILDREN) alone would have missed it: it is counted because this "
              "script is their subreaper.")
    waited = {name: round(acc["waited_for_sandbox_uid_s"]) for name, acc in accounting.items() if acc["waited_for_sandbox_uid_s"]}
    if waited:
        print(f"NOTE: our grader waited for sandbox uids held by another grader on this host (seconds): {waited}; "
              "that time is in its wall time.")
    noisy = [name for name, acc in accounting.items() if acc["other_work_cores"] > 0.1 * cores]
    if noisy:
        print(f"NOTE: other work used over 10% of the machine during {noisy}: the wall times there are noisy.")

    if args.json:
        figures = {"submissions": n, "kinds": dict(Counter(students.values())), "cores": cores, "jobs": many,
                   "steps": steps, "ratios": ratios,
                   "targets": [{"what": w, "measured": v, "target": t, "met": m} for w, v, t, m in targets],
                   "scores": {"peer": peer_scores, "ours": ours, "old": old_scores, "agreement": agreement,
                              "hostile_points": hostile_points, "ours_correct_full": ours_correct_full,
                              "ours_as_catalogued": ours_as_catalogued, "jobs_agree": jobs_agree},
                   "accounting": accounting, "subreaper": bench.subreaper}
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"Figures: {args.json}")
    if args.keep:
        print(f"Kept: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
