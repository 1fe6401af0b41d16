"""Fixtures of the hidden suite: the student's variables by name, and what the grader measured.

Each test module `test_<check>.py` is one graded check. Its tests receive the student's
variables as exported at that check's test cell (or, if the cell is gone, after the last
cell), already parsed as untrusted data by `autograder.evidence`. A missing variable fails
the test with a message that says what to define. The `context` (the work folder, when
the run started, what went wrong with the run) is handed over by `autograder.verify`; the
fixtures every assignment's suite shares come from `autograder.checking`.
"""

import os
import re

import pytest

from autograder import evidence, measure
from autograder.assignment import of
from autograder.checking import check_name, how_to_fit, what_to_define
# The fixtures every hidden suite shares (pytest finds them among this module's names).
from autograder.checking import context, not_passed, passed_to_fit, reading, reference, trained_model_val_loss  # noqa: F401
from autograder.intake import cell_text
from autograder.messages import Code, fail

exercise = of(__file__)  # the assignment these checks belong to
CHECKPOINT, EPOCHS = exercise.settings["checkpoint"], exercise.settings["epochs"]

# What to tell a student who has no such variable, from the assignment's declaration.
WHAT_TO_DEFINE = what_to_define(exercise)


# The step of the exercise whose test cell each check reads, in the notebook's words.
STEP = exercise.steps


def at_test_cell(check) -> str:
    return f"at step {STEP[check]}'s test cell" if check in STEP else "when this check runs"


@pytest.fixture(scope="module")
def snapshot(request, context):
    check = check_name(request.module)
    taken = evidence.load_snapshot(context.work, check, exercise.variables)
    if taken.name == check:
        return taken
    own = os.path.lexists(context.work / evidence.SNAPSHOTS / check / "evidence.json")
    if own:
        # The test cell ran, but what it exported cannot be read (a full disk, say).
        pytest.fail(f"What your variables held {at_test_cell(check)} could not be read: {taken.problems[0]}"
                    f"{_stopped_while(context, check)}")
    if context.stop:
        # The run was stopped before this check's test cell: that, not the student's code, is the cause.
        pytest.fail(f"The run was stopped before step {STEP.get(check, '?')}'s test cell{_stopped_while(context, check)}")
    if not taken.variables and not any(os.path.lexists(context.work / evidence.SNAPSHOTS / name / "evidence.json")
                                       for name in (*exercise.checks, evidence.FINAL)):
        pytest.fail(_nothing_ran(context))
    return taken


def _stopped_while(context, check) -> str:
    """Where and why the run stopped, from the last test cell it passed and the run's own report."""
    if not context.stop:
        return "."
    running = context.running_when_stopped()
    where = f", while {context.place(running)} was running" if running else ""
    if context.time_limit is not None:
        fits = running and ".fit(" in _source(context, running)
        what = (f"that fit never returned, so nothing after it ran. Pass early_stopping in fit's callbacks=[...] "
                f"(and keep epochs={EPOCHS}) so that EarlyStopping ends training." if fits
                else "code in that cell never ended, so nothing after it ran." if running else "nothing after that ran.")
        return f": it was stopped at the {context.time_limit:.0f} s time limit{where}: {what} {context.stop}"
    return f"{where}: {context.stop}{''.join(f' {e}' for e in context.step_errors(check))}"


def _source(context, cell) -> str:
    return cell_text(context.sources[cell - 1][1])


def _nothing_ran(context) -> str:
    """No test cell exported anything, although the run finished: something in the notebook stopped them."""
    try:
        from autograder import source

        hooks = [(place, what) for place, what in source.read(context.sources, exercise).suspicious
                 if "IPython" in what] if context.sources else []
    except Exception:
        hooks = []
    cause = (f": the code at {hooks[0][0]} {hooks[0][1]}, and that stops them. Remove that code" if hooks
             else ": keep the test cells as the notebook has them, and do not change how IPython runs cells")
    return (f"None of the test cells ran, although the notebook ran to the end{cause}; "
            "without the test cells nothing can be checked.")


def _variable(name, snapshot, context):
    value = snapshot.get(name)
    if value is None:
        check = snapshot.name if snapshot.name in STEP else None
        where = at_test_cell(check) if check else "after the last cell"
        later = _assigned_after(context, name, context.test_cell(check)) if check and context.sources else None
        if not snapshot.variables and check:
            tip = ((f" Nothing is defined yet there: it is created later, in {context.place(later)}. Keep each "
                    "test cell right after its answer cell." if later else
                    f" Nothing is defined yet there: keep that test cell after step {STEP[check]}'s answer.")
                   if not context.step_cells(check) and context.sources else "")
        else:
            tip = _renamed(context, name, check)
            if name == "early_stopping" and check in ("stopped_early", "reload_val_loss"):
                where += " (this check needs it to know whether EarlyStopping restored the best weights)"
        pytest.fail(f"`{name}` is not defined {where}: {WHAT_TO_DEFINE[name]}.{tip}{context.why(snapshot, check)}")
    if "error" in value and value.get("type") == "unreadable":
        pytest.fail(f"`{name}` could not be read: {value['error']}")
    return value


CLASSES = {name: variable["class"] for name, variable in exercise.variables.items() if "class" in variable}


def _assigned_after(context, name, cell):
    """The first code cell after `cell` that assigns `name` at the start of a line (None: none, or not known)."""
    if cell is None:
        return None
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*(?::[^=]*)?=(?!=)", re.MULTILINE)
    return next((number for number, source in context.code_cells() if number > cell and pattern.search(source)), None)


def _renamed(context, name, check) -> str:
    """" The EarlyStopping is assigned to `es` in the code cell under “...”." when a cell before `check`'s test
    cell does so under another name."""
    if name not in CLASSES or not context.sources:
        return ""
    pattern = re.compile(rf"^\s*([A-Za-z_]\w*)\s*=\s*(?:[\w.]+\.)?{CLASSES[name]}\(", re.MULTILINE)
    at = context.test_cell(check) if check else None
    for number, source in context.code_cells():
        if at is not None and number > at:
            break
        found = [variable for variable in pattern.findall(source) if variable != name]
        if found:
            return f" The {CLASSES[name]} is assigned to `{found[0]}` in {context.place(number)}: name it `{name}`."
    return ""


@pytest.fixture
def early_stopping(snapshot, context):
    return _variable("early_stopping", snapshot, context)


@pytest.fixture
def model_checkpoint(snapshot, context):
    return _variable("model_checkpoint", snapshot, context)


@pytest.fixture
def tensorboard_callback(snapshot, context):
    return _variable("tensorboard_callback", snapshot, context)


@pytest.fixture
def history(snapshot, context):
    return _variable("history", snapshot, context)


@pytest.fixture
def best_val_loss(snapshot, context):
    return _variable("best_val_loss", snapshot, context)


@pytest.fixture
def val_losses(history):
    """The run's per-epoch validation losses, as numbers, from `history`."""
    values = history.get("history", {}).get("val_loss")
    if not values:
        pytest.fail(
            "history.history has no 'val_loss': fit with validation_data=(x_val, y_val) "
            "so that Keras measures the validation loss after every epoch."
        )
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        pytest.fail("history.history['val_loss'] must hold one finite number per epoch.")
    return [float(v) for v in values]


FIT = how_to_fit(exercise)


@pytest.fixture
def exercise_val_losses(val_losses, reference, reading, snapshot):
    """The run's validation losses, once they are shown to be this exercise's training.

    Only then can they be compared with what the grader measures on its own validation
    data: a run on other data (validation_split, say) is not a forgery, just another run.
    """
    for epoch, (got, want) in enumerate(zip(val_losses, reference["canonical"]["val_loss"]), start=1):
        if not exercise.same_loss(got, want):
            said = f"history's val_loss at epoch {epoch} is {got:.4f}, which this exercise's training does not produce"
            fail(f"{said}: {_fit_differs(reading, snapshot) or FIT + '.'}", Code.FOREIGN_HISTORY)
    return val_losses


def _fit_differs(reading, snapshot) -> str:
    """What the code of history's fit does differently from step 4, and the fix ("" when the code does not show it)."""
    if reading is None:
        return ""
    try:
        place, changes = reading.fit_changes(snapshot.name)
    except Exception:  # the reader's own bug: fall back to the general advice
        return ""
    if not changes:
        return ""
    uses = " and ".join(f"{change.written} instead of {change.instead}" for change in changes)
    why = "".join(f", {change.why}" for change in changes if change.why)
    fix = " and ".join(dict.fromkeys(change.instead for change in changes))
    return f"the fit that returned history ({place}) uses {uses}{why}. Fit with {fix}, as step 4 says."


def _checkpoint_missing_because(snapshot, reading) -> str:
    """Why checkpoints/best_model.weights.h5 was never written, from model_checkpoint and the code ("" if unknown)."""
    from autograder.evidence import relative_to_run

    filepath = ((snapshot.get("model_checkpoint") or {}).get("settings") or {}).get("filepath")
    if isinstance(filepath, str):
        try:
            where = relative_to_run(filepath, snapshot.cwd).as_posix()
        except evidence.BadEvidence:
            where = None
        if where != exercise.settings["checkpoint"]:
            return f'model_checkpoint saves to "{filepath[:200]}" (see the model_checkpoint check), not to {CHECKPOINT}'
    if reading is not None and reading.callback(snapshot.name, "model_checkpoint").passed is False:
        return "model_checkpoint was not passed to the fit that returned history, so nothing wrote it"
    return ""


@pytest.fixture(scope="module")
def checkpoint_missing_because(snapshot, reading):
    return _checkpoint_missing_because(snapshot, reading)


def _mentions_a_weights_file(name, value):
    return ".weights.h5" in value  # an error about loading the file: the message says why the file is not there


@pytest.fixture(scope="module")
def checkpoint_val_loss(request, snapshot, context, reading):
    """Validation loss of checkpoints/best_model.weights.h5, measured by the grader."""
    check = check_name(request.module)
    try:
        return measure.val_loss_of(exercise, context.work, exercise.settings["checkpoint"], context.not_kept)
    except evidence.BadEvidence as error:
        if check != "reload_val_loss":
            pytest.fail(f"{CHECKPOINT} does not load into build_model(): {error}{context.why(snapshot, check)}")
        because = _checkpoint_missing_because(snapshot, reading) if "does not exist" in str(error) else ""
        if because.startswith("model_checkpoint saves to"):
            said = f"step 5 needs {CHECKPOINT}, but {because}."
        elif because:
            said = f"{CHECKPOINT} was never written, because {because} (see the best_weights_file check)."
        else:
            said = f"{error} (See the best_weights_file check.)"
        pytest.fail(f"No usable best-weights file to reload: {said}{context.why(snapshot, check, _mentions_a_weights_file)}")


@pytest.fixture
def other_models_val_losses(snapshot, context):
    """{variable: validation loss measured by the grader, or why it could not be} for each
    Keras model the notebook keeps in a variable, the trained one excepted."""
    losses = {}
    for variable, weights in snapshot.models.items():
        if weights is None:
            losses[variable] = "its weights could not be saved"
            continue
        try:
            losses[variable] = measure.val_loss_of(exercise, context.work, weights)
        except evidence.BadEvidence as error:
            losses[variable] = str(error)
    return losses


@pytest.fixture
def final_epoch_val_loss(exercise_val_losses, early_stopping):
    """The validation loss the trained model has when fit returns.

    That of the last epoch, or of the best one when early_stopping restores the best
    weights (Keras 3 restores them whenever a best exists, even without stopping early).
    """
    restored = early_stopping["settings"].get("restore_best_weights") is True
    return min(exercise_val_losses) if restored else exercise_val_losses[-1]


@pytest.fixture
def attached_to_trained_model(snapshot, not_passed, reading):
    """`attached_to_trained_model(name)` fails when the exported callback says it is not attached to
    history.model (a callback that is not defined is the configuration checks' business, not this one's).

    Why (measured, Keras 3.15): fit sets each of its callbacks' model to the model it trains, and
    after fit they keep it, so a callback used in history's fit has `.model is history.model`; a
    callback given to another fit (or to none) does not. The kernel's word is not proof (set_model
    can be called by hand), but an honest run always says True.
    """
    def check(name):
        if not_passed(name):
            return  # the code itself does not pass it: passed_to_fit says so, with its cell and line
        if (snapshot.get(name) or {}).get("used_in_fit") is False:
            if reading is not None and reading.callback(snapshot.name, name).passed is True:
                pytest.fail(f"`{name}` is not attached to the model that history trained: the code passes it to fit, but in "
                            "this run the fit that returned history did not run with it. history must be what "
                            "model.fit(..., callbacks=[...]) returned.")
            pytest.fail(f"`{name}` is not attached to the model that history trained (fit attaches its callbacks to the model "
                        f"it trains): pass {name} to the fit call that returned history, in step 4.")

    return check

