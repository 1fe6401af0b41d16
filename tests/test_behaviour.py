"""The behaviour checks on hand-made runs: each needs its callback in the fit that returned history.

No training: the evidence is the export format filled with an honest run's values (as
tests/hostile/cells.py forges it), changed in one place. The end-to-end cases (honest styles
at full marks, runs that imitate the callbacks) are in tests/cases/callbacks.py, graded by
tests/test_mistakes.py.
"""

import copy
import json

import pytest

from autograder.evidence import SNAPSHOTS
from autograder.verify import Context, verify
from course import exercise
from hostile.cells import BEST_VAL_LOSS, EPOCHS_RUN, FORGED_EVIDENCE
from notebooks import SOLUTION

BEHAVIOUR = {"stopped_early": "early_stopping", "best_weights_file": "model_checkpoint",
             "tensorboard_logs": "tensorboard_callback"}


def run_with(tmp_path, change=lambda evidence: None, sources=(), started=0.0):
    evidence = copy.deepcopy(FORGED_EVIDENCE)
    evidence.update(name="final", cwd=str(tmp_path))
    change(evidence)
    folder = tmp_path / SNAPSHOTS / "final"
    folder.mkdir(parents=True)
    (folder / "evidence.json").write_text(json.dumps(evidence))
    return Context(exercise, tmp_path, run_started_at=started, sources=sources)


def outputs(results):
    return {result.name: result.output for result in results}


def cells(fit_source):
    return (("markdown", "### Your turn, step 4: build and train"),
            *(("code", SOLUTION[f"answer_{name}"]) for name in ("early_stopping", "model_checkpoint", "tensorboard_callback")),
            ("code", fit_source))


@pytest.mark.parametrize("check, callback", BEHAVIOUR.items())
def test_callback_not_attached_to_the_trained_model_fails_its_check(tmp_path, check, callback):
    def detach(evidence):
        evidence["variables"][callback]["used_in_fit"] = False

    said = outputs(verify(run_with(tmp_path, detach), only=[check]))[check]
    assert f"`{callback}` is not attached to the model that history trained" in said, said


@pytest.mark.parametrize("check, callback", BEHAVIOUR.items())
def test_callback_missing_from_the_fit_in_the_source_fails_its_check(tmp_path, check, callback):
    others = ", ".join(name for name in BEHAVIOUR.values() if name != callback)
    context = run_with(tmp_path, sources=cells(f"model = build_model()\nhistory = model.fit(x_train, y_train, callbacks=[{others}])\n"))
    said = outputs(verify(context, only=[check]))[check]
    assert f"`{callback}` was created but not passed to model.fit(..., callbacks=[...]) in step 4" in said, said


def test_the_solutions_source_adds_no_failure(tmp_path):
    context = run_with(tmp_path, sources=cells(SOLUTION["answer_fit"]))
    for check, said in outputs(verify(context, only=list(BEHAVIOUR))).items():
        assert "was created but not passed" not in said and "cannot have been used" not in said, said


@pytest.mark.parametrize("steps, fails", [(EPOCHS_RUN * 10, False), (0, True), (EPOCHS_RUN * 10 + 10, True), (None, False)])
def test_optimizer_steps_must_be_one_fit_of_the_epochs_run(tmp_path, steps, fails):
    def set_steps(evidence):
        evidence["variables"]["history"]["optimizer_iterations"] = steps

    said = outputs(verify(run_with(tmp_path, set_steps), only=["stopped_early"]))["stopped_early"]
    assert ("training steps" in said) is fails, said


@pytest.mark.parametrize("state, fails", [({}, False), ({"stopped_epoch": 0, "best": None}, True),
                                          ({"stopped_epoch": EPOCHS_RUN - 3}, True), ({"best": 9.0}, True)])
def test_early_stopping_state_must_be_this_trainings_stop(tmp_path, state, fails):
    """Does an early_stopping that never stopped this fit (Keras's initial 0 and None, another stop) fail stopped_early?"""
    def set_state(evidence):
        evidence["variables"]["early_stopping"]["settings"].update(state)

    said = outputs(verify(run_with(tmp_path, set_state), only=["stopped_early"]))["stopped_early"]
    assert ("early_stopping's state does not come from this training" in said) is fails, said


@pytest.mark.parametrize("best, fails", [(BEST_VAL_LOSS, False), (None, True), (BEST_VAL_LOSS + 0.05, True)])
def test_model_checkpoint_state_must_hold_this_trainings_best(tmp_path, best, fails):
    """Does a model_checkpoint whose best is not this fit's lowest val_loss (None: it saved nothing) fail best_weights_file?"""
    def set_best(evidence):
        evidence["variables"]["model_checkpoint"]["settings"]["best"] = best

    said = outputs(verify(run_with(tmp_path, set_best), only=["best_weights_file"]))["best_weights_file"]
    assert ("model_checkpoint's state does not come from this training" in said) is fails, said


def _epoch_log(folder, scalars, wall_time, graph=False):
    """A TensorBoard event file in `folder`: {tag: [(step, value), ...]} as float scalars stamped `wall_time`,
    and with `graph` the model-graph record the TensorBoard callback writes first."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "events.out.tfevents.1.forged")) as writer:
        if graph:
            metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="graph_keras_model"))
            tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"{}"])
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
            writer.write(event_pb2.Event(step=0, wall_time=wall_time, summary=summary).SerializeToString())
        for tag, values in scalars.items():
            for step, value in values:
                tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value])
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor)])
                writer.write(event_pb2.Event(step=step, wall_time=wall_time, summary=summary).SerializeToString())


def _losses(losses):
    return {"epoch_loss": list(enumerate(losses))}


@pytest.mark.slow
@pytest.mark.parametrize("made, fails", [("before the run", True), ("during the run", False)])
def test_tensorboard_logs_must_be_written_during_the_run(tmp_path, made, fails):
    """Are event files carried into the notebook (stamped before the run started) refused, and the run's own accepted?"""
    import time

    from hostile.cells import CANONICAL

    started = time.time() - 60
    log_dir = tmp_path / FORGED_EVIDENCE["variables"]["tensorboard_callback"]["settings"]["log_dir"]
    stamp = started - 86400 if fails else started + 1
    _epoch_log(log_dir / "train", _losses(CANONICAL["loss"]), stamp)
    _epoch_log(log_dir / "validation", _losses(CANONICAL["val_loss"]), stamp)
    said = outputs(verify(run_with(tmp_path, started=started), only=["tensorboard_logs"]))["tensorboard_logs"]
    assert ("outside this run" in said) == fails, said


@pytest.mark.slow
@pytest.mark.parametrize("written_by", ["the callback", "tf.summary by hand", "the callback, without the graph"])
def test_tensorboard_logs_must_be_what_the_callback_writes(tmp_path, written_by):
    """Are logs holding only epoch_loss (tf.summary.scalar by hand) refused, and the callback's own tags accepted?"""
    import time

    from hostile.cells import CANONICAL

    started = time.time() - 60
    log_dir = tmp_path / FORGED_EVIDENCE["variables"]["tensorboard_callback"]["settings"]["log_dir"]
    train, validation = _losses(CANONICAL["loss"]), _losses(CANONICAL["val_loss"])
    if written_by != "tf.summary by hand":  # what Keras 3.15's TensorBoard writes besides epoch_loss
        train["epoch_learning_rate"] = [(epoch, 0.001) for epoch in range(EPOCHS_RUN)]
        validation["evaluation_loss_vs_iterations"] = [(10 * (epoch + 1), loss) for epoch, loss in enumerate(CANONICAL["val_loss"])]
    _epoch_log(log_dir / "train", train, started + 1, graph=written_by == "the callback")
    _epoch_log(log_dir / "validation", validation, started + 1)
    said = outputs(verify(run_with(tmp_path, started=started), only=["tensorboard_logs"]))["tensorboard_logs"]
    refused = "is not what the TensorBoard callback writes" in said
    assert refused is (written_by != "the callback"), said
    if written_by == "the callback, without the graph":
        assert "lacks the model graph" in said, said


def _other_training(evidence):
    """history from another training: its first val_loss is not this exercise's."""
    evidence["variables"]["history"]["history"] = {key: [value + 0.3 for value in values]
                                                   for key, values in evidence["variables"]["history"]["history"].items()}


FITS = "callbacks=[early_stopping, model_checkpoint, tensorboard_callback], verbose=0"


@pytest.mark.parametrize("arguments, says", [
    ("x_train, y_train, validation_split=0.3, epochs=200",
     "uses validation_split=0.3 instead of validation_data=(x_val, y_val), so Keras trains on part of x_train only"),
    ("x_train, y_train, validation_data=(x_val, y_val), batch_size=64, epochs=200",
     "uses batch_size=64 instead of the default batch size (32). Fit with the default batch size (32), as step 4 says."),
    ("x_train[:200], y_train[:200], validation_data=(x_val, y_val), epochs=200",
     "uses x_train[:200] instead of x_train and y_train[:200] instead of y_train"),
    ("x_train, y_train, validation_data=(x_train, y_train), shuffle=False, epochs=200",
     "uses validation_data=(x_train, y_train) instead of validation_data=(x_val, y_val) and shuffle=False instead of"),
])
def test_other_training_names_what_the_fit_changes(tmp_path, arguments, says):
    """Does history from another training name the argument of history's fit that made it, with its cell?"""
    context = run_with(tmp_path, _other_training, sources=cells(f"model = build_model()\nhistory = model.fit({arguments}, {FITS})\n"))
    said = outputs(verify(context, only=["stopped_early"]))["stopped_early"]
    assert ("which this exercise's training does not produce: the fit that returned history (line 2 of the 4th code cell "
            "under “Your turn, step 4: build and train”) uses") in said, said
    assert says in said, said


@pytest.mark.parametrize("sources", [(), cells("model = build_model()\nhistory = model.fit(X, Y, validation_data=val, "
                                               f"epochs=200, {FITS})\n")])
def test_other_training_keeps_the_checklist_when_the_code_does_not_tell(tmp_path, sources):
    """When the fit's code shows no change (no source, or the data in variables of the student's), is the general advice given?"""
    said = outputs(verify(run_with(tmp_path, _other_training, sources=sources), only=["stopped_early"]))["stopped_early"]
    assert "keep the locked setup cell unchanged" in said and "the fit that returned history (" not in said, said


def test_early_stopping_in_fit_that_did_not_stop_where_its_rule_says_is_told_so(tmp_path):
    """Does an early_stopping that was in the fit, with patience=100, but stopped after 14 (a patched rule) say so?"""
    def patience_100(evidence):
        evidence["variables"]["early_stopping"]["settings"]["patience"] = 100

    source = ("from keras.callbacks import EarlyStopping\nEarlyStopping.on_epoch_end = lambda self, epoch, logs=None: None\n"
              + SOLUTION["answer_fit"])
    said = outputs(verify(run_with(tmp_path, patience_100, sources=cells(source)), only=["stopped_early"]))["stopped_early"]
    assert "with patience=100 Keras's EarlyStopping stops this training after 109 epochs, yet history stopped after" in said, said
    assert ("The code at line 2 of the 4th code cell under “Your turn, step 4: build and train” replaces part of "
            "EarlyStopping") in said, said
    assert "pass early_stopping to the fit call" not in said, said


def test_renamed_early_stopping_is_named_in_the_step_4_check(tmp_path):
    """Is a renamed EarlyStopping named (its cell, its name) where step 4 needs early_stopping?"""
    def rename(evidence):
        del evidence["variables"]["early_stopping"]
        (tmp_path / SNAPSHOTS / "stopped_early").mkdir(parents=True)  # as exported at step 4's test cell
        (tmp_path / SNAPSHOTS / "stopped_early" / "evidence.json").write_text(json.dumps(dict(evidence, name="stopped_early")))

    sources = (("markdown", "### Your turn, step 1"), ("code", 'es = EarlyStopping(monitor="val_loss", patience=5)\n'),
               *cells(SOLUTION["answer_fit"])[1:])
    said = outputs(verify(run_with(tmp_path, rename, sources=sources), only=["stopped_early"]))["stopped_early"]
    assert "(this check needs it to know whether EarlyStopping restored the best weights)" in said, said
    assert "The EarlyStopping is assigned to `es` in the 1st code cell under “Your turn, step 1”: name it `early_stopping`." in said, said


@pytest.mark.parametrize("returncode, stderr, says", [
    (1, "OSError: [Errno 28] No space left on device", "filled the run's disk"),
    (1, "nbclient.exceptions.DeadKernelError: Kernel died", "kernel died"),
    (-9, "", "killed (SIGKILL)"),
    (1, "", "could not be run to the end"),
])
def test_a_run_that_ended_says_why(returncode, stderr, says):
    """Does the run's problem name the full disk, the dead kernel or the signal, when the grader saw it?"""
    from autograder.run import _why_it_ended

    assert says in _why_it_ended(returncode, stderr)
