"""The behaviour checks on hand-made runs: each needs its callback in the fit that returned history.

No training: the evidence is the export format filled with an honest run's values (as
tests/hostile/cells.py forges it), changed in one place. The end-to-end cases (honest styles
at full marks, runs that imitate the callbacks) are in tests/test_mistakes.py.
"""

import copy
import json

import pytest

from autograder.evidence import SNAPSHOTS
from autograder.verify import Context, verify
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
    return Context(tmp_path, run_started_at=started, sources=sources)


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
