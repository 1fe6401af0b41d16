"""The recorded reference run is what the exercise really produces, today, on this machine."""

import pytest

from course import exercise
from autograder.reference import record

pytestmark = pytest.mark.slow


def test_recorded_reference_matches_a_fresh_recomputation(tmp_path):
    """Does `python -m autograder reference` reproduce the recorded reference.json (within the stated tolerance)?"""
    fresh = record(exercise, tmp_path / "reference.json")
    recorded = exercise.reference
    assert fresh["solution"]["settings"] == recorded["solution"]["settings"] == {
        "epochs": 200, "patience": 5, "checkpoint": "checkpoints/best_model.weights.h5", "log_root": "logs/fit",
        "batches_per_epoch": 10}
    assert fresh["solution"]["epochs_run"] == recorded["solution"]["epochs_run"] == 14
    assert fresh["solution"]["best_epoch"] == recorded["solution"]["best_epoch"] == 9
    for key in ("min_val_loss", "checkpoint_val_loss", "best_val_loss"):
        assert exercise.same_loss(fresh["solution"][key], recorded["solution"][key]), key
    for key, values in recorded["canonical"].items():
        assert len(fresh["canonical"][key]) == len(values) == exercise.settings["epochs"]
        assert all(map(exercise.same_loss, fresh["canonical"][key], values)), key


def test_early_stopping_fires_because_validation_loss_really_rises():
    """Does the canonical run overfit: val_loss rises after its minimum, and EarlyStopping fires long before 200?"""
    reference = exercise.reference
    val_loss = reference["canonical"]["val_loss"]
    best = val_loss.index(min(val_loss))
    assert best + exercise.settings["patience"] + 1 == reference["solution"]["epochs_run"] < 50
    assert all(later > val_loss[best] for later in val_loss[best + 1:best + 1 + exercise.settings["patience"]])
    # The tolerance separates the best epoch from every other one by a wide margin.
    runner_up = min(v for i, v in enumerate(val_loss) if i != best)
    assert runner_up - val_loss[best] > 10 * max(exercise.tolerance[1], exercise.tolerance[0] * val_loss[best])
