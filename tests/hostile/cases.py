"""The hostile and broken submissions of tests/test_hostile.py: what each does, how it is built,
and the score, status and messages its real work earns (cell sources: tests/hostile/cells.py)."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder.sandbox import Limits
from course import exercise
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
         "The solution with 900 nested objects in its metadata: json parses it on every Python, nbformat on 3.12 and 3.13 only; intake's own bound refuses it on all.",
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
