"""Measure a weights file the trusted way: into a model the grader built, on the grader's data."""

import tempfile
from pathlib import Path

from . import exercise
from .evidence import MAX_WEIGHTS_BYTES, BadEvidence, read_bytes

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def val_loss_of(root: Path, relative) -> float:
    """Validation loss of the weights at `root/relative`, loaded into a fresh `build_model()`.

    Raises BadEvidence when the file is unsafe, not HDF5, or does not fit the model.
    """
    data = read_bytes(root, relative, MAX_WEIGHTS_BYTES)
    if not data.startswith(HDF5_SIGNATURE):
        raise BadEvidence(f"{relative} is not a Keras weights file (HDF5).")
    setup = exercise.setup()
    model = setup["build_model"]()
    # Load from a private copy: what is measured is exactly the bytes that were checked.
    with tempfile.TemporaryDirectory() as private:
        copy = Path(private) / "checked.weights.h5"
        copy.write_bytes(data)
        try:
            model.load_weights(copy)
        except Exception as error:
            raise BadEvidence(f"{relative} does not load into build_model(): {str(error)[:300]}") from None
    return float(model.evaluate(setup["x_val"], setup["y_val"], verbose=0)[0])
