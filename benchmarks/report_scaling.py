"""Benchmark: does the report step cost the same per student in a class of 25 and of 200?

    .venv/bin/python benchmarks/report_scaling.py [--sizes 25 50 100 200]

The report step is everything after the notebooks ran and were verified: results.json, the
grade sheet, nbgrader's gradebook (a real SQLite file, in a course made with `nbgrader
generate_assignment`), one feedback page per student (HTML with its training plot, and
Markdown) and the class report. No notebook runs here: each class is made of results shaped
like real ones (tests/test_feedback.py's `result`: a real run's curves, a mix of passed and
failed checks, a few refused and timed-out submissions), so the figures are the report
step's alone. It prints milliseconds per student for each part and class size; a part
whose cost per student grows with the class grows faster than linearly.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from test_feedback import KNOWN_RUN, result  # noqa: E402

from course import exercise  # noqa: E402
from autograder.class_report import write_class_report  # noqa: E402
from autograder import feedback  # noqa: E402
from autograder.feedback import write_feedback  # noqa: E402
from autograder.grade import grade_sheet, results_json  # noqa: E402
from autograder.gradebook import record  # noqa: E402

BIN = Path(sys.executable).parent


def a_class(size: int) -> list:
    """`size` results: honest work, mistakes, a refused and a timed-out one in every 20.

    Honest runs of this deterministic exercise share one training curve (and so one plot);
    every other submission gets a curve of its own, so that each costs its own plot.
    """
    checks = list(exercise.checks)
    results = []
    for i in range(size):
        name, failed = f"s{i:04d}", checks[i % 3: i % 3 + i % 4]
        own = {**KNOWN_RUN, "val_loss": [v + i * 1e-4 for v in KNOWN_RUN["val_loss"]]}
        if i % 20 == 7:
            results.append(result(name, failed=checks, status="refused", message="Not a notebook.", training={}, student=name))
        elif i % 20 == 13:
            results.append(result(name, failed=checks[2:], status="timed out", message="Stopped at the time limit.",
                                  training=own, student=name))
        else:
            results.append(result(name, failed=failed, training=own if failed else KNOWN_RUN, student=name))
    return results


def course(scratch: Path) -> str:
    """A course folder with the assignment generated into its gradebook; returns the gradebook's URL."""
    shutil.copytree(ROOT / "assignments", scratch / "assignments")
    shutil.copy(ROOT / "nbgrader_config.py", scratch)
    subprocess.run([BIN / "nbgrader", "generate_assignment", exercise.name, "--log-level=ERROR"], cwd=scratch,
                   check=True, capture_output=True, env={"PATH": f"{BIN}:/usr/bin:/bin"})
    return f"sqlite:///{scratch / 'gradebook.db'}"


def timed(parts: dict, name: str, function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    parts[name] = time.perf_counter() - start
    return value


def measure(size: int, scratch: Path) -> dict:
    # Each class draws its own plots: a plot cached by an earlier size would make this one look cheaper.
    feedback.plot_data_uri.cache_clear()
    results, out = a_class(size), scratch / f"out-{size}"
    folder = scratch / f"course-{size}"
    db = course(folder)
    parts = {}
    timed(parts, "results.json", results_json, results)
    timed(parts, "grade sheet", grade_sheet, results)
    timed(parts, "gradebook", record, results, db, exercise, folder)  # with nbgrader's autograded notebooks
    timed(parts, "feedback pages", write_feedback, results, out / "feedback", exercise)
    timed(parts, "class report", write_class_report, results, out / "class-report.html", exercise, feedback_dir=out / "feedback",
          grading_seconds=size * 10.0)
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="report-scaling-"))
    try:
        measure(5, scratch)  # imports, template compilation and matplotlib's font cache: paid once per batch
        table = {size: measure(size, scratch) for size in args.sizes}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    parts = list(next(iter(table.values())))
    print("| part, ms per student | " + " | ".join(f"{size} students" for size in args.sizes) + " |")
    print("| --- |" + " ---: |" * len(args.sizes))
    for part in [*parts, "total"]:
        cells = [1000 * (sum(table[size].values()) if part == "total" else table[size][part]) / size for size in args.sizes]
        print(f"| {part} | " + " | ".join(f"{cell:.1f}" for cell in cells) + " |")
    first, last = args.sizes[0], args.sizes[-1]
    growth = (sum(table[last].values()) / last) / (sum(table[first].values()) / first)
    print(f"\nper-student cost, {last} students / {first}: {growth:.2f}x (flat is 1.0; target <= 1.2)")


if __name__ == "__main__":
    main()
