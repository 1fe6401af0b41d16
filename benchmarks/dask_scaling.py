"""Benchmark: one class graded on this machine (`--jobs 1`, `--jobs 2`) and on a local Dask cluster
(`--dask local:1`, `--dask local:2`), and what Dask itself adds per task.

    .venv/bin/python benchmarks/dask_scaling.py [--students 8] [--tasks 200] [--json FILE]

Steps, one after the other:
1. the class (`--students` notebooks of benchmarks/grading_speed.py's MIX: mostly correct, a
   mistake, hostile ones) graded by the real command line four ways; each is one subprocess
   timed from start to exit, so a cluster's start (scheduler, worker processes, their
   TensorFlow imports) is in its time, as it is in an instructor's;
2. Dask's own cost per task: `--tasks` tasks on a LocalCluster of one worker, each carrying a
   clean notebook of the class (as plain data) and returning a result of its size, the way
   autograder.dask_cluster sends them, but doing no grading: the wall time per task is the
   scheduler round trip plus (de)serialization, which a real task adds to its grading;
   and the time to start a LocalCluster of one worker.

Each step also reports the machine's load: its busy CPU (/proc/stat, all users) beside the
step's own time x cores, and the load average at its end; and how long a process of the step
waited for a sandbox uid that another grader on this host held (read from /proc/locks twice a
second): that wait is in the step's wall time, and `net_seconds_per_submission` leaves it out.
Run it on an idle machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]),
       "TF_CPP_MIN_LOG_LEVEL": "3"}
ASSIGNMENT = "callbacks"


def machine_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, stat.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def ours_waiting() -> bool:
    """Whether a process of this benchmark waits for a flock (a sandbox uid another grader holds)."""
    import psutil

    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    with open("/proc/locks") as locks:
        return any(line.split()[1] == "->" and int(line.split()[5]) in mine for line in locks if "->" in line)


def timed(label, function):
    import threading

    busy, started, waited, done = machine_busy_seconds(), time.monotonic(), [0.0], threading.Event()

    def watch():
        while not done.wait(0.5):
            waited[0] += 0.5 if ours_waiting() else 0.0

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        value = function()
    finally:
        done.set()
        watcher.join()
    wall = time.monotonic() - started
    figures = {"wall_seconds": round(wall, 2), "machine_busy_cores": round((machine_busy_seconds() - busy) / wall, 2),
               "load_average": os.getloadavg()[0], "waited_for_a_slot_seconds": waited[0]}
    print(f"{label}: {figures}", flush=True)
    return value, figures


def write_class(folder: Path, students: int):
    from grading_speed import KINDS, MIX
    from notebooks import submission, write

    for index in range(students):
        kind = MIX[index % len(MIX)]
        write(submission(**KINDS[kind]), folder / "submitted" / f"s{index:03d}" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return folder / "submitted"


def grade_class(submitted: Path, out: Path, *options):
    command = [sys.executable, "-m", "autograder", "grade", str(submitted), "--json", str(out / "results.json"),
               "--quiet", *options]
    done = subprocess.run(command, cwd=ROOT, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads((out / "results.json").read_text())


def dask_overhead(submitted: Path, tasks: int) -> dict:
    """Seconds to start a LocalCluster of one worker, and per task of no grading with a real task's data."""
    from autograder import assignment, intake
    from autograder.dask_cluster import connect
    from distributed import as_completed

    exercise = assignment.get(ASSIGNMENT)
    notebook = json.loads(json.dumps(intake.cleaned(intake.read_notebook(next(submitted.rglob("*.ipynb"))), exercise)[0]))
    result = {"tests": [{"name": name, "output": "x" * 300} for name in exercise.checks], "training": {"val_loss": [0.5] * 200},
              "cells": [{"source": "x" * 200, "outputs": [{"text": "y" * 200}]} for _ in notebook["cells"]]}
    started = time.monotonic()
    with connect("local:1") as client:
        start_seconds = time.monotonic() - started
        client.submit(_echo, notebook, result, key="warm-up").result()  # the worker imports autograder once
        began = time.monotonic()
        futures = [client.submit(_echo, notebook, result, key=f"overhead-{index}") for index in range(tasks)]
        for future in as_completed(futures):
            future.result()
        per_task = (time.monotonic() - began) / tasks
        one_by_one = []
        for index in range(min(tasks, 50)):  # latency: a task's round trip alone, as the first of a batch sees it
            began = time.monotonic()
            client.submit(_echo, notebook, result, key=f"latency-{index}").result()
            one_by_one.append(time.monotonic() - began)
    return {"cluster_start_seconds": round(start_seconds, 2), "notebook_bytes": len(json.dumps(notebook)),
            "result_bytes": len(json.dumps(result)), "throughput_ms_per_task": round(per_task * 1000, 2),
            "round_trip_ms_per_task": round(sorted(one_by_one)[len(one_by_one) // 2] * 1000, 2)}


def _echo(notebook, result):
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    figures = {"students": args.students, "cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="dask-scaling-") as scratch:
        submitted = write_class(Path(scratch), args.students)
        scores = {}
        for label, options in [("local --jobs 1", ["--jobs", "1"]), ("local --jobs 2", ["--jobs", "2"]),
                               ("dask local:1", ["--dask", "local:1"]), ("dask local:2", ["--dask", "local:2"])]:
            out = Path(scratch) / label.replace(" ", "_").replace(":", "")
            results, figures[label] = timed(label, lambda: grade_class(submitted, out, *options))
            figures[label]["seconds_per_submission"] = round(figures[label]["wall_seconds"] / args.students, 2)
            figures[label]["net_seconds_per_submission"] = round(
                (figures[label]["wall_seconds"] - figures[label]["waited_for_a_slot_seconds"]) / args.students, 2)
            scores[label] = {r["submission"]: (r["score"], r["status"]) for r in results}
        figures["same_scores"] = all(s == scores["local --jobs 1"] for s in scores.values())
        figures["overhead"], _ = timed("dask overhead", lambda: dask_overhead(submitted, args.tasks))
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if not figures["same_scores"]:
        raise SystemExit(f"the four ways must give the same scores; they gave {json.dumps(scores, indent=1)}")


if __name__ == "__main__":
    main()
