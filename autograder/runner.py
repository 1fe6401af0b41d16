"""Where notebooks run: a runner executes clean notebooks in their work folders, a few at once.

The grading pipeline (autograder.grade) asks a runner for one thing, `run(work, keep)`, and
knows nothing of how it isolates the run. Two runners:

- SandboxRunner: untrusted work (the default). Each of its `jobs` places is a warm sandbox with
  its own uid (the first no grader on this host holds) and limits (autograder.sandbox), made
  when the place first runs a notebook.
- LocalRunner: the instructor's own notebooks (the reference, `--no-sandbox`): no isolation.

A runner says whether it can work with `unavailable()`, asked where it runs: on a Dask worker
that is the worker's machine, not the client's.
"""

import queue
import threading
from pathlib import Path
from typing import Protocol

from .run import Run, run_notebook, warm_sandbox
from .sandbox import Limits, check_available


class Runner(Protocol):
    limits: Limits  # what each run may use; the grader reports a timeout with its wall-clock limit

    def unavailable(self) -> str | None:
        """None when this runner can run notebooks here, else why not (one line)."""

    def run(self, work: Path, keep=()) -> Run:
        """Execute `work`'s submission.ipynb; what comes back of the run is `keep`'s files and the executed notebook.
        Callable from several threads: at most `jobs` runs go at once, the others wait."""

    def close(self):
        """Stop what the runner keeps between runs (its sandboxes); call it from the thread pool that ran them."""


class SandboxRunner:
    """`jobs` warm sandboxes, each with the first uid no grader on this host holds (so graders
    and Dask workers of one host never wait for each other's uids)."""

    def __init__(self, jobs: int = 1, limits: Limits = Limits(), preload=()):
        self.limits, self.preload = limits, tuple(preload)
        self._places = queue.SimpleQueue()  # places free to run a notebook: at most `jobs` runs at once
        for place in range(jobs):
            self._places.put(place)
        self._boxes = {}  # place: its warm sandbox

    def unavailable(self) -> str | None:
        return check_available()

    def run(self, work: Path, keep=()) -> Run:
        place = self._places.get()
        try:
            if place not in self._boxes:
                self._boxes[place] = warm_sandbox(None, self.limits, self.preload)
            return run_notebook(work, keep=keep, box=self._boxes[place])
        finally:
            self._places.put(place)

    def close(self):
        # A sandbox's bwrap dies with the thread that started it (--die-with-parent), and a killed
        # zygote takes its processes' CPU out of the kernel's accounting: close before the threads end.
        for box in self._boxes.values():
            box.close()
        self._boxes.clear()


class LocalRunner:
    """No isolation: the notebook runs with the grader's privileges, network and files."""

    def __init__(self, jobs: int = 1, limits: Limits = Limits()):
        self.limits = limits
        self._free = threading.BoundedSemaphore(jobs)

    def unavailable(self) -> str | None:
        return None

    def run(self, work: Path, keep=()) -> Run:
        with self._free:
            return run_notebook(work, keep=keep, limits=self.limits, sandbox=False)

    def close(self):
        pass


def make_runner(*, sandbox: bool = True, jobs: int = 1, limits: Limits = Limits(), preload=()) -> Runner:
    return SandboxRunner(jobs, limits, preload) if sandbox else LocalRunner(jobs, limits)
