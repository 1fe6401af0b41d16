"""Measure a weights file the trusted way: into a model the grader built, on the grader's data."""

import math
import tempfile
from pathlib import Path

from . import exercise
from .evidence import MAX_WEIGHTS_BYTES, BadEvidence, read_bytes

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def val_loss_of(root: Path, relative, not_kept=()) -> float:
    """Validation loss of the weights at `root/relative`, loaded into a fresh `build_model()`.

    Raises BadEvidence when the file is unsafe, not HDF5, or does not fit the model.
    """
    data = read_bytes(root, relative, MAX_WEIGHTS_BYTES, not_kept)
    if not data.startswith(HDF5_SIGNATURE):
        raise BadEvidence(f"{relative} is not a Keras weights file (HDF5).")
    setup = exercise.setup()
    model = setup["build_model"]()
    # Load from a private copy: what is measured is exactly the bytes that were checked.
    with tempfile.TemporaryDirectory() as private:
        copy = Path(private) / "checked.weights.h5"
        copy.write_bytes(data)
        _check_declared_size(copy, relative)
        try:
            model.load_weights(copy)
        except Exception as error:
            raise BadEvidence(f"{relative} does not load into build_model(): {str(error)[:300]}") from None
    return float(model.evaluate(setup["x_val"], setup["y_val"], verbose=0)[0])


def _check_declared_size(path: Path, relative):
    """Refuse an HDF5 file whose datasets hold more than MAX_WEIGHTS_BYTES once read, or non-numbers.

    Why: the file's size is capped, not what it unpacks to. Keras refuses links and external or
    virtual datasets itself, but a dataset may declare up to 4 GiB while storing next to nothing
    (compressed, or never written: read as its fill value). A 125 kB file of such datasets made
    load_weights allocate 24 GB in the grader's own process: the host ran out of memory.
    """
    import h5py

    declared = 0

    def visit(name, obj):
        nonlocal declared
        if isinstance(obj, h5py.Dataset):
            if obj.dtype.kind not in "biuf":
                raise BadEvidence(f"{relative} holds {name} of type {obj.dtype}, not numbers: it is not a Keras weights file.")
            declared += math.prod(obj.shape or ()) * obj.dtype.itemsize

    try:
        with h5py.File(path, "r") as file:
            file.visititems(visit)
    except BadEvidence:
        raise
    except Exception as error:  # a malformed file is the student's failure, not the grader's
        raise BadEvidence(f"{relative} is not a readable weights file: {str(error)[:200]}") from None
    if declared > MAX_WEIGHTS_BYTES:
        raise BadEvidence(f"{relative} unpacks to {declared} bytes of weights; at most {MAX_WEIGHTS_BYTES} are accepted.")
