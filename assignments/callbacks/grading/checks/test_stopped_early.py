"""stopped_early: EarlyStopping ended this training where Keras's rule says, before the {epochs}-epoch limit."""

import pytest

from autograder import replay
from autograder.assignment import of
from autograder.messages import Code, fail

EXERCISE = of(__file__)  # the assignment these checks belong to
BATCHES_PER_EPOCH = EXERCISE.settings["batches_per_epoch"]
EPOCHS = EXERCISE.settings["epochs"]
PATIENCE = EXERCISE.settings["patience"]
same_loss = EXERCISE.same_loss


def test_fit_allows_the_epoch_limit(history):
    epochs = history.get("params", {}).get("epochs")
    ran = len(history.get("epoch") or [])
    if epochs != EPOCHS and isinstance(epochs, int) and 0 < ran < epochs:
        pytest.fail(f"Call fit with epochs={EPOCHS}, as step 4 says; history says epochs={epochs!r}. EarlyStopping did stop "
                    f"this training (after {ran} epochs), so only the epoch limit needs changing.")
    assert epochs == EPOCHS, f"Call fit with epochs={EPOCHS}, so that EarlyStopping, not the epoch count, ends training; history says epochs={epochs!r}."


def test_training_stopped_before_the_limit(val_losses, not_passed, snapshot, reference):
    if len(val_losses) < EPOCHS:
        return
    if not_passed("early_stopping"):
        pytest.fail(f"Training ran all {len(val_losses)} epochs: early_stopping was not passed to the fit that returned "
                    "history, so nothing stopped it. Pass early_stopping in fit's callbacks=[...].")
    settings = (snapshot.get("early_stopping") or {}).get("settings") or {}
    if _replayed(settings, reference) == len(val_losses):
        monitor = settings.get("monitor")
        how = (f"it watches {monitor!r}, which keeps falling, so it never stopped this training. Watch "
               f'monitor="val_loss", as step 1 says' if monitor == "loss"
               else "as configured, it never stops this training. Configure it as step 1 says")
        pytest.fail(f"Training ran all {len(val_losses)} epochs: early_stopping is in fit's callbacks, but {how} "
                    "(see the early_stopping check).")
    pytest.fail(f"Training ran all {len(val_losses)} epochs: EarlyStopping never stopped it. Pass early_stopping in fit's callbacks=[...].")


def _replayed(settings, reference):
    """After how many epochs `settings`, run through Keras's EarlyStopping, stop this training (None: invalid)."""
    try:
        return replay.epochs_run(settings, reference["canonical"], EPOCHS, EXERCISE.setup["build_model"]())
    except (ValueError, TypeError, KeyError):
        return None


def test_stopped_where_the_rule_says(val_losses, not_passed, snapshot, reference):
    if len(val_losses) >= EPOCHS or not_passed("early_stopping"):
        return  # said by the tests above and below
    best = val_losses.index(min(val_losses))
    expected = best + PATIENCE + 1
    if len(val_losses) == expected:
        return
    settings = (snapshot.get("early_stopping") or {}).get("settings") or {}
    patience = settings.get("patience")
    if patience != PATIENCE and isinstance(patience, int) and _replayed(settings, reference) == len(val_losses):
        pytest.fail(f"Training ran {len(val_losses)} epochs: early_stopping, with patience={patience}, stopped it "
                    f"{len(val_losses) - best - 1} epochs after the lowest val_loss (epoch {best + 1}). With patience={PATIENCE}, "
                    f"as step 1 says, it must stop it after epoch {expected}.")
    pytest.fail(f"Training ran {len(val_losses)} epochs, but the lowest val_loss came at epoch {best + 1}, so EarlyStopping "
                f"with patience={PATIENCE} must stop it after epoch {expected}: {PATIENCE} epochs without improvement.")


def test_history_comes_from_this_exercise(exercise_val_losses):
    pass  # the fixture fails, saying at which epoch, when history is not this exercise's training


def test_early_stopping_did_the_stopping(early_stopping, val_losses, reference, not_passed, reading, snapshot):
    if not_passed("early_stopping"):
        return  # the code does not pass it: early_stopping_was_passed_to_the_fit says so
    try:
        stops_after = replay.epochs_run(early_stopping["settings"], reference["canonical"], EPOCHS, EXERCISE.setup["build_model"]())
    except ValueError as error:
        pytest.fail(f"early_stopping is not a valid EarlyStopping: {error}")
    if len(val_losses) == stops_after:
        return
    passed = early_stopping.get("used_in_fit") is True or (
        reading is not None and reading.callback(snapshot.name, "early_stopping").passed is True)
    if passed:
        # It was in the fit, yet the run did not end where its own rule says: something changed the rule.
        patience = early_stopping["settings"].get("patience")
        rule = f"with patience={patience}" if isinstance(patience, int) and not isinstance(patience, bool) else "as configured"
        patched = [(place, what) for place, what in (reading.suspicious if reading is not None else [])
                   if what.startswith(("replaces", "changes an attribute"))]
        where = f" The code at {patched[0][0]} {patched[0][1]}." if patched else ""
        pytest.fail(f"early_stopping is passed to fit, and {rule} Keras's EarlyStopping stops this training after "
                    f"{stops_after} epochs, yet history stopped after {len(val_losses)}: something other than EarlyStopping's "
                    f"rule ended training.{where} Use EarlyStopping as it is, with patience={PATIENCE}.")
    pytest.fail(f"history has {len(val_losses)} epochs, but early_stopping, as configured, stops this training after "
                f"{stops_after}: pass early_stopping to the fit call that returned history.")


def test_trained_model_matches_history(trained_model_val_loss, final_epoch_val_loss, history):
    if same_loss(trained_model_val_loss, final_epoch_val_loss):
        return
    said = f"The trained model (history.model) gives val_loss {trained_model_val_loss:.4f}, but history says training ended at {final_epoch_val_loss:.4f}"
    steps = history.get("optimizer_iterations")
    if steps == 0:
        fail(f"{said}: history.model was never trained (its optimizer took 0 steps), so history is not what "
             "model.fit(...) returned. history must come from training this model.", Code.MODEL_NOT_FROM_HISTORY)
    epochs = len(history.get("epoch") or [])
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 and steps % BATCHES_PER_EPOCH == 0 \
            and epochs and steps // BATCHES_PER_EPOCH != epochs:
        fail(f"{said}: history holds {epochs} epochs, but history.model trained {steps // BATCHES_PER_EPOCH} (its "
             f"optimizer took {steps} steps), so history was changed after fit. history must come from training "
             "this model: keep it as model.fit returned it.", Code.MODEL_NOT_FROM_HISTORY)
    fail(f"{said}: history must come from training this model, with nothing trained or loaded into it afterwards.",
         Code.MODEL_NOT_FROM_HISTORY)


def test_early_stopping_was_passed_to_the_fit(passed_to_fit):
    # The files and numbers above can be produced without early_stopping; the code shows whether
    # the fit that returned history received it.
    passed_to_fit("early_stopping")


def test_early_stopping_is_attached_to_the_trained_model(attached_to_trained_model):
    attached_to_trained_model("early_stopping")


def test_the_model_trained_every_epoch_once(history, exercise_val_losses):
    # Measured on an honest run: the optimizer's step count is 14 epochs x 10 batches = 140. A model
    # trained by more than this fit, or a History written by hand around an untrained model, differs.
    steps = history.get("optimizer_iterations")
    if steps is None:
        return  # not exported (a History without a model fails trained_model_matches_history)
    expected = len(exercise_val_losses) * BATCHES_PER_EPOCH
    assert steps == expected, (
        f"The trained model's optimizer took {steps} training steps, but {len(exercise_val_losses)} epochs of "
        f"{BATCHES_PER_EPOCH} batches (300 images, batch size 32) take {expected}: history must come from one fit "
        "of a fresh model = build_model(), as step 4 says."
    )


def test_early_stopping_state_is_this_training(early_stopping, val_losses, history, not_passed):
    # Measured (Keras 3.15): the fit that early_stopping stopped leaves in it stopped_epoch, the
    # 0-based epoch at which it stopped (the last of history), and best, the lowest val_loss it
    # saw. A callback that never took part in this fit still holds 0 and None (or another fit's values).
    settings = early_stopping["settings"]
    limit = history.get("params", {}).get("epochs")
    if not_passed("early_stopping"):
        return  # the code does not pass it: early_stopping_was_passed_to_the_fit says so
    if not isinstance(limit, int) or len(val_losses) >= limit or settings.get("monitor") != "val_loss":
        return  # it did not stop this run (said above), or it watched something else (the early_stopping check)
    stopped, best = settings.get("stopped_epoch"), settings.get("best")
    if isinstance(best, bool) or not isinstance(best, (int, float)):
        best = None
    if stopped == len(val_losses) - 1 and best is not None and any(same_loss(best, v) for v in val_losses):
        return
    said = f"it stopped a training at epoch {stopped + 1}" if isinstance(stopped, int) and stopped > 0 else "it never stopped a training"
    said += f" and saw a best val_loss of {best:.4f}" if best is not None else " and saw no val_loss"
    pytest.fail(f"early_stopping's state does not come from this training: {said}, while history stopped after epoch "
                f"{len(val_losses)}: pass early_stopping to the fit call that returned history, in step 4.")
