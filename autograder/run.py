"""Execute one clean notebook in a real Jupyter kernel, sandboxed, and tell how it went.

The kernel (and every process the notebook starts) lives inside the sandbox and dies
with it. What the run leaves in the work folder is evidence for the verifier; what this
module reports about the run (start, duration, timeout, crash) is the grader's own.

Sandboxed, the kernel is forked from a process that imported Keras once per sandbox slot
(`warm_sandbox`, warm_kernel.py): a batch pays TensorFlow's import once per slot, not once
per student. Unsandboxed (the instructor's own notebooks), it is `jupyter execute`.
"""

import contextlib

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import evidence, warm_kernel
from .sandbox import Limits, WarmSandbox

NOTEBOOK = "submission.ipynb"
EXECUTED = "executed.ipynb"


# What the verifier reads of every run; with the assignment's own files (Assignment.keep), the
# only things copied back out of its sandbox.
ALWAYS_KEPT = (EXECUTED, evidence.SNAPSHOTS.parts[0])

# nbclient's `jupyter-execute`, started without jsonschema's optional RFC 3987 checker: importing
# it builds a grammar (0.8 s of CPU per submission, measured) that nbformat's schema never uses.
EXECUTE = ("import sys; sys.modules['rfc3987_syntax'] = None\n"
           "from nbclient.cli import main; sys.exit(main())")
JUPYTER_EXECUTE = [str(Path(sys.prefix) / "bin" / "python"), "-c", EXECUTE, "--allow-errors", "--output", EXECUTED, NOTEBOOK]
WARM_KERNEL = Path(warm_kernel.__file__).read_text()


def warm_sandbox(slot: int | None = None, limits: Limits = Limits(), preload=()) -> WarmSandbox:
    """The sandbox of one slot (None: the first no grader on this host holds), in which each run_notebook
    forks a kernel that has imported the modules in `preload` (what an assignment declares every run
    needs: Keras, which imports TensorFlow)."""
    imports = "".join(f"import {module}  # noqa: F401\n" for module in preload)
    return WarmSandbox(WARM_KERNEL + imports, "warm_kernel", slot=slot, limits=limits)


@dataclass(frozen=True)
class Run:
    """How one notebook run went, as the grader observed it."""

    started_at: float
    seconds: float
    timed_out: bool = False
    problem: str | None = None  # why the run did not finish, for the student
    not_kept: tuple = ()  # "path (kind)" of links and special files the run left, not handed on


def run_notebook(work: Path, *, keep=(), slot: int | None = None, limits: Limits = Limits(), sandbox: bool = True,
                 box: WarmSandbox | None = None) -> Run:
    """Execute `work/submission.ipynb` with `work` as the kernel's folder.

    Sandboxed, in `box` (its limits apply), or else in a warm sandbox of `slot` made for this run;
    what comes back of the run is the executed notebook, the snapshots and the folders in `keep`.
    """
    started = time.time()
    if sandbox:
        with contextlib.ExitStack() as stack:
            box = box or stack.enter_context(warm_sandbox(slot, limits))
            limits = box.limits
            result = box.run([NOTEBOOK, EXECUTED], workdir=work, keep=(*ALWAYS_KEPT, *keep))
        returncode, timed_out, stderr, not_kept = result.returncode, result.timed_out, result.stderr, tuple(result.not_copied)
    else:
        (returncode, timed_out, stderr), not_kept = _run_unsandboxed(work, limits), ()
    seconds = time.time() - started
    return Run(started, seconds, timed_out, problem(limits, timed_out, returncode, stderr), not_kept)


def problem(limits: Limits, timed_out: bool, returncode: int | None, stderr: str) -> str | None:
    """Why a run did not finish, for the student (None: it did); every runner says it in these words."""
    if timed_out:
        return (f"The notebook did not finish within {limits.wall_seconds:.0f} s, so it was stopped "
                "(an endless loop, or training that never stops?); only what ran before counts.")
    if returncode != 0:
        return _why_it_ended(returncode, stderr)
    return None


def _why_it_ended(returncode: int | None, stderr: str) -> str:
    """Why a run that was not timed out ended with `returncode`, for the student, from what the grader saw."""
    if "No space left on device" in stderr or "ENOSPC" in stderr:
        return ("The notebook filled the run's disk, so it could not go on: do not write large files; "
                "only what ran before counts.")
    if "DeadKernelError" in stderr or "Kernel died" in stderr:
        return "The notebook's kernel died (out of memory, or the code exited?); only what ran before counts."
    if isinstance(returncode, int) and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"The notebook's run was killed ({name}), so it could not go on; only what ran before counts."
    return "The notebook could not be run to the end; only what ran before counts."


def _run_unsandboxed(work: Path, limits: Limits):
    """For an instructor's own notebooks only: same command, no isolation, same time limit."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(JUPYTER_EXECUTE, cwd=work, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=limits.wall_seconds)
        return process.returncode, False, stderr[-limits.output_bytes:]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, True, ""


def cell_errors(work: Path) -> dict:
    """{cell number: (error name, message)} of every cell that raised, from the executed notebook (student data: capped)."""
    errors = {}
    try:
        executed = evidence.read_json(work, EXECUTED, limit=16 * 2**20)
        for number, cell in enumerate(executed.get("cells", []), start=1):
            for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
                if isinstance(output, dict) and output.get("output_type") == "error":
                    errors.setdefault(number, (str(output.get("ename"))[:100], str(output.get("evalue"))[:300]))
    except (evidence.BadEvidence, AttributeError):
        pass
    return errors


def describe_error(where: str, name: str, value: str) -> str:
    """The error `name` (with message `value`) of the cell `where` names (verify.Context.place), as a sentence for the student."""
    if name == "NotImplementedError":
        return f"The code in {where} still raises NotImplementedError: replace `raise NotImplementedError()` with your code."
    if name == "MemoryError":
        return f"The code in {where} raised MemoryError: it asked for more memory than the grader allows."
    return f"The code in {where} raised {name}{f': {value}' if value.strip() else ''}."
