"""One submission's files must not stall or zero the others (autograder/grade.py's verifier, the parsers).

The verifier is one long-lived worker process shared by the batch. A submission whose files
hang or crash it loses alone ("verification stopped", listed for a person); the submissions
queued behind it are verified by a fresh worker, each within its own time limit. The
parsers bound every byte, record and value they read, so such files are refused before
they can hang anything.
"""

import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import autograder.grade as grade_module
from autograder import class_report, evidence, feedback, measure
from course import exercise
from autograder.grade import Grader, Submission, VerificationStopped, grade
from autograder.run import Run
from autograder.runner import LocalRunner
from autograder.messages import Code
from autograder.verify import CheckResult, Context
from notebooks import submission, write

SECONDS = 6.0  # the fake worker's limit per submission; its slow check takes half of it


# --- What the worker runs: module level, so that the spawned worker can import them ----------

def ready():
    """A warm-up without TensorFlow."""
    return True


def fake_check(context: Context):
    """Hangs, crashes the worker, or passes in SECONDS / 2, by the work folder's name."""
    kind = context.work.name if context.work.name != "work" else context.work.parent.name
    if kind in ("hangs", "0000"):
        time.sleep(3600)
    if kind == "crashes":
        os._exit(1)
    if kind.startswith("slow"):
        time.sleep(SECONDS / 2)
    return [CheckResult("fake", 1.0, 1.0, "passed", output="fake: passed")], {"loss": [1.0], "val_loss": [1.0]}, []


# --- The shared worker -----------------------------------------------------------------------

def _verify_all(grader, names, first_head_start=1.5):
    """Verify one context per name from its own thread, the first one alone for a moment.

    {name: outcome}, {name: seconds from asking to the answer}.
    """
    outcomes, seconds = {}, {}

    def one(name):
        asked = time.monotonic()
        try:
            outcomes[name] = grader._verify(Context(exercise, Path("/nonexistent") / name))
        except Exception as error:
            outcomes[name] = error
        seconds[name] = time.monotonic() - asked

    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    threads[0].start()
    time.sleep(first_head_start)  # the hostile one is in the worker before the others queue
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes, seconds


@pytest.mark.parametrize("hostile, says", [("hangs", "did not finish within"), ("crashes", "crashed")])
def test_a_hung_or_crashed_verification_costs_only_its_own_submission(tmp_path, hostile, says):
    """Those queued behind it wait longer than the limit in all, yet each is verified in full."""
    grader = Grader(tmp_path, exercise, LocalRunner(), check=fake_check, warm_up=ready, verifier_seconds=SECONDS)
    try:
        outcomes, seconds = _verify_all(grader, [hostile, "slow", "slow 2", "quick"])
    finally:
        grader.close()
    assert isinstance(outcomes[hostile], VerificationStopped), outcomes[hostile]
    assert says in str(outcomes[hostile])
    for name in ("slow", "slow 2", "quick"):
        tests, training, review = outcomes[name]
        assert [t.status for t in tests] == ["passed"], name
    if hostile == "hangs":
        # Queued for more than SECONDS in all, yet verified: its limit counted from its own start.
        assert max(seconds[name] for name in ("slow", "slow 2", "quick")) > SECONDS + 1


def test_a_stopped_verification_is_reported_for_a_person(tmp_path, monkeypatch):
    """Through grade(): the hung one is "verification stopped" with its reason, on the class report;
    the others, queued behind it, are graded."""
    class Runner(LocalRunner):  # runs nothing: the fake check needs no run
        def run(self, work, keep=()):
            if work.parent.name != "0000":
                time.sleep(1.5)  # the hostile one reaches the worker first
            return Run(started_at=time.time(), seconds=1.0)

    monkeypatch.setattr(grade_module, "check_run", fake_check)
    monkeypatch.setattr(grade_module, "VERIFIER_SECONDS", SECONDS)
    path = write(submission(), tmp_path / "in" / "callbacks.ipynb")
    names = ["hostile", "honest", "honest 2"]
    results = grade([Submission(name, path) for name in names], exercise, jobs=2, runner=Runner(jobs=2))
    stopped, *honest = results
    assert stopped.status == "verification stopped" and stopped.score == 0
    assert "did not finish within" in stopped.message
    assert all(r.status == "graded" and r.score == 1.0 for r in honest), [(r.status, r.message) for r in honest]
    reasons = class_report.attention(stopped)
    assert reasons and reasons[0].startswith(class_report.NEEDS_A_HUMAN["verification stopped"])
    assert not any(class_report.attention(r) for r in honest)
    monkeypatch.undo()  # the pages need the real exercise
    page = feedback.render_html(stopped, exercise)
    assert feedback.STATUS_LABELS["verification stopped"] in page
    view = class_report.report_view(results, exercise, report_dir=tmp_path, feedback_dir=tmp_path, grading_seconds=10)
    assert [row["name"] for row in view["attention"]] == ["hostile"]


def test_a_stopped_verification_is_a_status_for_a_person_not_a_suspicion():
    assert "verification stopped" in class_report.NEEDS_A_HUMAN
    assert all(code in Code for code in class_report.SUSPECT)


# --- TensorBoard event files: every record, value and byte counts ------------------------------

def _records(path, events):
    """A TFRecord file of serialized `events` (no TensorFlow: the checksums are never checked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        for event in events:
            data = event.SerializeToString()
            file.write(len(data).to_bytes(8, "little") + b"\0" * 4 + data + b"\0" * 4)


def _event(step, *values):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    return event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(value=list(values)))


def _value(tag, dtype="DT_FLOAT", shape=(), **content):
    from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DataType.Value(dtype),
                                    tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **content)
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor)


def test_event_files_are_read_without_tensorflow_and_keep_float_scalars(tmp_path):
    _records(tmp_path / "logs" / "events.out.tfevents.1.host", [
        _event(0, _value("epoch_loss", float_val=[0.5]), _value("note", "DT_STRING", string_val=[b"x" * 1000])),
        _event(0, _value("count", "DT_INT64", int64_val=[3])),
        _event(1, _value("epoch_loss", "DT_DOUBLE", double_val=[0.25])),
    ])
    assert evidence.read_events(tmp_path, "logs").scalars == {"epoch_loss": [(0, 0.5), (1, 0.25)]}


@pytest.mark.parametrize("kind", ["int", "string"])
def test_a_flood_of_records_of_any_type_is_refused_fast(tmp_path, kind):
    """Records the reader does not keep count as much as floats: before, such a flood was read to its end."""
    value = (_value("junk", "DT_INT64", int64_val=[1]) if kind == "int"
             else _value("junk", "DT_STRING", string_val=[b"s"]))
    _records(tmp_path / "logs" / "events.out.tfevents.1.host",
             [_event(step, value) for step in range(evidence.MAX_EVENT_RECORDS + 1)])
    started = time.monotonic()
    with pytest.raises(evidence.BadEvidence, match="more than"):
        evidence.read_events(tmp_path, "logs").scalars
    assert time.monotonic() - started < 30


def test_a_flood_of_values_in_few_records_is_refused(tmp_path):
    many = [_value(f"v{i}", "DT_STRING", string_val=[b""]) for i in range(1000)]
    _records(tmp_path / "logs" / "events.out.tfevents.1.host",
             [_event(step, *many) for step in range(evidence.MAX_SCALARS // 1000 + 1)])
    with pytest.raises(evidence.BadEvidence, match=f"more than {evidence.MAX_SCALARS} values"):
        evidence.read_events(tmp_path, "logs").scalars


def test_event_files_are_bounded_in_bytes_together(tmp_path):
    """Many files each under the cap add up: the folder is refused as a whole."""
    big = _event(0, _value("blob", "DT_STRING", string_val=[b"x" * (2 * 2**20)]))
    for number in range(evidence.MAX_EVENT_BYTES // (2 * 2**20) + 1):
        _records(tmp_path / "logs" / f"events.out.tfevents.{number}.host", [big])
    with pytest.raises(evidence.BadEvidence, match="bytes of event files"):
        evidence.read_events(tmp_path, "logs").scalars


def test_a_record_declaring_more_than_the_file_ends_it(tmp_path):
    """A header declaring 2**60 bytes is not allocated: the file ends there, as a truncated record does."""
    path = tmp_path / "logs" / "events.out.tfevents.1.host"
    _records(path, [_event(0, _value("epoch_loss", float_val=[0.5]))])
    with open(path, "ab") as file:
        file.write((2**60).to_bytes(8, "little") + b"\0" * 64)
    assert evidence.read_events(tmp_path, "logs").scalars == {"epoch_loss": [(0, 0.5)]}


# --- HDF5: storage is checked before anything decompresses ------------------------------------

def _weights_file(path, build):
    import h5py

    with h5py.File(path, "w") as file:
        file.create_group("layers/dense/vars")
        build(file["layers/dense/vars"])
    return path


@pytest.mark.parametrize("kind", ["gzip chunk far larger than the dataset", "gzip", "shuffle filter", "big chunk"])
def test_hdf5_datasets_stored_other_than_plainly_are_refused(tmp_path, kind):
    """A dataset declaring 10 floats whose one gzip chunk inflates to 256 MiB: refused from metadata."""
    import tracemalloc

    def build(group):
        if kind == "gzip chunk far larger than the dataset":
            data = group.create_dataset("0", shape=(10,), maxshape=(None,), chunks=(2**26,), dtype="f4",
                                        compression="gzip")
            data.id.write_direct_chunk((0,), _gzip_zeros(2**28), filter_mask=0)
        elif kind == "gzip":
            group.create_dataset("0", data=np.zeros(10, "f4"), compression="gzip")
        elif kind == "shuffle filter":
            group.create_dataset("0", data=np.zeros(10, "f4"), shuffle=True)
        else:
            group.create_dataset("0", shape=(10,), maxshape=(None,), chunks=(2**20,), dtype="f4")

    _weights_file(tmp_path / "bomb.weights.h5", build)
    assert (tmp_path / "bomb.weights.h5").stat().st_size < evidence.MAX_WEIGHTS_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(evidence.BadEvidence, match="filter|chunks of"):
            measure._check_declared_size(tmp_path / "bomb.weights.h5", "bomb.weights.h5")
        assert tracemalloc.get_traced_memory()[1] < 50 * 2**20
    finally:
        tracemalloc.stop()


def _gzip_zeros(size):
    import zlib

    compressor = zlib.compressobj(9)
    block = bytes(2**20)
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


def test_plain_weights_pass_the_storage_check(tmp_path):
    def build(group):
        group.create_dataset("0", data=np.ones((64, 128), "f4"))
        group.create_dataset("1", data=np.ones(128, "f4"))
        group.create_dataset("2", shape=(0,), dtype="f4")

    measure._check_declared_size(_weights_file(tmp_path / "ok.weights.h5", build), "ok.weights.h5")


def test_hdf5_with_too_many_objects_is_refused(tmp_path):
    def build(group):
        for number in range(measure.MAX_HDF5_OBJECTS + 1):
            group.create_group(str(number))

    with pytest.raises(evidence.BadEvidence, match="groups and datasets"):
        measure._check_declared_size(_weights_file(tmp_path / "many.weights.h5", build), "many.weights.h5")


@pytest.mark.slow
def test_keras_weights_pass_the_storage_check(tmp_path):
    """What Keras writes (save_weights of the exercise's model) passes: plain, contiguous datasets."""
    model = exercise.setup["build_model"]()
    model.save_weights(tmp_path / "model.weights.h5")
    measure._check_declared_size(tmp_path / "model.weights.h5", "model.weights.h5")
    assert math.isfinite(measure.val_loss_of(exercise, tmp_path, "model.weights.h5"))


@pytest.mark.slow
def test_tensorboard_logs_written_by_keras_are_read(tmp_path):
    """The exercise's own TensorBoard callback, as an honest run writes it: every epoch's loss is read."""
    setup = exercise.setup
    model = setup["build_model"]()
    import keras

    callback = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    history = model.fit(setup["x_train"][:64], setup["y_train"][:64], epochs=3, verbose=0,
                        validation_data=(setup["x_val"][:32], setup["y_val"][:32]), callbacks=[callback])
    for folder, key in (("train", "loss"), ("validation", "val_loss")):
        logged = [v for _, v in sorted(evidence.read_events(tmp_path, Path("logs") / folder).scalars["epoch_loss"])]
        assert logged == pytest.approx(history.history[key], rel=1e-6)
