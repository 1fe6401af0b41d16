"""Measure a weights file the trusted way: into a model the grader built, on the grader's data."""

import functools
import hashlib
import math
import tempfile
from pathlib import Path

from .evidence import MAX_WEIGHTS_BYTES, BadEvidence, read_bytes
from .messages import Code

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def val_loss_of(assignment, root: Path, relative, not_kept=()) -> float:
    """Validation loss of the weights at `root/relative`, loaded into a model built by the
    `assignment`'s `build_model()`, on its `x_val`, `y_val`.

    Raises BadEvidence when the file is unsafe, not HDF5, or does not fit the model.
    """
    data = read_bytes(root, relative, MAX_WEIGHTS_BYTES, not_kept)
    if not data.startswith(HDF5_SIGNATURE):
        raise BadEvidence(f"{relative} is not a Keras weights file (HDF5).", Code.NOT_WEIGHTS)
    digest = (assignment, hashlib.sha256(data).digest())
    # The same bytes always give the same loss: a file measured once (for another check, or
    # another student's identical run) is not loaded again. Only losses are kept, not errors.
    if digest not in _LOSSES:
        loss = _measure(assignment, data, relative)
        if len(_LOSSES) >= MAX_REMEMBERED:
            del _LOSSES[next(iter(_LOSSES))]
        _LOSSES[digest] = loss
    return _LOSSES[digest]


_LOSSES = {}  # (assignment, sha256 of a weights file) -> its validation loss, in this process
MAX_REMEMBERED = 1000


def _measure(assignment, data: bytes, relative) -> float:
    setup, model = assignment.setup, _measuring_model(assignment)
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


@functools.cache
def _measuring_model(assignment):
    """One model of build_model() for every measurement of `assignment` in this process.

    Why one: Keras traces evaluate once per model (about 0.3 s, measured); a load replaces
    every weight of the model or raises, so no measurement sees another's weights.
    """
    return assignment.setup["build_model"]()


MAX_HDF5_OBJECTS = 10_000  # groups and datasets; a Keras weights file of this exercise has a few dozen


def _check_declared_size(path: Path, relative):
    """Refuse an HDF5 file whose datasets hold more than MAX_WEIGHTS_BYTES once read, or non-numbers,
    or store their data other than plainly: compressed, filtered, or in chunks larger than they are.

    Why: the file's size is capped, not what it unpacks to. Keras refuses links and external or
    virtual datasets itself, but a dataset may declare up to 4 GiB while storing next to nothing
    (compressed, or never written: read as its fill value). A 125 kB file of such datasets made
    load_weights allocate 24 GB in the grader's own process: the host ran out of memory. Even a
    dataset declaring 10 floats can sit in a gzip chunk that inflates to gigabytes when read; so
    the storage is checked here, from metadata only, before anything is decompressed. Keras
    writes each weight as one plain (contiguous, unfiltered) dataset of a few kB.
    """
    import h5py

    declared, datasets, objects = 0, [], 0

    def visit(name, obj):
        nonlocal declared, objects
        objects += 1
        if objects > MAX_HDF5_OBJECTS:
            raise BadEvidence(f"{relative} holds more than {MAX_HDF5_OBJECTS} groups and datasets; "
                              "a Keras weights file of this model holds a few dozen.")
        if isinstance(obj, h5py.Dataset):
            if obj.dtype.kind not in "biuf":
                raise BadEvidence(f"{relative} holds {name} of type {obj.dtype}, not numbers: it is not a Keras weights file.")
            size = math.prod(obj.shape or ()) * obj.dtype.itemsize
            declared += size
            datasets.append((name, size, obj.chunks, obj.dtype.itemsize, obj.id.get_create_plist().get_nfilters(),
                             obj.id.get_storage_size()))

    try:
        with h5py.File(path, "r") as file:
            file.visititems(visit)
    except BadEvidence:
        raise
    except Exception as error:  # a malformed file is the student's failure, not the grader's
        raise BadEvidence(f"{relative} is not a readable weights file: {str(error)[:200]}") from None
    if declared > MAX_WEIGHTS_BYTES:
        raise BadEvidence(f"{relative} unpacks to {declared} bytes of weights; at most {MAX_WEIGHTS_BYTES} are accepted.")
    for name, size, chunks, itemsize, filters, stored in datasets:
        if filters:
            raise BadEvidence(f"{relative} stores {name} compressed or filtered ({filters} filter(s)); Keras writes "
                              "weights uncompressed, so it is not a Keras weights file.")
        chunk = math.prod(chunks) * itemsize if chunks else 0
        if chunk > max(size, itemsize):
            raise BadEvidence(f"{relative} stores {name} ({size} bytes) in chunks of {chunk} bytes; a chunk must not "
                              "be larger than its dataset.")
        if stored > size:
            raise BadEvidence(f"{relative} stores {stored} bytes for {name}, which declares {size} bytes; "
                              "a weights file stores what it declares.")


def warm_up(assignment):
    """Import TensorFlow, build the measuring model and trace its evaluate: what a verifier does once, before any run's files."""
    setup = assignment.setup
    _measuring_model(assignment).evaluate(setup["x_val"], setup["y_val"], verbose=0)
