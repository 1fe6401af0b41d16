"""tensorboard_callback: a TensorBoard callback that logs under {log_root}/<timestamp>."""

import re

from autograder.evidence import BadEvidence, is_a, relative_to_run
from autograder.assignment import of

EXERCISE = of(__file__)  # the assignment these checks belong to
LOG_ROOT = EXERCISE.settings["log_root"]


TENSORBOARD = "keras.callbacks.TensorBoard"  # a subclass is accepted, as Keras accepts it
TIMESTAMPED = re.compile(re.escape(LOG_ROOT) + r"/\d{8}-\d{6}")


def test_is_a_tensorboard_callback(tensorboard_callback):
    assert is_a(tensorboard_callback, TENSORBOARD), (
        f"tensorboard_callback must be a keras.callbacks.TensorBoard; it is a {tensorboard_callback['type']}."
    )


def test_logs_under_a_timestamped_folder(tensorboard_callback, snapshot):
    log_dir = tensorboard_callback["settings"].get("log_dir")
    try:
        where = relative_to_run(log_dir, snapshot.cwd).as_posix()
    except BadEvidence:
        where = ""
    assert TIMESTAMPED.fullmatch(where), (
        f'tensorboard_callback must log to "{LOG_ROOT}/" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S") '
        f"(for example {LOG_ROOT}/20250101-120000); its log_dir is {log_dir!r}."
    )
