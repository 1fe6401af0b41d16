"""Record the reference run of the exercise: `python -m autograder reference`.

Two runs, both deterministic:
- the solution notebook, executed as the grader executes submissions: its settings (epoch
  limit, patience, checkpoint file, log folder) are what the checks hold every run to, and its
  best-weights file gives the reference validation loss;
- the canonical training: `build_model()` fitted for the solution's epoch limit with no callback. Its
  per-epoch logs are what any honest run produces, epoch by epoch, so the checks compare a
  student's history with them and replay a student's EarlyStopping settings over them;
- the solution notebook, executed as the grader executes submissions, whose best-weights
  file gives the reference validation loss.
Re-run it after changing the setup cell or the solution, then commit reference.json.
"""

import json
import shutil
import tempfile
from pathlib import Path

from . import evidence, exercise, intake, measure
from .run import NOTEBOOK, run_notebook
from .source import cells_of
from .verify import Context


def canonical_logs(epochs: int) -> dict:
    setup = exercise.setup()
    model = setup["build_model"]()
    history = model.fit(setup["x_train"], setup["y_train"], validation_data=(setup["x_val"], setup["y_val"]),
                        epochs=epochs, verbose=0)
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def solution_run() -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "work"
        shutil.copytree(exercise.RELEASE_NOTEBOOK.parent, work, ignore=shutil.ignore_patterns("*.ipynb"))
        notebook = intake.clean(intake.read_notebook(exercise.SOURCE_NOTEBOOK))
        (work / NOTEBOOK).write_text(json.dumps(notebook))
        run = run_notebook(work, sandbox=False)  # the instructor's own notebook
        snapshot = evidence.load_snapshot(work, evidence.FINAL)
        errors = Context(work, sources=cells_of(notebook)).step_errors(None)
        if run.problem or errors or snapshot.get("history") is None:
            raise RuntimeError(f"The solution notebook did not run cleanly: {run.problem or ' '.join(errors) or snapshot.problems}")
        val_loss = snapshot.get("history")["history"]["val_loss"]
        settings = exercise.solution_settings(snapshot)
        return {
            "settings": settings,
            "epochs_run": len(val_loss),
            "best_epoch": val_loss.index(min(val_loss)) + 1,  # 1-based, as Keras prints it
            "min_val_loss": min(val_loss),
            "val_loss": val_loss,
            "checkpoint_val_loss": measure.val_loss_of(work, settings["checkpoint"]),
            "best_val_loss": snapshot.get("best_val_loss")["value"],
        }


def record(path: Path = exercise.REFERENCE_FILE) -> dict:
    import keras
    import tensorflow as tf

    solution = solution_run()
    canonical = canonical_logs(solution["settings"]["epochs"])
    if not all(map(exercise.same_loss, solution["val_loss"], canonical["val_loss"])):
        raise RuntimeError("The solution's val_loss curve differs from the canonical training: is training deterministic?")
    reference = {
        "command": "python -m autograder reference",
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
        "tolerance": {"rel": exercise.REL_TOL, "abs": exercise.ABS_TOL},
        "solution": solution,
        "canonical": canonical,
    }
    path.write_text(json.dumps(reference, indent=1) + "\n")
    return reference
