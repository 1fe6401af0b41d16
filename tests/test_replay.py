"""Replaying logs through a real EarlyStopping: Keras's rule, with no training."""

import pytest

from autograder.replay import epochs_run
from course import exercise

SETTINGS = {"monitor": "val_loss", "min_delta": 0, "patience": 5, "mode": "auto", "baseline": None, "start_from_epoch": 0}


def replayed(settings, logs):
    """Epochs a fit of 200 epochs of the exercise's model lasts with these EarlyStopping settings and logs."""
    return epochs_run(settings, logs, 200, exercise.setup["build_model"]())


def logs(val_loss):
    return {"loss": [1.0 / (epoch + 1) for epoch in range(len(val_loss))], "val_loss": val_loss}


def curve(best_epoch, epochs=200):
    """Falls to its minimum at `best_epoch` (0-based), then rises."""
    return [abs(epoch - best_epoch) + 0.1 for epoch in range(epochs)]


def test_stops_patience_epochs_after_the_best():
    """With the minimum at epoch index 8 and patience 5, does training last 14 epochs?"""
    assert replayed(SETTINGS, logs(curve(8))) == 14


def test_patience_zero_acts_like_one():
    """Does patience=0 stop one epoch after the best, never at epoch 0 (Keras 3)?"""
    assert replayed({**SETTINGS, "patience": 0}, logs(curve(8))) == 10
    assert replayed({**SETTINGS, "patience": 0}, logs(curve(0))) == 2


def test_watching_the_falling_training_loss_never_stops():
    """Does monitor="loss" on a training loss that keeps falling run all 200 epochs?"""
    assert replayed({**SETTINGS, "monitor": "loss"}, logs(curve(8))) == 200


def test_min_delta_needs_a_bigger_improvement():
    """Does a min_delta larger than the last improvements stop earlier than the true minimum?"""
    slow_fall = [1.0 - 0.001 * epoch for epoch in range(30)] + [2.0] * 170
    assert replayed({**SETTINGS, "min_delta": 0.01}, logs(slow_fall)) == 6


def test_invalid_settings_are_refused():
    """Are settings of the wrong type refused with a message naming them?"""
    with pytest.raises(ValueError, match="patience"):
        replayed({**SETTINGS, "patience": "5"}, logs(curve(8)))
    with pytest.raises(ValueError, match="patience"):
        replayed({**SETTINGS, "patience": True}, logs(curve(8)))
