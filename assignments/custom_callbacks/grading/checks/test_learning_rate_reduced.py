"""learning_rate_reduced: the learning rate of every epoch is what reduce_lr (factor={factor}, patience={lr_patience}) sets on this run's val_loss."""

import pytest

from autograder.assignment import of
from autograder.replay import same_rate

EXERCISE = of(__file__)  # the assignment these checks belong to
FACTOR, PATIENCE = EXERCISE.settings["factor"], EXERCISE.settings["lr_patience"]
# The rule step 2 asks for, as a real ReduceLROnPlateau takes it.
ASKED = {"monitor": "val_loss", "mode": "auto", "factor": FACTOR, "patience": PATIENCE,
         "min_delta": abs(EXERCISE.settings["min_delta"]), "cooldown": 0, "min_lr": 0.0}


def _schedule(rates):
    return ", ".join(f"{rate:.6g} from epoch {epoch + 1}" for epoch, rate in enumerate(rates)
                     if epoch == 0 or rate != rates[epoch - 1])


def test_history_comes_from_this_exercise(exercise_val_losses):
    pass  # the fixture fails, saying at which epoch, when history is not this exercise's training


def test_starts_at_build_models_rate(learning_rates, first_learning_rate):
    assert abs(learning_rates[0] - first_learning_rate) <= 1e-6 * first_learning_rate, (
        f"The first epoch must train at build_model()'s learning rate {first_learning_rate:g}, not {learning_rates[0]:.6g}: "
        "train a fresh model = build_model() in step 5."
    )


def test_rates_follow_reduce_lrs_rule(learning_rates, exercise_val_losses, replayed_rates, reduce_lr):
    expected = replayed_rates(ASKED)
    if all(map(same_rate, learning_rates, expected)):
        return
    said = (f"history's learning rates ({_schedule(learning_rates)}) are not what ReduceLROnPlateau with factor={FACTOR} "
            f"and patience={PATIENCE} sets on this run's val_loss ({_schedule(expected)})")
    settings = reduce_lr["settings"]
    try:
        own = replayed_rates({**settings, "min_delta": abs(settings.get("min_delta") or 0)})
    except (ValueError, TypeError):
        own = None
    if own is not None and all(map(same_rate, learning_rates, own)):
        pytest.fail(f"{said}: they are what reduce_lr, as configured, sets. Give it monitor=\"val_loss\", factor={FACTOR}, "
                    f"patience={PATIENCE} and the defaults otherwise, as step 2 says.")
    pytest.fail(f"{said}, nor what reduce_lr as configured sets: something else changed the learning rate. Let reduce_lr "
                "alone change it, and keep history as model.fit returned it.")


def test_the_rate_went_down(learning_rates):
    assert min(learning_rates) < learning_rates[0], (
        f"The learning rate never went down in the {len(learning_rates)} epochs that ran: reduce_lr lowers it only after "
        f"{PATIENCE} epochs without a new lowest val_loss. Check its monitor, factor and patience; if training stopped very "
        "early, fix val_accuracy_target (step 1) first."
    )


def test_reduce_lr_was_passed_to_the_fit(passed_to_fit):
    passed_to_fit("reduce_lr")
