"""Benchmark: grading a generated class with nbconvert, nbgrader autograde and this grader.

    .venv/bin/python benchmarks/grading_speed.py [--students 20]

Builds a class of correct, wrong and hostile submissions (tests/notebooks.py), then, one
after the other on this machine:
1. executes each notebook with a bare `jupyter nbconvert --execute` (the floor: no grading);
2. grades the class with `nbgrader autograde` in a temporary course (one notebook at a time,
   as nbgrader does; its hidden cells call `autograder.check`);
3. grades it with `python -m autograder grade --jobs 1`, then with `--jobs <cores>`;
4. executes each notebook bare again: on a shared virtual machine the same run varies by
   10% or more over minutes, so the floor is the mean of two passes, one at each end.
It prints wall time per submission, the ratios the README quotes, the peak memory of the
largest process each run started, and whether our scores equal nbgrader's on the
non-hostile submissions. Run it on an otherwise idle machine.
"""

import argparse
from collections import Counter
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from notebooks import submission, write  # noqa: E402

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "3"}

FIT = ("model = build_model()\nhistory = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=200,\n"
       "                    callbacks={callbacks}, verbose=0)\n")
KINDS = {
    "correct": {},
    "loss_monitor": {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="loss", patience=5)\n'},
    "patience_3": {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=3)\n'},
    "not_passed": {"answer_fit": FIT.format(callbacks="[early_stopping]")},
    "no_reload": {"answer_reload": "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n"},
    # Hostile, but quick: they must not change the timing picture, only the mix.
    "hostile_forged_history": {"answer_fit": (
        "class History: pass\nhistory = History()\nhistory.epoch = list(range(14))\n"
        "history.history = {'val_loss': [1.0 - 0.05 * i for i in range(9)] + [0.6] * 5}\nhistory.params = {'epochs': 200}\n")},
    "hostile_patched_evaluate": {"answer_reload": (
        "import keras\nkeras.Model.evaluate = lambda self, *a, **k: [min(history.history['val_loss']), 1.0]\n"
        "best_val_loss = build_model().evaluate(x_val, y_val)[0]\n")},
    "hostile_exit": {"answer_fit": "import os\nos._exit(0)\n"},
}
# The mix of a class: mostly honest work.
MIX = ["correct"] * 3 + ["loss_monitor", "patience_3", "not_passed", "no_reload", "correct"] + \
      ["hostile_forged_history", "hostile_patched_evaluate", "hostile_exit", "correct"]


def timed(command, check=True, **kwargs):
    start = time.perf_counter()
    subprocess.run(command, check=check, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def peak_child_mib():
    """Peak resident memory of the largest process waited for so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="benchmark-"))
    course = scratch / "course"
    shutil.copytree(ROOT / "assignments", course / "assignments")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    students = {f"s{i:02d}_{kind}": kind for i, kind in enumerate((MIX * args.students)[:args.students])}
    for student, kind in students.items():
        write(submission(**KINDS[kind]), course / "submitted" / student / "callbacks" / "callbacks.ipynb")
    n = len(students)
    print(f"{n} submissions: " + ", ".join(f"{count} {kind}" for kind, count in Counter(students.values()).items()), flush=True)

    def bare_pass(name):
        """Seconds to execute every notebook with nbconvert, each in a fresh folder with the data."""
        seconds = 0.0
        for student in students:
            folder = scratch / name / student
            shutil.copytree(ROOT / "release" / "callbacks" / "data", folder / "data")
            shutil.copy(course / "submitted" / student / "callbacks" / "callbacks.ipynb", folder)
            # check=False: a notebook whose kernel dies (hostile_exit) makes nbconvert exit 1.
            seconds += timed([BIN / "jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                              "--ExecutePreprocessor.timeout=300", "callbacks.ipynb"], check=False, cwd=folder)
        print(f"bare nbconvert --execute ({name}): {seconds / n:.1f} s per submission", flush=True)
        return seconds

    # 1. Bare execution.
    bare_first = bare_pass("bare-first")
    bare_memory = peak_child_mib()

    # 2. nbgrader autograde.
    subprocess.run([BIN / "nbgrader", "generate_assignment", "callbacks"], cwd=course, env={**ENV, "NBGRADER_COURSE_ROOT": str(course)},
                   check=True, capture_output=True)
    nbgrader_seconds = timed([BIN / "nbgrader", "autograde", "callbacks"], check=False, cwd=course)
    print(f"nbgrader autograde: {nbgrader_seconds / n:.1f} s per submission", flush=True)

    # 3. This grader, one job, then one per core.
    ours = {}
    for jobs in sorted({1, args.jobs}):
        out = scratch / f"ours-{jobs}.json"
        ours[jobs] = timed([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                            "--json", str(out), "--jobs", str(jobs), "--quiet"], cwd=ROOT)
        print(f"autograder --jobs {jobs}: {ours[jobs] / n:.1f} s per submission", flush=True)
    grader_memory = peak_child_mib()

    # 4. Bare execution again; the floor is the mean of both passes.
    bare_last = bare_pass("bare-last")
    bare = (bare_first + bare_last) / 2

    # Scores: ours against nbgrader's gradebook, on the non-hostile submissions.
    sys.path.insert(0, str(ROOT))
    from nbgrader.api import Gradebook

    from autograder import exercise

    results = {r["submission"]: r for r in json.loads((scratch / f"ours-{args.jobs}.json").read_text())}
    mismatches = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", exercise.course_id()) as gradebook:
        for student, kind in students.items():
            if kind.startswith("hostile"):
                continue
            theirs = {name: gradebook.find_grade(name, "callbacks", "callbacks", student).auto_score for name in exercise.checks()}
            mine = {t["name"]: t["score"] for t in results[student]["tests"]}
            if theirs != mine:
                mismatches.append((student, theirs, mine))
    hostile_points = {s: results[s]["score"] for s, k in students.items() if k.startswith("hostile")}

    print("\n| measure | value |\n| --- | ---: |")
    print(f"| submissions | {n} ({sum(k.startswith('hostile') for k in students.values())} hostile) |")
    print(f"| bare `jupyter nbconvert --execute`, per submission (mean of a pass before and after) "
          f"| {bare / n:.1f} s ({bare_first / n:.1f}, {bare_last / n:.1f}) |")
    print(f"| `nbgrader autograde`, per submission | {nbgrader_seconds / n:.1f} s |")
    for jobs, seconds in ours.items():
        print(f"| `python -m autograder grade --jobs {jobs}`, per submission | {seconds / n:.1f} s |")
    print(f"| our overhead: `--jobs 1` / bare execution | {ours[1] / bare:.2f}x (target <= 1.25x) |")
    print(f"| class throughput: `--jobs {args.jobs}` / nbgrader autograde | {nbgrader_seconds / ours[args.jobs]:.2f}x (target >= 2x) |")
    print(f"| peak memory of one notebook run (largest process) | {max(bare_memory, grader_memory):.0f} MiB |")
    print(f"| our scores = nbgrader's on non-hostile submissions | {'yes' if not mismatches else mismatches} |")
    print(f"| points given to hostile submissions | {hostile_points} |")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
