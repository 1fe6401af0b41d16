"""autograder.measure: weights files that are not what they say are refused before Keras loads them."""

import pytest

from autograder import evidence, measure
from course import exercise
from test_intake import write

# measure: weights files that are not what they say

def test_val_loss_of_refuses_files_that_are_not_weights(tmp_path):
    write(tmp_path / "text.weights.h5", b"not hdf5")
    write(tmp_path / "truncated.weights.h5", measure.HDF5_SIGNATURE + b"\0" * 100)
    for name, message in [("text.weights.h5", "not a Keras weights file"), ("truncated.weights.h5", "not a readable weights file")]:
        with pytest.raises(evidence.BadEvidence, match=message):
            measure.val_loss_of(exercise, tmp_path, name)


@pytest.mark.slow
def test_val_loss_of_refuses_a_decompression_bomb(tmp_path):
    """A 1 GB dataset that stores next to nothing: refused before Keras reads it into memory.

    (Keras itself only refuses declared sizes over 4 GiB per dataset; a file of several such
    datasets made the grader's own process allocate 24 GB.)"""
    import h5py
    import tracemalloc

    model = exercise.setup["build_model"]()
    model.save_weights(tmp_path / "bomb.weights.h5")
    with h5py.File(tmp_path / "bomb.weights.h5", "a") as file:
        del file["layers/dense/vars/0"]
        file.create_dataset("layers/dense/vars/0", shape=(2**28,), dtype="f4", chunks=(2**20,), compression="gzip")
    assert (tmp_path / "bomb.weights.h5").stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(evidence.BadEvidence, match="unpacks to"):
            measure.val_loss_of(exercise, tmp_path, "bomb.weights.h5")
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["external link", "external storage", "strings"])
def test_val_loss_of_refuses_links_out_of_the_file(tmp_path, kind):
    """Weights that point to other files (another run's checkpoint, the reference values) or hold text."""
    import h5py
    import numpy as np

    model = exercise.setup["build_model"]()
    model.save_weights(tmp_path / "other.weights.h5")
    model.save_weights(tmp_path / "hostile.weights.h5")
    with h5py.File(tmp_path / "hostile.weights.h5", "a") as file:
        del file["layers/dense/vars/0"]
        if kind == "external link":
            file["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.weights.h5"), "layers/dense/vars/0")
        elif kind == "external storage":
            file.create_dataset("layers/dense/vars/0", shape=(64, 128), dtype="f4",
                                external=[(str(exercise.reference_file), 0, h5py.h5f.UNLIMITED)])
        else:
            file["layers/dense/vars/0"] = np.array([exercise.reference_file.read_bytes()[:200]] * 8192).reshape(64, 128)
    with pytest.raises(evidence.BadEvidence) as refused:
        measure.val_loss_of(exercise, tmp_path, "hostile.weights.h5")
    assert "autograder reference" not in str(refused.value)
