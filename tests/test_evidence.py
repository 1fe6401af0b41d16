"""autograder.evidence: what a run leaves (snapshots, files, TensorBoard events) is read as hostile
input: links, FIFOs, devices, huge and deeply nested files and schema violations are refused."""

import json
import os
import time

import pytest

from autograder import evidence
from course import exercise
from hostile import cells
from test_intake import write

# evidence: links, FIFOs, devices, huge and deeply nested files, schema violations

def test_regular_file_refuses_links_fifos_devices_and_big_files(tmp_path):
    write(tmp_path / "real" / "best.weights.h5", b"x" * 10)
    (tmp_path / "link.weights.h5").symlink_to(tmp_path / "real" / "best.weights.h5")
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    write(tmp_path / "big", b"x" * 101)
    assert evidence.regular_file(tmp_path, "real/best.weights.h5", 100).st_size == 10
    for relative, message in [("link.weights.h5", "symbolic link"), ("linked/best.weights.h5", "linked is a symbolic link"),
                              ("fifo", "not a regular file"), ("zero", "symbolic link"), ("real", "not a regular file"),
                              ("big", "at most 100 bytes"), ("nothing", "does not exist")]:
        with pytest.raises(evidence.BadEvidence, match=message):
            evidence.regular_file(tmp_path, relative, 100)


def test_read_bytes_of_a_fifo_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    started = time.monotonic()
    with pytest.raises(evidence.BadEvidence, match="not a regular file"):
        evidence.read_bytes(tmp_path, "pipe", 100)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("path, cwd", [
    ("/etc/passwd", "/submission"), ("../other/checkpoints/best_model.weights.h5", "/submission"),
    ("/submission/../etc/passwd", "/submission"), ("checkpoints/../../x", "/submission"), (".", "/submission"),
    ("", "/submission"), ("/submission/x", ""), ("/", "/"),
])
def test_relative_to_run_refuses_paths_leaving_the_folder(path, cwd):
    with pytest.raises(evidence.BadEvidence):
        evidence.relative_to_run(path, cwd)


def test_relative_to_run_accepts_paths_inside():
    assert evidence.relative_to_run("/submission/checkpoints/./best_model.weights.h5", "/submission").as_posix() == exercise.settings["checkpoint"]
    assert evidence.relative_to_run("checkpoints//best_model.weights.h5", "/x").as_posix() == exercise.settings["checkpoint"]


def snapshot_folder(work, name="final"):
    return work / evidence.SNAPSHOTS / name


def test_load_snapshot_refuses_hostile_evidence_files(tmp_path):
    """Each bad file is refused with a reason, and the next candidate (final) is tried; nothing raises."""
    good = dict(cells.FORGED_EVIDENCE, name="early_stopping")
    bad = {
        "early_stopping": b"[" * 50_000,  # nesting bomb
        "model_checkpoint": b"\xff\xfe not utf-8",
        "tensorboard_callback": json.dumps(dict(good, variables={"os": {"type": "x"}})).encode(),  # unknown variable
        "stopped_early": json.dumps(dict(good, format=2)).encode(),
        "best_weights_file": b'{"format": 1, "name": "x", "variables": {}, "pad": "' + b"x" * (3 * 2**20) + b'"}',
        "tensorboard_logs": json.dumps(dict(good, variables={"history": {"type": "h", "history": {"val_loss": ["x" * 501]}}})).encode(),
        "reload_val_loss": json.dumps(dict(good, variables={"history": {"type": "h", "epoch": list(range(1001))}})).encode(),
    }
    for name, data in bad.items():
        write(snapshot_folder(tmp_path, name) / "evidence.json", data)
        snapshot = evidence.load_snapshot(tmp_path, name, exercise.variables)
        assert snapshot.variables == {} and snapshot.name == evidence.FINAL, name
        assert len(snapshot.problems) == 1, (name, snapshot.problems)  # why this file was refused
    (snapshot_folder(tmp_path, "linked")).mkdir(parents=True)
    (snapshot_folder(tmp_path, "linked") / "evidence.json").symlink_to(snapshot_folder(tmp_path, "stopped_early") / "evidence.json")
    assert "symbolic link" in evidence.load_snapshot(tmp_path, "linked", exercise.variables).problems[0]


def test_load_snapshot_with_deep_but_parsable_extra_fields_does_not_crash(tmp_path):
    """Extra top-level fields are not validated deeply and are never used: 99 nested lists are taken; 500
    (which json parses on every Python) and 2,000 (which 3.13's json parses and 3.11's does not) are refused
    with a reason, the same on every Python."""
    for depth, taken in [(99, True), (500, False), (2000, False)]:
        raw = json.dumps(cells.FORGED_EVIDENCE)[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"
        write(snapshot_folder(tmp_path) / "evidence.json", raw.encode())
        snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
        assert (snapshot.get("best_val_loss") == {"type": "numpy.float64", "value": cells.BEST_VAL_LOSS}) is taken, depth
        assert taken or set(snapshot.problems) == {f"{evidence.SNAPSHOTS}/final/evidence.json nests more than {evidence.MAX_JSON_DEPTH} levels deep."}, snapshot.problems


def test_nesting_is_measured_without_recursion():
    """Is the depth bound exact (lists and objects alike) and does it hold for nesting past any recursion limit?"""
    assert not evidence.nested_deeper_than(json.loads("[" * 100 + "]" * 100))
    assert evidence.nested_deeper_than(json.loads("[" * 101 + "]" * 101))
    assert not evidence.nested_deeper_than(json.loads('{"a": [{"b": 1}]}'), 3)
    assert evidence.nested_deeper_than(json.loads('{"a": [{"b": {}}]}'), 3)
    assert not evidence.nested_deeper_than("a string", 0) and evidence.nested_deeper_than([], 0)
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert evidence.nested_deeper_than(deep)


def test_final_weights_path_comes_from_the_grader_not_the_snapshot(tmp_path):
    data = dict(cells.FORGED_EVIDENCE, final_model_saved=True, final_weights="/etc/passwd")
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.final_weights == evidence.SNAPSHOTS / "final" / "final_model.weights.h5"


def test_other_models_files_are_named_by_the_grader_not_by_their_variables(tmp_path):
    """A variable named like a path, and a file named in the snapshot, point nowhere but to the grader's names."""
    data = dict(cells.FORGED_EVIDENCE, models=[{"variable": "../../etc/passwd", "saved": True, "file": "/etc/passwd"},
                                               {"variable": "unsaved", "saved": False}])
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.models == {"../../etc/passwd": evidence.SNAPSHOTS / "final" / "model_0.weights.h5", "unsaved": None}


def test_more_models_than_exported_make_the_snapshot_invalid(tmp_path):
    data = dict(cells.FORGED_EVIDENCE, models=[{"variable": f"m{i}", "saved": True} for i in range(evidence.MAX_MODELS + 1)])
    write(snapshot_folder(tmp_path) / "evidence.json", json.dumps(data).encode())
    snapshot = evidence.load_snapshot(tmp_path, "final", exercise.variables)
    assert snapshot.variables == {} and "expected shape" in snapshot.problems[0]



# TensorBoard event files: shape bombs and floods

def _event_file(path, values):
    """An event file with one event per (step, tag, TensorProto) in `values`."""
    import tensorflow as tf
    from tensorboard.compat.proto import event_pb2, summary_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for step, tag, tensor in values:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor)])
            writer.write(event_pb2.Event(step=step, wall_time=1.0, summary=summary).SerializeToString())


def _tensor(value, shape=()):
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value],
                                  tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims))


@pytest.mark.slow
def test_read_events_skips_a_shape_bomb(tmp_path):
    """A 30-byte record declaring 2**28 floats (1 GiB, one value given) is skipped, not built."""
    import tracemalloc

    _event_file(tmp_path / "logs" / "events.out.tfevents.1.host",
                [(0, "epoch_loss", _tensor(0.5)), (0, "bomb", _tensor(1.0, shape=(2**28,))), (1, "epoch_loss", _tensor(0.25))])
    tracemalloc.start()
    try:
        scalars = evidence.read_events(tmp_path, "logs").scalars
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()
    assert scalars == {"epoch_loss": [(0, 0.5), (1, 0.25)]}


@pytest.mark.slow
def test_read_events_bounds_floods(tmp_path):
    _event_file(tmp_path / "many" / "events.out.tfevents.1.host",
                [(step, "epoch_loss", _tensor(1.0)) for step in range(evidence.MAX_SCALARS + 1)])
    with pytest.raises(evidence.BadEvidence, match="more than"):
        evidence.read_events(tmp_path, "many").scalars
    for number in range(evidence.MAX_EVENT_FILES + 1):
        write(tmp_path / "files" / f"events.out.tfevents.{number}.host", b"")
    with pytest.raises(evidence.BadEvidence, match="event files"):
        evidence.read_events(tmp_path, "files").scalars


@pytest.mark.slow
def test_read_events_refuses_corrupt_and_linked_files(tmp_path):
    write(tmp_path / "corrupt" / "events.out.tfevents.1.host", b"\xff" * 100)
    assert evidence.read_events(tmp_path, "corrupt").scalars == {}  # TensorBoard's reader skips what it cannot parse
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(evidence.BadEvidence, match="symbolic link"):
        evidence.read_events(tmp_path, "linked").scalars
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "events.out.tfevents.1.host")
    with pytest.raises(evidence.BadEvidence, match="not a regular file"):
        evidence.read_events(tmp_path, "fifo").scalars


def test_a_callback_is_recognised_as_keras_recognises_it():
    """Are a subclass and tf.keras's name for the class accepted, and another callback not, from what the kernel exports?"""
    import keras
    import tensorflow as tf

    from autograder import export

    class Patient(keras.callbacks.EarlyStopping):
        pass

    def exported(callback):  # through JSON, as the verifier reads it
        return json.loads(json.dumps(export._callback(callback, ["patience"], None)))

    assert evidence.is_a(exported(keras.callbacks.EarlyStopping()), "keras.callbacks.EarlyStopping")
    assert evidence.is_a(exported(Patient(patience=5)), "keras.callbacks.EarlyStopping")
    assert evidence.is_a(exported(tf.keras.callbacks.EarlyStopping()), "keras.callbacks.EarlyStopping")
    assert not evidence.is_a(exported(keras.callbacks.ReduceLROnPlateau()), "keras.callbacks.EarlyStopping")
    assert not evidence.is_a({"type": "builtins.dict"}, "keras.callbacks.EarlyStopping")  # a snapshot without kinds
