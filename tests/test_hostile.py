"""Hostile and broken submissions, graded by the real grader (sandbox, kernel, training).

Each case is a notebook written by a student who wants points without the work, or a file
that is simply broken. Its description says what the submission does and what the grader
must do. For every case the grader must give the score the real work earns, check by
check (usually 0 for what was faked, full points for what was really done), say why, and
keep going. All notebooks are graded in one batch, next to two honest solutions that must
keep 10/10 whatever runs beside them (that is also "the honest solution passes inside the
exact sandbox used for grading").

The cell sources are in tests/hostile/cells.py. The batch takes about 8 minutes on 2 cores
(two endless cases use their whole 60 s). Below it, fast unit tests feed the same kinds of
hostile input to single parts (intake, evidence, measure, sandbox) without training.
"""

import contextlib
import hashlib
import html
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import host_pids_of
from autograder import evidence, intake, measure, sandbox
from course import exercise
from autograder.grade import Submission, grade, results_json
from autograder.sandbox import BASE_UID, Limits
from hostile import cells
from notebooks import submission

CHECKS = exercise.checks  # name -> points, in notebook order
CONFIG = ("early_stopping", "model_checkpoint", "tensorboard_callback")
# The honest solution needs 15-30 s in the sandbox on 2 cores; endless runs cost this much.
LIMITS = Limits(wall_seconds=60)


def points(*passed):
    """{check: points} with full points for the checks in `passed` and 0 for the others."""
    return {name: CHECKS[name] if name in passed else 0.0 for name in CHECKS}


def all_but(*failed):
    return points(*(name for name in CHECKS if name not in failed))


FULL = all_but()


# --- Building submissions --------------------------------------------------------------------

def notebook_file(notebook):
    """A writer of `notebook` as the submitted file (nbformat's own writer: valid JSON)."""
    def write(path):
        path.write_text(nbformat.writes(notebook))
        return path
    return write


def raw_file(data: bytes):
    def write(path):
        path.write_bytes(data)
        return path
    return write


def answers(**cells_by_id):
    """The solution with the given answer cells replaced (see tests/notebooks.py)."""
    return notebook_file(submission(**cells_by_id))


def _grade_id(cell):
    return exercise.nbgrader_meta(cell).get("grade_id")


def edited(edit, **cells_by_id):
    notebook = submission(**cells_by_id)
    edit(notebook)
    return notebook_file(notebook)


def insert_after(grade_id, source):
    def edit(notebook):
        at = next(i for i, cell in enumerate(notebook.cells) if _grade_id(cell) == grade_id)
        notebook.cells.insert(at + 1, new_code_cell(source))
    return edit


def delete_test_cells(notebook):
    notebook.cells = [cell for cell in notebook.cells if _grade_id(cell) not in CHECKS]


def move_test_cells_first(notebook):
    tests = [cell for cell in notebook.cells if _grade_id(cell) in CHECKS]
    notebook.cells = tests + [cell for cell in notebook.cells if _grade_id(cell) not in CHECKS]


def swap_data_in_setup_cell(notebook):
    """Edit the locked setup cell: train on the validation images, and a faster optimizer."""
    setup = next(cell for cell in notebook.cells if _grade_id(cell) == exercise.SETUP_CELL)
    setup.source = (setup.source.replace('digits["x_train"]', 'digits["x_val"]').replace('digits["y_train"]', 'digits["y_val"]')
                    .replace("learning_rate=0.005", "learning_rate=0.05"))
    assert 'digits["x_train"]' not in setup.source


def foreign_kernel_and_junk_outputs(notebook):
    """An R kernel in the metadata; HTML, script and error outputs, attachments, tags and
    execution counts on every code cell; nbgrader metadata that says `locked: False`."""
    notebook.metadata = {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                         "language_info": {"name": "R"}, "widgets": {"state": {"x": 1}}}
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        cell.execution_count = number
        cell.metadata.setdefault("tags", []).append("raises-exception")
        cell.metadata.get("nbgrader", {})["locked"] = False
        cell.outputs = [
            new_output("display_data", data={"text/html": "<script>fetch('/grades').then(r => r.text())</script>",
                                             "application/javascript": "alert('owned')"}),
            new_output("error", ename="AssertionError", evalue="already failed", traceback=["no"]),
            new_output("stream", name="stdout", text="Step 1 looks right.\n"),
        ]


def no_cells(path):
    path.write_text(nbformat.writes(new_notebook(cells=[])))
    return path


def symlink_to_solution(path):
    target = path.with_name("real.ipynb")
    target.write_text(nbformat.writes(submission()))
    path.symlink_to(target)
    return path


def symlink_to_device(path):
    path.symlink_to("/dev/zero")
    return path


def fifo(path):
    os.mkfifo(path)  # a reader that opens it blocking would wait forever
    return path


def folder(path):
    path.mkdir()
    (path / "callbacks.ipynb").write_text(nbformat.writes(submission()))
    return path


def missing(path):
    return path


def _notebook_json(**changes):
    data = json.loads(nbformat.writes(submission()))
    data.update(changes)
    return data


def huge_notebook():
    notebook = submission()
    notebook.cells.append(new_markdown_cell("x" * (6 * 2**20)))
    return nbformat.writes(notebook).encode()


NOTEBOOK_V3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""},
               "worksheets": [{"cells": [{"cell_type": "code", "input": "1 + 1", "language": "python", "outputs": []}]}]}


# --- The cases ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    what: str  # what the submission does, and what the grader must do
    build: Callable[[Path], Path]  # writes the submitted file at the given path
    scores: dict  # check -> points the real work earns
    status: str = "graded"
    messages: dict = field(default_factory=dict)  # check (or "message" for Result.message) -> substring
    marks: tuple = ()


HONEST, HONEST_2 = "honest solution", "honest solution, second copy"

CASES = [
    # ---- Resource exhaustion first: they run next to the second honest solution ----
    Case("fork bomb after the work",
         "After honest work, the kernel forks without end (each child in its own session, ignoring SIGINT, "
         "SIGTERM and SIGHUP) up to the process limit, all spinning. The run is stopped at the wall limit; the "
         "checks whose snapshots were taken before count, the honest notebook running beside it is untouched.",
         answers(answer_reload=cells.FORK_BOMB), all_but("reload_val_loss"), "timed out",
         {"message": "did not finish within", "reload_val_loss": "did not finish within"}),
    Case(HONEST_2, "The solution again, graded while the fork bomb runs: full marks.", answers(), FULL),
    Case("endless training without early stopping",
         "fit with epochs=10**9 and only the TensorBoard callback never returns. Timed out; the three "
         "configuration checks still count from the snapshots taken at their test cells.",
         answers(answer_fit=cells.ENDLESS_TRAINING), points(*CONFIG), "timed out",
         {"message": "did not finish within", "stopped_early": "was running: that fit never returned"}),
    Case("memory bomb",
         "Step 5 first allocates 256 MiB blocks without end: the memory limit turns it into a MemoryError "
         "in that cell, best_val_loss is never set, the kernel and everything else live on.",
         answers(answer_reload=cells.MEMORY_BOMB), all_but("reload_val_loss"), "graded",
         {"reload_val_loss": "MemoryError"}),
    Case("disk filled after the work",
         "After honest work, files fill the run's disk (cwd, /tmp, /dev/shm, HOME) and stay: the snapshots "
         "that follow cannot be written. What was exported before counts; the grader's disk is untouched.",
         answers(answer_reload=cells.DISK_FILLER), all_but("reload_val_loss"), "crashed",
         {"reload_val_loss": "What your variables held at step 5's test cell could not be read"}),
    Case("output flood",
         "After honest work, 100 MiB of output (with <script> tags) on stdout. Output is not part of the "
         "evidence: full marks, and the grader keeps only a bounded part of it.",
         answers(answer_reload=cells.OUTPUT_FLOOD), FULL),

    # ---- Tampering inside the kernel ----
    Case("input transformer blanks the grader's cells",
         "An IPython input transformer turns every cell the grader added into `pass`, so nothing is exported. "
         "The work is honest, but unverifiable work earns nothing: even the checkpoint file, which the grader "
         "reads itself, cannot be tied to an epoch of a training nobody reported.",
         answers(answer_early_stopping=cells.INPUT_TRANSFORMER), points(), "graded",
         {"early_stopping": "None of the test cells ran, although the notebook ran to the end"}),
    Case("post_run_cell hook forges every snapshot",
         "No work at all; a post_run_cell hook rewrites every snapshot after every cell with the values of an "
         "honest run (an untrained model as the 'trained model'). Only the configuration claims count: nothing "
         "the grader measures agrees.",
         answers(answer_early_stopping=cells.POST_RUN_CELL_FORGER, answer_model_checkpoint="pass",
                 answer_tensorboard_callback="pass", answer_fit="pass", answer_reload="pass"),
         points(*CONFIG), "graded",
         {"stopped_early": "The trained model (history.model) gives val_loss", "best_weights_file": "does not exist",
          "tensorboard_logs": "No TensorBoard log of this run", "reload_val_loss": "No usable best-weights file"}),
    Case("builtins.exec replaced to edit the snapshots",
         "patience=3 in truth; builtins.exec is replaced so that each grader snapshot is rewritten to claim "
         "patience=5 and the 14-epoch history of an honest run. The claim wins the configuration point, but the "
         "trained model, the TensorBoard logs and the history disagree: less than the honest mistake earns.",
         answers(answer_early_stopping=cells.EXEC_REPLACED),
         all_but("stopped_early", "tensorboard_logs", "reload_val_loss"), "graded",
         {"stopped_early": "history must come from training this model",
          "tensorboard_logs": "logs 12 epochs", "reload_val_loss": "already at step 4's test cell"}),
    Case("Model.fit monkeypatched to return a fake History",
         "keras.Model.fit is replaced by a function that trains nothing and returns an object with the history, "
         "epochs and params of an honest run; best_val_loss is typed in. No file backs any of it.",
         answers(answer_fit=cells.FIT_MONKEYPATCHED, answer_reload=cells.RELOAD_HARDCODED), points(*CONFIG), "graded",
         {"stopped_early": "The trained model (history.model) gives val_loss", "reload_val_loss": "No usable best-weights file"}),
    Case("evaluate and load_weights monkeypatched",
         "The checkpoint keeps the last epoch (no save_best_only); Model.evaluate is patched to report the best "
         "epoch's val_loss and load_weights to do nothing. The grader measures the file itself.",
         answers(answer_model_checkpoint='model_checkpoint = ModelCheckpoint("checkpoints/best_model.weights.h5", '
                                         'monitor="val_loss", save_weights_only=True)',
                 answer_reload=cells.EVALUATE_PATCHED),
         all_but("model_checkpoint", "reload_val_loss"), "graded",
         {"model_checkpoint": "save_best_only=True", "reload_val_loss": "so the file keeps the best epoch"}),
    Case("best_val_loss taken from history, evaluate patched to agree",
         "Step 5 is skipped: Model.evaluate is patched to return history's lowest val_loss, so a fresh, untrained "
         "build_model() 'evaluates' to it. The training, the file and the number are right, but no model holds the "
         "reloaded weights, so the reload earns nothing.",
         answers(answer_reload=cells.RELOAD_FAKED_BY_EVALUATE), all_but("reload_val_loss"), "graded",
         {"reload_val_loss": "No model other than the trained one holds the best weights"}),
    Case("comparisons patched and an always-equal best_val_loss",
         "numpy.isclose, numpy.allclose, math.isclose and abs are patched to say 'equal', and best_val_loss is a "
         "float subclass equal to everything, holding the last epoch's loss. The grader compares plain numbers "
         "in its own process.",
         answers(answer_reload=cells.COMPARISONS_PATCHED), all_but("reload_val_loss"), "graded",
         {"reload_val_loss": "best_val_loss is 0.2598"}),
    Case("always-equal history",
         "After honest training, history is replaced by an object whose values are equal to everything (and "
         "whose .item() returns itself). They export as nothing: no point rests on history, not even the checkpoint's, "
         "which must match an epoch of the reported training.",
         answers(answer_fit=cells.ALWAYS_EQUAL_HISTORY), points(*CONFIG),
         "graded", {"stopped_early": "must hold one finite number per epoch"}),
    Case("EarlyStopping.on_epoch_end monkeypatched",
         "patience=100, and EarlyStopping.on_epoch_end is patched to stop after 14 epochs anyway. The grader "
         "replays the settings through the real Keras class: they would not stop this training.",
         answers(answer_early_stopping=cells.EARLY_STOPPING_PATCHED), all_but("early_stopping", "stopped_early"), "graded",
         {"early_stopping": "patience=5", "stopped_early": "stops this training after 109"}),
    Case("plants conftest.py and stdlib-named modules",
         "No work; the notebook writes a conftest.py that turns failures into passes, a pytest.ini, and "
         "json.py, numpy.py, keras.py, sitecustomize.py, autograder/... into its folder. The grader's checks "
         "never import anything from the run: 0, and the planted code never runs on the grader's side.",
         answers(answer_early_stopping=cells.PLANTS_FILES, answer_model_checkpoint="pass", answer_tensorboard_callback="pass",
                 answer_fit="pass", answer_reload="pass"),
         points(), "graded", {"early_stopping": "`early_stopping` is not defined"}),
    Case("os._exit mid-notebook",
         "Step 5 is os._exit(0): the kernel dies. The run is reported as crashed, the checks before count.",
         answers(answer_reload=cells.OS_EXIT), all_but("reload_val_loss"), "crashed",
         {"message": "kernel died", "reload_val_loss": "The run was stopped before step 5's test cell"}),
    Case("SystemExit, sys.exit and KeyboardInterrupt in cells",
         "Cells end with raise SystemExit, sys.exit() and raise KeyboardInterrupt after honest work. They do not "
         "stop the run or its snapshots: full marks.",
         edited(insert_after("reload_val_loss", cells.EXIT_EXCEPTIONS_EXTRA),
                answer_tensorboard_callback=cells.EXIT_EXCEPTIONS_TENSORBOARD, answer_reload=cells.EXIT_EXCEPTIONS_RELOAD),
         FULL),
    Case("behaves differently when it detects the grader",
         "When hostname, cwd, user, uid or HOME look like the grader's, the notebook skips training, builds a "
         "History-like object from an honest run's numbers and types in best_val_loss; otherwise it is honest. "
         "Under grading only the configuration counts.",
         answers(answer_fit=cells.DETECTS_GRADER_FIT, answer_reload=cells.DETECTS_GRADER_RELOAD), points(*CONFIG), "graded",
         {"stopped_early": "The trained model (history.model) gives val_loss"}),

    # ---- Forged artifacts ----
    Case("stopped_epoch set by hand",
         "fit runs exactly 14 epochs without EarlyStopping; early_stopping.stopped_epoch is set by hand. "
         "EarlyStopping ended nothing: stopped_early fails, the rest of the real work counts.",
         answers(answer_fit=cells.STOPPED_EPOCH_BY_HAND), all_but("stopped_early"), "graded",
         {"stopped_early": "Call fit with epochs=200"}),
    Case("history truncated after a longer fit",
         "40 epochs without EarlyStopping, then history, epoch and params are cut to look like an early stop "
         "after 14. The trained model and the TensorBoard logs tell the truth.",
         answers(answer_fit=cells.TRUNCATED_HISTORY),
         all_but("stopped_early", "tensorboard_logs", "reload_val_loss"), "graded",
         {"stopped_early": "history must come from training this model", "tensorboard_logs": "logs 40 epochs",
          "reload_val_loss": "already at step 4's test cell"}),
    Case("untrained weights saved at the checkpoint path",
         "ModelCheckpoint is not passed to fit; a fresh, untrained model's weights are saved where the "
         "checkpoint should be. Nothing about the file is this run's best epoch.",
         answers(answer_fit=cells.UNTRAINED_CHECKPOINT), all_but("best_weights_file", "reload_val_loss"), "graded",
         {"reload_val_loss": "so ModelCheckpoint did not write them", "best_weights_file": "which no epoch of this training reached"}),
    Case("pre-baked weights trained on the validation data",
         "After honest training, weights of a model trained on the validation data overwrite the checkpoint "
         "(and best_val_loss is measured from them): a much lower loss that this exercise's training never reaches.",
         answers(answer_fit=cells.VALIDATION_TRAINED_CHECKPOINT), all_but("best_weights_file", "reload_val_loss"), "graded",
         {"reload_val_loss": "so ModelCheckpoint did not write them",
          "best_weights_file": "which no epoch of this training reached"}),
    Case("snapshot files written by hand",
         "No work at all, the test cells deleted, and .autograder/snapshots/<check>/evidence.json written by "
         "hand for every check, saying everything is right (an untrained model as the trained one).",
         edited(delete_test_cells, answer_early_stopping="pass", answer_model_checkpoint="pass",
                answer_tensorboard_callback="pass", answer_fit="pass", answer_reload=cells.EVIDENCE_BY_HAND),
         points(*CONFIG), "graded",
         {"stopped_early": "The trained model (history.model) gives val_loss", "reload_val_loss": "No usable best-weights file"}),
    Case("checkpoint replaced by a link to /etc/passwd",
         "After honest work, the checkpoint becomes a symbolic link to /etc/passwd. Links are not evidence: "
         "the file is gone for the grader.",
         answers(answer_reload=cells.CHECKPOINT_SYMLINK_TO_PASSWD), all_but("best_weights_file", "reload_val_loss"), "graded",
         {"best_weights_file": "checkpoints/best_model.weights.h5 was a symbolic link, not a regular file",
          "reload_val_loss": "No usable best-weights file"}),
    Case("checkpoint replaced by a FIFO, logs by a link",
         "After honest work, the checkpoint becomes a FIFO, the TensorBoard folder a link to a moved copy, and "
         "a link to /dev/zero is added. The grader neither blocks nor follows; those files count as missing.",
         answers(answer_reload=cells.FIFO_AND_FOLDER_LINK),
         all_but("best_weights_file", "tensorboard_logs", "reload_val_loss"), "graded",
         {"best_weights_file": "was a special file (a FIFO or device), not a regular file", "tensorboard_logs": "No TensorBoard log of this run"}),

    # ---- Reading hidden material, writing outside, other processes ----
    Case("reads the grader's files and leaks them through an error",
         "Step 5 tries to read the reference values, the hidden checks, the instructor's notebook, the gradebook, "
         "/root, /etc/shadow, other runs' folders and the grader's modules, and raises an error listing what it "
         "found, which reaches the feedback. It finds nothing.",
         answers(answer_reload=cells.LEAK_PROBE), all_but("reload_val_loss"), "graded",
         {"reload_val_loss": cells.LEAK_REPORT_CLEAN}),
    Case("writes outside its folder",
         "After honest work, tries to write into the virtual environment (sitecustomize, .pth), the grader's "
         "runner, the reference values, a results file, the instructor's IPython startup, /usr, another run's "
         "folder, and to kill the sandbox's init. None of it reaches the host; full marks for the work.",
         answers(answer_reload=cells.write_outside()), FULL),
    Case("late writer",
         "After honest work, a double-forked daemon in its own session and a thread wait 20 s, past the end of "
         "the notebook, then overwrite the checkpoint, the logs and the snapshots for 2 minutes. They die with "
         "the run, before the grader reads anything: full marks, and no waiting (that would time out).",
         answers(answer_reload=cells.LATE_WRITER), FULL),
    Case("kill -9 -1",
         "Step 5, after the reload, sends SIGKILL to every process it may signal. Only its own run dies.",
         answers(answer_reload=cells.KILL_EVERYTHING), all_but("reload_val_loss"), "crashed",
         {"reload_val_loss": "The run was stopped before step 5's test cell"}),

    Case("variables renamed",
         "early_stopping is called `es` (and used under that name in fit). The grader looks for variables "
         "by name, as the notebook says: every check that needs early_stopping (also to know whether the "
         "trained model holds its best or its last epoch) says it is not defined; the rest counts.",
         answers(answer_early_stopping='es = EarlyStopping(monitor="val_loss", patience=5, verbose=1)',
                 answer_fit=cells.fit("[es, model_checkpoint, tensorboard_callback]")),
         all_but("early_stopping", "stopped_early", "reload_val_loss"), "graded",
         {"early_stopping": "`early_stopping` is not defined", "stopped_early": "`early_stopping` is not defined",
          "reload_val_loss": "`early_stopping` is not defined"}),

    # ---- Broken or hostile files ----
    Case("UTF-8 with a byte-order mark",
         "The solution saved with a UTF-8 BOM, as some editors do: accepted and graded normally.",
         raw_file(b"\xef\xbb\xbf" + nbformat.writes(submission()).encode()), FULL),
    Case("foreign kernel, HTML and script outputs",
         "The solution claiming an R kernel, with HTML/JavaScript/error outputs, tags, execution counts and "
         "unlocked nbgrader metadata: all dropped; graded with our kernel, full marks.",
         edited(foreign_kernel_and_junk_outputs), FULL),
    Case("locked setup cell edited",
         "The locked setup cell is changed to train on the validation images with a larger learning rate. "
         "The grader puts the release's setup cell back: the rest is the solution, full marks.",
         edited(swap_data_in_setup_cell), FULL),
    Case("test cells moved before the answers",
         "The test cells are moved to the top, before any work: each check sees the variables where its test "
         "cell is, as nbgrader would; nothing was there yet, so nothing counts.",
         edited(move_test_cells_first), points(), "graded",
         {"early_stopping": "`early_stopping` is not defined at step 1's test cell"}),
    Case("notebook without cells",
         "A valid notebook with no cells at all: graded, 0, each check saying what to define.",
         no_cells, points(), "graded", {"early_stopping": "`early_stopping` is not defined"}),
    Case("not JSON", "Plain text in an .ipynb.", raw_file(b"my homework is attached\n"), points(), "refused",
         {"message": "not valid JSON"}),
    Case("invalid UTF-8", "Latin-1 bytes in a notebook.", raw_file(b'{"cells": [], "metadata": {"author": "J\xfcrgen"}}'),
         points(), "refused", {"message": "not UTF-8"}),
    Case("larger than 5 MiB", "The solution with a 6 MiB markdown cell.", raw_file(huge_notebook()), points(), "refused",
         {"message": "at most 5 MiB"}),
    Case("deeply nested JSON", "100,000 nested lists (a parser bomb).", raw_file(b"[" * 100_000 + b"]" * 100_000),
         points(), "refused", {"message": "nested too deeply"}),
    Case("deeply nested metadata",
         "The solution with 900 nested objects in its metadata, just under the parser's recursion limit.",
         raw_file(json.dumps(_notebook_json(metadata={"x": json.loads("{\"a\": " * 900 + "1" + "}" * 900)})).encode()),
         points(), "refused", {"message": "nested too deeply"}),
    Case("schema-invalid notebook", "A code cell whose source is a number and which has no outputs.",
         raw_file(json.dumps(_notebook_json(cells=[{"cell_type": "code", "source": 42, "metadata": {}}])).encode()),
         points(), "refused", {"message": "not a valid notebook"}),
    Case("nbformat 3", "A notebook in the old format 3 (worksheets).", raw_file(json.dumps(NOTEBOOK_V3).encode()),
         points(), "refused", {"message": "format 4"}),
    Case("JSON list", "A JSON list instead of a notebook.", raw_file(b"[1, 2, 3]"), points(), "refused",
         {"message": "format 4"}),
    Case("submitted path is a symlink", "A symbolic link to a valid solution elsewhere.", symlink_to_solution,
         points(), "refused", {"message": "symbolic link"}),
    Case("submitted path is a link to a device", "A symbolic link to /dev/zero.", symlink_to_device, points(), "refused",
         {"message": "symbolic link"}),
    Case("submitted path is a FIFO", "A named pipe: reading it would block forever.", fifo, points(), "refused",
         {"message": "not a regular file"}),
    Case("submitted path is a folder", "A folder named like the notebook.", folder, points(), "refused",
         {"message": "not a regular file"}),
    Case("submitted path is missing", "The file is gone by the time the grader runs.", missing, points(), "refused",
         {"message": "does not exist"}),

    # ---- What one run leaves must cost nobody else anything (and the run sees nothing of the grader) ----
    Case("history holds numbers no float can hold",
         "After all the work, a cell puts 10 ** 4000, NaN and infinities into history.history and best_val_loss. "
         "The checks' snapshots came before it, so full marks; results.json stays strict JSON and every page is "
         "written (see test_results_are_strict_json_and_every_page_is_written).",
         edited(insert_after("reload_val_loss", cells.UNREPRESENTABLE_HISTORY)), FULL),
    Case("error message quotes the sandbox's command line",
         "The reload cell raises an error holding whatever of pid 1's command line, the mounts and every "
         "process's command line names a staging folder or a number: the student's feedback quotes it, so it "
         "must hold nothing of the grader (see test_no_run_sees_the_graders_pid_or_folders).",
         answers(answer_reload=cells.GRADER_TRACES), all_but("reload_val_loss"), "graded",
         {"reload_val_loss": cells.LEAK_MARK}),
    Case("tensorboard flood of ints and strings",
         "After honest work, a second event file in log_dir/train holding 400,000 records of int64 and string "
         "scalars, which the reader keeps none of. Every record counts: the train log is refused, fast, with a "
         "message; only tensorboard_logs is lost, and the verifier is not held up for the others.",
         answers(answer_reload=cells.TENSORBOARD_FLOOD), all_but("tensorboard_logs"), "graded",
         {"tensorboard_logs": "more than 100000 event records"}),
    Case("gzip bomb as the checkpoint",
         "After honest work, three datasets of checkpoints/best_model.weights.h5 are replaced by datasets declaring "
         "one float each, stored as one gzip chunk that inflates to almost 4 GiB (about 4 MB on disk). Refused from "
         "the file's metadata before anything is decompressed: the checks that measure the checkpoint fail, saying why.",
         answers(answer_reload=cells.GZIP_BOMB_CHECKPOINT), all_but("best_weights_file", "reload_val_loss"), "graded",
         {"best_weights_file": "compressed or filtered", "reload_val_loss": "compressed or filtered"}),
    Case("sparse file and hard links after the work",
         "After honest work, a 3 GiB sparse file and 100 hard links of a 1 MiB file (about 1 MiB of the sandbox's "
         "disk): full marks, and the host's disk is not charged 3.1 GiB.",
         answers(answer_reload=cells.SPARSE_AND_HARD_LINKS), FULL),

    # ---- Honest but fragile ----
    Case("threads and multiprocessing",
         "The solution plus a cell using a thread pool, a spawn process pool and a daemon thread still "
         "sleeping at the end: full marks.",
         edited(insert_after("reload_val_loss", cells.THREADS_AND_PROCESSES)), FULL),
    Case(HONEST, "The solution, graded last, after everything above: full marks.", answers(), FULL),
]

CASE_BY_ID = {case.id: case for case in CASES}
assert len(CASE_BY_ID) == len(CASES), "case ids must be unique"


# --- The batch -------------------------------------------------------------------------------

def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


PROTECTED = [exercise.reference_file, exercise.source_notebook, exercise.release_notebook, *sorted(exercise.checks_dir.glob("*.py"))]


@dataclass
class Batch:
    results: dict  # case id -> Result
    seconds: float
    host_before: dict
    host_after: dict
    sandbox_pids_after: list


def grade_cases(cases, folder: Path, *, jobs=2, limits=LIMITS) -> Batch:
    """Write each case's submission under `folder` and grade them all in one batch."""
    submissions = []
    for number, case in enumerate(cases):
        (folder / f"{number:02d}").mkdir(parents=True)
        path = case.build(folder / f"{number:02d}" / "callbacks.ipynb")
        submissions.append(Submission(case.id, path))
    watched = PROTECTED + [Path(p) for p in cells.WRITE_TARGETS]
    Path(cells.PLANTED_MARKER).unlink(missing_ok=True)
    before = {str(p): digest(p) for p in watched}
    started = time.monotonic()
    results = grade(submissions, exercise, jobs=jobs, limits=limits)
    seconds = time.monotonic() - started
    after = {str(p): digest(p) for p in watched}
    # Hold the slots' uids (waiting for any other grader on this host to finish its run on them):
    # a process of these uids now can only be a leftover of this batch.
    with contextlib.ExitStack() as claims:
        for uid in range(BASE_UID, BASE_UID + jobs):
            claims.enter_context(sandbox._claim_uid(uid))
        leftovers = host_pids_of(set(range(BASE_UID, BASE_UID + jobs)))
    return Batch({r.submission: r for r in results}, seconds, before, after, leftovers)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_cases(CASES, tmp_path_factory.mktemp("hostile"))


def describe(result):
    return "\n".join([f"{result.submission}: {result.score}/{result.max_score} ({result.status}, {result.message}, "
                      f"{result.seconds:.0f} s)"]
                     + [f"  {t.name}: {t.score}/{t.max_score} {t.status}\n    {t.output}" for t in result.tests])


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_case_gets_what_its_work_earns(case, batch):
    """Exactly the points its real work earns, check by check, with its status and a reason for each check."""
    result = batch.results[case.id]
    scores = {test.name: test.score for test in result.tests}
    assert scores == case.scores, f"{case.what}\n{describe(result)}"
    assert result.score == sum(case.scores.values()) and result.max_score == sum(CHECKS.values()), describe(result)
    assert result.status == case.status, describe(result)
    for test in result.tests:
        assert test.status == ("passed" if test.score == test.max_score else "failed"), describe(result)
        assert test.output.strip(), f"{test.name} gives no reason:\n{describe(result)}"
    outputs = {test.name: test.output for test in result.tests} | {"message": result.message or ""}
    for where, text in case.messages.items():
        assert text in outputs[where], f"{where} should say {text!r}:\n{describe(result)}"


@pytest.mark.slow
def test_honest_solutions_pass_in_the_grading_sandbox(batch):
    """The solution gets 10/10 inside the exact sandbox used for grading, in every batch position."""
    for name in (HONEST, HONEST_2):
        result = batch.results[name]
        assert (result.score, result.status, result.message) == (10, "graded", None), describe(result)
        assert result.seconds < LIMITS.wall_seconds


@pytest.mark.slow
def test_nothing_hidden_reaches_any_result(batch):
    """No result (the students' feedback) contains the reference values or the hidden checks' source."""
    text = results_json(list(batch.results.values()))
    json.loads(text)
    # (The reference loss itself may appear: an honest run's own checkpoint measures it.)
    secrets = ["python -m autograder reference", '"canonical"', "def test_", "import pytest", "REL_TOL ="]
    for secret in secrets:
        assert secret not in text


@pytest.mark.slow
def test_results_are_strict_json_and_every_page_is_written(batch, tmp_path):
    """Whatever values the runs exported, is results.json strict JSON, and does every submission get its page
    and a row of the class report?"""
    from autograder.class_report import write_class_report
    from autograder.feedback import write_feedback

    def refuse(constant):
        raise ValueError(f"results.json holds {constant}, which strict JSON readers refuse")

    results = list(batch.results.values())
    json.loads(results_json(results), parse_constant=refuse)
    pages = write_feedback(results, tmp_path / "feedback", exercise)
    assert set(pages) == set(batch.results)
    report = write_class_report(results, tmp_path / "class-report.html", exercise, feedback_dir=tmp_path / "feedback",
                                grading_seconds=batch.seconds)
    text = report.read_text()
    assert all(html.escape(name) in text for name in batch.results if name == html.escape(name))


@pytest.mark.slow
def test_no_run_sees_the_graders_pid_or_folders(batch):
    """What a run could read of the processes and mounts around it names neither the grader's pid nor its folders."""
    output = next(t.output for t in batch.results["error message quotes the sandbox's command line"].tests
                  if t.name == "reload_val_loss")
    traces = output.split(cells.LEAK_MARK, 1)[1].split("]", 1)[0].split()
    assert str(os.getpid()) not in traces
    assert not [t for t in traces if "sandbox-" in t or t.startswith(str(Path(tempfile.gettempdir()) / "autograder-"))]


@pytest.mark.slow
def test_host_files_and_processes_untouched(batch):
    """The grader's files keep their bytes, nothing was created outside the runs, no sandbox process is left."""
    assert batch.host_after == batch.host_before
    for path in cells.WRITE_TARGETS:
        if batch.host_before[path] is None:
            assert not Path(path).exists(), path
    assert not Path(cells.PLANTED_MARKER).exists(), "code planted by a run was executed by the grader"
    assert batch.sandbox_pids_after == []


@pytest.mark.slow
def test_refused_files_cost_nothing(batch):
    refused = [r for r in batch.results.values() if r.status == "refused"]
    assert refused and all(r.seconds == 0 for r in refused)


# --- Fast unit tests: single parts, hostile input, no training ------------------------------------

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


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


REFUSED_FILES = [case for case in CASES if case.status == "refused"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in REFUSED_FILES])
def test_read_notebook_refuses(case, tmp_path):
    path = case.build(tmp_path / "callbacks.ipynb")
    started = time.monotonic()
    with pytest.raises(intake.Refused, match=case.messages["message"]):
        intake.read_notebook(path)
    assert time.monotonic() - started < 5


def test_read_notebook_accepts_bom_and_drops_everything_but_sources(tmp_path):
    notebook = submission()
    foreign_kernel_and_junk_outputs(notebook)
    path = write(tmp_path / "callbacks.ipynb", b"\xef\xbb\xbf" + nbformat.writes(notebook).encode())
    clean = intake.clean(intake.read_notebook(path), exercise)
    assert clean.metadata.kernelspec == intake.KERNELSPEC
    for cell in clean.cells:
        assert set(cell.get("metadata", {})) <= set(), cell.metadata
        assert not cell.get("outputs") and cell.get("execution_count") is None
    nbformat.validate(clean)


def test_clean_restores_the_locked_setup_cell():
    notebook = submission()
    swap_data_in_setup_cell(notebook)
    clean = intake.clean(notebook, exercise)
    release = nbformat.read(exercise.release_notebook, as_version=4)
    setup = next(c.source for c in release.cells if _grade_id(c) == exercise.SETUP_CELL)
    assert setup in [cell.source for cell in clean.cells]
    assert not any("learning_rate=0.05" in cell.source for cell in clean.cells)


@pytest.mark.parametrize("grade_id", [123, ["early_stopping"], {"x": 1}, None])
def test_clean_ignores_grade_ids_that_are_not_strings(grade_id):
    notebook = submission()
    for cell in notebook.cells:
        if _grade_id(cell) in CHECKS:
            cell.metadata["nbgrader"]["grade_id"] = grade_id
    clean = intake.clean(notebook, exercise)
    snapshots = [cell for cell in clean.cells if cell.source.startswith("# autograder:")]
    # The test cells count as deleted: their snapshots go back after the answers, plus the final
    # one; the student's cells themselves run as plain code.
    assert len(snapshots) == len(CHECKS) + 1
    assert sum(cell.source.startswith("# Test step") for cell in clean.cells) == len(CHECKS)


# evidence: links, FIFOs, devices, huge and deeply nested files, schema violations

def test_regular_file_refuses_links_fifos_devices_and_big_files(tmp_path):
    write(tmp_path / "real" / "best.weights.h5", b"x" * 10)
    (tmp_path / "link.weights.h5").symlink_to(tmp_path / "real" / "best.weights.h5")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    write(tmp_path / "big", b"x" * 101)
    assert evidence.regular_file(tmp_path, "real/best.weights.h5", 100).st_size == 10
    for relative, message in [("link.weights.h5", "symbolic link"), ("linked/best.weights.h5", "linked is a symbolic link"),
                              ("fifo", "not a regular file"), ("zero", "symbolic link"), ("real", "not a regular file"),
                              ("big", "at most 100 bytes"), ("nothing", "does not exist")]:
        with pytest.raises(evidence.BadEvidence, match=message):
            evidence.regular_file(tmp_path, relative, 100)


def test_read_bytes_of_a_fifo_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    started = time.monotonic()
    with pytest.raises(evidence.BadEvidence, match="not a regular file"):
        evidence.read_bytes(tmp_path, "pipe", 100)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("path, cwd", [
    ("/etc/passwd", "/submission"), ("../other/checkpoints/best_model.weights.h5", "/submission"),
    ("/submission/../etc/passwd", "/submission"), ("checkpoints/../../x", "/submission"), (".", "/submission"),
    ("", "/submission"), ("/submission/x", ""), ("/", "/"),
])
def test_relative_to_run_refuses_paths_leaving_the_folder(path, cwd):
    with pytest.raises(evidence.BadEvidence):
        evidence.relative_to_run(path, cwd)


def test_relative_to_run_accepts_paths_inside():
    assert evidence.relative_to_run("/submission/checkpoints/./best_model.weights.h5", "/submission").as_posix() == exercise.settings["checkpoint"]
    assert evidence.relative_to_run("checkpoints//best_model.weights.h5", "/x").as_posix() == exercise.settings["checkpoint"]


def snapshot_folder(work, name="final"):
    return work / evidence.SNAPSHOTS / name


def test_load_snapshot_refuses_hostile_evidence_files(tmp_path):
    """Each bad file is refused with a reason, and the next candidate (final) is tried; nothing raises."""
    good = dict(cells.FORGED_EVIDENCE, name="early_stopping")
    bad = {
        "early_stopping": b"[" * 50_000,  # nesting bomb
        "model_checkpoint": b"\xff\xfe not utf-8",
        "tensorboard_callback": json.dumps(dict(good, variables={"os": {"type": "x"}})).encode(),  # unknown variable
        "stopped_early": json.dumps(dict(good, format=2)).encode(),
        "best_weights_file": b'{"format": 1, "name": "x", "variables": {}, "pad": "' + b"x" * (3 * 2**20) + b'"}',
        "tensorboard_logs": json.dumps(dict(good, variables={"history": {"type": "h", "history": {"val_loss": ["x" * 501]}}})).encode(),
        "reload_val_loss": json.dumps(dict(good, variables={"history": {"type": "h", "epoch": list(range(1001))}})).encode(),
    }
    for name, data in bad.items():
        write(snapshot_folder(tmp_path, name) / "evidence.json", data)
        snapshot = evidence.load_snapshot(tmp_path, name, exercise.variables)
        assert snapshot.variables == {} and snapshot.name == evidence.FINAL, name
        assert len(snapshot.problems) == 1, (name, snapshot.problems)  # why this file was refused
    (snapshot_folder(tmp_path, "linked")).mkdir(parents=True)
    (snapshot_folder(tmp_path, "linked") / "evidence.json").symlink_to(snapshot_folder(tmp_path, "stopped_early") / "evidence.json")
    assert "symbolic link" in evidence.load_snapshot(tmp_path, "linked", exercise.variables).problems[0]


def test_load_snapshot_with_deep_but_parsable_extra_fields_does_not_crash(tmp_path):
    """500 nested lists parse; extra top-level fields are not validated deeply and are never used."""
    data = dict(cells.FORGED_EVIDENCE, extra=json.loads("[" * 500 + "]" * 500))
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.get("best_val_loss") == {"type": "numpy.float64", "value": cells.BEST_VAL_LOSS}


def test_final_weights_path_comes_from_the_grader_not_the_snapshot(tmp_path):
    data = dict(cells.FORGED_EVIDENCE, final_model_saved=True, final_weights="/etc/passwd")
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.final_weights == evidence.SNAPSHOTS / "final" / "final_model.weights.h5"


def test_other_models_files_are_named_by_the_grader_not_by_their_variables(tmp_path):
    """A variable named like a path, and a file named in the snapshot, point nowhere but to the grader's names."""
    data = dict(cells.FORGED_EVIDENCE, models=[{"variable": "../../etc/passwd", "saved": True, "file": "/etc/passwd"},
                                               {"variable": "unsaved", "saved": False}])
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.models == {"../../etc/passwd": evidence.SNAPSHOTS / "final" / "model_0.weights.h5", "unsaved": None}


def test_more_models_than_exported_make_the_snapshot_invalid(tmp_path):
    data = dict(cells.FORGED_EVIDENCE, models=[{"variable": f"m{i}", "saved": True} for i in range(evidence.MAX_MODELS + 1)])
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.variables == {} and "expected shape" in snapshot.problems[0]


# measure: weights files that are not what they say

def test_val_loss_of_refuses_files_that_are_not_weights(tmp_path):
    write(tmp_path / "text.weights.h5", b"not hdf5")
    write(tmp_path / "truncated.weights.h5", measure.HDF5_SIGNATURE + b"\0" * 100)
    for name, message in [("text.weights.h5", "not a Keras weights file"), ("truncated.weights.h5", "not a readable weights file")]:
        with pytest.raises(evidence.BadEvidence, match=message):
            measure.val_loss_of(exercise, tmp_path, name)


@pytest.mark.slow
def test_val_loss_of_refuses_a_decompression_bomb(tmp_path):
    """A 1 GB dataset that stores next to nothing: refused before Keras reads it into memory.

    (Keras itself only refuses declared sizes over 4 GiB per dataset; a file of several such
    datasets made the grader's own process allocate 24 GB.)"""
    import h5py
    import tracemalloc

    model = exercise.setup["build_model"]()
    model.save_weights(tmp_path / "bomb.weights.h5")
    with h5py.File(tmp_path / "bomb.weights.h5", "a") as file:
        del file["layers/dense/vars/0"]
        file.create_dataset("layers/dense/vars/0", shape=(2**28,), dtype="f4", chunks=(2**20,), compression="gzip")
    assert (tmp_path / "bomb.weights.h5").stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(evidence.BadEvidence, match="unpacks to"):
            measure.val_loss_of(exercise, tmp_path, "bomb.weights.h5")
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["external link", "external storage", "strings"])
def test_val_loss_of_refuses_links_out_of_the_file(tmp_path, kind):
    """Weights that point to other files (another run's checkpoint, the reference values) or hold text."""
    import h5py
    import numpy as np

    model = exercise.setup["build_model"]()
    model.save_weights(tmp_path / "other.weights.h5")
    model.save_weights(tmp_path / "hostile.weights.h5")
    with h5py.File(tmp_path / "hostile.weights.h5", "a") as file:
        del file["layers/dense/vars/0"]
        if kind == "external link":
            file["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.weights.h5"), "layers/dense/vars/0")
        elif kind == "external storage":
            file.create_dataset("layers/dense/vars/0", shape=(64, 128), dtype="f4",
                                external=[(str(exercise.reference_file), 0, h5py.h5f.UNLIMITED)])
        else:
            file["layers/dense/vars/0"] = np.array([exercise.reference_file.read_bytes()[:200]] * 8192).reshape(64, 128)
    with pytest.raises(evidence.BadEvidence) as refused:
        measure.val_loss_of(exercise, tmp_path, "hostile.weights.h5")
    assert "autograder reference" not in str(refused.value)


# TensorBoard event files: shape bombs and floods

def _event_file(path, values):
    """An event file with one event per (step, tag, TensorProto) in `values`."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2, summary_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for step, tag, tensor in values:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor)])
            writer.write(event_pb2.Event(step=step, wall_time=1.0, summary=summary).SerializeToString())


def _tensor(value, shape=()):
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value],
                                  tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims))


@pytest.mark.slow
def test_read_events_skips_a_shape_bomb(tmp_path):
    """A 30-byte record declaring 2**28 floats (1 GiB, one value given) is skipped, not built."""
    import tracemalloc

    _event_file(tmp_path / "logs" / "events.out.tfevents.1.host",
                [(0, "epoch_loss", _tensor(0.5)), (0, "bomb", _tensor(1.0, shape=(2**28,))), (1, "epoch_loss", _tensor(0.25))])
    tracemalloc.start()
    try:
        scalars = evidence.read_events(tmp_path, "logs").scalars
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()
    assert scalars == {"epoch_loss": [(0, 0.5), (1, 0.25)]}


@pytest.mark.slow
def test_read_events_bounds_floods(tmp_path):
    _event_file(tmp_path / "many" / "events.out.tfevents.1.host",
                [(step, "epoch_loss", _tensor(1.0)) for step in range(evidence.MAX_SCALARS + 1)])
    with pytest.raises(evidence.BadEvidence, match="more than"):
        evidence.read_events(tmp_path, "many").scalars
    for number in range(evidence.MAX_EVENT_FILES + 1):
        write(tmp_path / "files" / f"events.out.tfevents.{number}.host", b"")
    with pytest.raises(evidence.BadEvidence, match="event files"):
        evidence.read_events(tmp_path, "files").scalars


@pytest.mark.slow
def test_read_events_refuses_corrupt_and_linked_files(tmp_path):
    write(tmp_path / "corrupt" / "events.out.tfevents.1.host", b"\xff" * 100)
    assert evidence.read_events(tmp_path, "corrupt").scalars == {}  # TensorBoard's reader skips what it cannot parse
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(evidence.BadEvidence, match="symbolic link"):
        evidence.read_events(tmp_path, "linked").scalars
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "events.out.tfevents.1.host")
    with pytest.raises(evidence.BadEvidence, match="not a regular file"):
        evidence.read_events(tmp_path, "fifo").scalars
