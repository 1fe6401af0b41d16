"""The hidden suite on hand-made runs: configuration checks, and what a missing variable says.

No training here: the student's variables are real Keras callbacks, exported by the same
code that runs in a student's kernel (autograder.export), into a folder of our making.
"""

import json

import pytest
from keras.callbacks import EarlyStopping, ModelCheckpoint, TensorBoard

from autograder import export
from course import exercise
from autograder.evidence import SNAPSHOTS
from autograder.verify import Context, verify

CONFIG_CHECKS = ["early_stopping", "model_checkpoint", "tensorboard_callback"]


def run_with(tmp_path, **variables):
    """A work folder whose final snapshot holds `variables`."""
    export.snapshot(variables, "final", exercise.exports, folder=str(tmp_path / SNAPSHOTS))
    evidence_file = tmp_path / SNAPSHOTS / "final" / "evidence.json"
    evidence = json.loads(evidence_file.read_text())
    evidence["cwd"] = str(tmp_path)
    evidence_file.write_text(json.dumps(evidence))
    return Context(exercise, tmp_path, run_started_at=0.0)


def outcome(results):
    return {result.name: result.status for result in results}


def good_callbacks():
    return {
        "early_stopping": EarlyStopping(monitor="val_loss", patience=5),
        "model_checkpoint": ModelCheckpoint("checkpoints/best_model.weights.h5", save_best_only=True, save_weights_only=True),
        "tensorboard_callback": TensorBoard(log_dir="logs/fit/20250101-120000"),
    }


def test_the_lesson_settings_pass(tmp_path):
    """Do the callbacks configured as the lesson asks pass the three configuration checks?"""
    results = verify(run_with(tmp_path, **good_callbacks()), only=CONFIG_CHECKS)
    assert outcome(results) == dict.fromkeys(CONFIG_CHECKS, "passed")


@pytest.mark.parametrize("variable, wrong, fails, says", [
    ("early_stopping", EarlyStopping(monitor="loss", patience=5), "early_stopping", "it watches 'loss'"),
    ("early_stopping", EarlyStopping(monitor="val_loss", patience=3), "early_stopping", "patience=3"),
    ("early_stopping", EarlyStopping(monitor="val_loss", patience=5, mode="max"), "early_stopping", "mode='max'"),
    ("model_checkpoint", ModelCheckpoint("checkpoints/best_model.weights.h5", save_weights_only=True), "model_checkpoint", "save_best_only=True"),
    ("model_checkpoint", ModelCheckpoint("best_model.weights.h5", save_best_only=True, save_weights_only=True), "model_checkpoint", "'best_model.weights.h5'"),
    ("model_checkpoint", ModelCheckpoint("checkpoints/best_model.keras", save_best_only=True), "model_checkpoint", "save_weights_only=True"),
    ("model_checkpoint", ModelCheckpoint("checkpoints/best_model.weights.h5", save_best_only=True, save_weights_only=True, save_freq=5), "model_checkpoint", "counts batches"),
    ("tensorboard_callback", TensorBoard(log_dir="logs/fit"), "tensorboard_callback", "its log_dir is 'logs/fit'"),
    ("tensorboard_callback", EarlyStopping(), "tensorboard_callback", "must be a keras.callbacks.TensorBoard"),
])
def test_a_wrong_setting_fails_its_own_check_only(tmp_path, variable, wrong, fails, says):
    """Does each wrong setting fail only the check of its variable, saying what to change?"""
    results = verify(run_with(tmp_path, **{**good_callbacks(), variable: wrong}), only=CONFIG_CHECKS)
    assert outcome(results) == {**dict.fromkeys(CONFIG_CHECKS, "passed"), fails: "failed"}
    assert says in next(r.output for r in results if r.name == fails)


def test_a_missing_variable_says_what_to_define(tmp_path):
    """When early_stopping was never defined, does the check say which step defines it?"""
    results = verify(run_with(tmp_path), only=["early_stopping"])
    assert results[0].status == "failed" and results[0].score == 0
    assert "`early_stopping` is not defined" in results[0].output and "step 1" in results[0].output


def test_a_run_that_exported_nothing_fails_every_check_with_the_run_problem(tmp_path):
    """With no snapshot at all (the run died first), does every check fail and say why?"""
    results = verify(Context(exercise, tmp_path, 0.0, run_problem="The notebook did not finish within 180 s."), only=CONFIG_CHECKS)
    assert all(r.status == "failed" and "did not finish within 180 s" in r.output for r in results)


def test_a_check_never_returns_points_for_a_partial_pass(tmp_path):
    """Is a check all-or-nothing: one failed test out of four gives 0 points?"""
    results = verify(run_with(tmp_path, **{**good_callbacks(), "early_stopping": EarlyStopping(monitor="val_loss", patience=4)}), only=["early_stopping"])
    assert (results[0].score, results[0].max_score) == (0.0, 1.0)
