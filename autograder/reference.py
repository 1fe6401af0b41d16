"""Record the reference run of an assignment: `python -m autograder reference [NAME]`.

Two runs, both deterministic:
- the solution notebook, executed as the grader executes submissions: its settings (epoch
  limit, patience, checkpoint file, log folder) are what the checks hold every run to, and its
  best-weights file gives the reference validation loss;
- the canonical training: `build_model()` fitted for the solution's epoch limit with no callback but
  those that change training (the declaration's "canonical_callbacks", ReduceLROnPlateau say). Its
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

from . import evidence, intake, measure
from .assignment import Assignment
from .run import NOTEBOOK, run_notebook
from .source import cells_of
from .verify import Context


def canonical_callbacks(assignment: Assignment, settings: dict) -> list:
    """The callbacks that change how every honest run trains (the declaration's "canonical_callbacks"),
    built from the real Keras classes with the solution's settings: `"{factor}"` is the setting `factor`.

    Why: a callback such as ReduceLROnPlateau changes the weights of later epochs, so the canonical
    training must run it for its logs to be what an honest run produces after the first reduction.
    Callbacks that only stop training or write files need not be here: they truncate the logs, not change them.
    """
    import keras

    def value(given):
        if isinstance(given, str) and given.startswith("{") and given.endswith("}"):
            return settings[given[1:-1]]
        return given

    return [getattr(keras.callbacks, declared["class"])(**{name: value(given) for name, given in declared["arguments"].items()})
            for declared in assignment.declaration.get("canonical_callbacks", [])]


def canonical_logs(assignment: Assignment, epochs: int, settings: dict | None = None) -> dict:
    setup = assignment.setup
    model = setup["build_model"]()
    history = model.fit(setup["x_train"], setup["y_train"], validation_data=(setup["x_val"], setup["y_val"]),
                        epochs=epochs, verbose=0, callbacks=canonical_callbacks(assignment, settings or {}))
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def solution_run(assignment: Assignment) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "work"
        shutil.copytree(assignment.release_dir, work, ignore=shutil.ignore_patterns("*.ipynb"))
        notebook = intake.clean(intake.read_notebook(assignment.source_notebook), assignment)
        (work / NOTEBOOK).write_text(json.dumps(notebook))
        run = run_notebook(work, sandbox=False)  # the instructor's own notebook
        snapshot = evidence.load_snapshot(work, evidence.FINAL, assignment.variables)
        kinds = {name: variable["export"] for name, variable in assignment.variables.items()}
        history = next((snapshot.get(name) for name, kind in kinds.items() if kind == "history"), None)
        errors = Context(assignment, work, sources=cells_of(notebook)).step_errors(None)
        if run.problem or errors or history is None:
            raise RuntimeError(f"The solution notebook did not run cleanly: {run.problem or ' '.join(errors) or snapshot.problems}")
        val_loss = history["history"]["val_loss"]
        settings = assignment.solution_settings(snapshot)
        return {
            "settings": settings,
            "epochs_run": len(val_loss),
            "best_epoch": val_loss.index(min(val_loss)) + 1,  # 1-based, as Keras prints it
            "min_val_loss": min(val_loss),
            "val_loss": val_loss,
            # The grader's own measurement of the best-weights file, where the solution saves one.
            "checkpoint_val_loss": (measure.val_loss_of(assignment, work, settings["checkpoint"])
                                    if "checkpoint" in settings else None),
            # The values the solution computed (plain numbers, as the kernel exported them).
            **{name: (snapshot.get(name) or {}).get("value") for name, kind in kinds.items() if kind == "value"},
        }


def record(assignment: Assignment, path: Path | None = None) -> dict:
    """Run the solution and the canonical training of `assignment`; write them to `path` (default: its reference.json)."""
    import keras
    import tensorflow as tf

    solution = solution_run(assignment)
    canonical = canonical_logs(assignment, solution["settings"]["epochs"], solution["settings"])
    if not all(map(assignment.same_loss, solution["val_loss"], canonical["val_loss"])):
        raise RuntimeError("The solution's val_loss curve differs from the canonical training: is training deterministic?")
    reference = {
        "command": "python -m autograder reference",
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
        "tolerance": {"rel": assignment.tolerance[0], "abs": assignment.tolerance[1]},
        "solution": solution,
        "canonical": canonical,
    }
    path = Path(path or assignment.reference_file)
    path.write_text(json.dumps(reference, indent=1) + "\n")
    return reference
