"""training_log: {csv_file} holds one line per epoch of this run, with its learning_rate and val_loss."""

import csv
import io

import pytest

from autograder import evidence
from autograder.assignment import of
from autograder.replay import same_rate

EXERCISE = of(__file__)  # the assignment these checks belong to
CSV_FILE = EXERCISE.settings["csv_file"]
same_loss = EXERCISE.same_loss
MAX_CSV_BYTES = 2**20  # 200 epochs of 6 columns take about 20 kB
# What CSVLogger writes when ReduceLROnPlateau comes before it (measured, Keras 3.15): epoch, then
# the first epoch's log keys sorted.
HEADER = ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
HOW = "pass csv_logger in fit's callbacks=[...], after reduce_lr"


@pytest.fixture
def rows(context, not_passed):
    """The CSV file's rows, read by the grader as untrusted text: size-capped, no links, plain UTF-8."""
    try:
        data = evidence.read_bytes(context.work, CSV_FILE, MAX_CSV_BYTES, context.not_kept)
        text = data.decode("utf-8")
    except evidence.BadEvidence as error:
        if not_passed("csv_logger"):
            pytest.fail(f"No {CSV_FILE} of this run: csv_logger was not passed to the fit that returned history: {HOW}.")
        pytest.fail(f"No readable {CSV_FILE}: {error} Create the logs folder (step 4) and {HOW}.")
    except UnicodeDecodeError:
        pytest.fail(f"{CSV_FILE} is not text: it must be the file csv_logger writes; {HOW}.")
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        pytest.fail(f"{CSV_FILE} is not a CSV file ({error}): it must be the file csv_logger writes; {HOW}.")


def _numbers(rows, column):
    index = rows[0].index(column)
    try:
        return [float(row[index]) for row in rows[1:]]
    except (ValueError, IndexError):
        pytest.fail(f"The {column} column of {CSV_FILE} does not hold one number per line: it must be the file csv_logger writes.")


def test_header_is_csv_loggers(rows):
    header = rows[0] if rows else []
    if header == HEADER:
        return
    if header == [name for name in HEADER if name != "learning_rate"]:
        pytest.fail(f"{CSV_FILE} has no learning_rate column: put reduce_lr before csv_logger in callbacks=[...], so that "
                    "the key is in the logs when csv_logger fixes its columns at the end of the first epoch.")
    pytest.fail(f"The first line of {CSV_FILE} must be {','.join(HEADER)}, as csv_logger writes it; it is {','.join(header)[:200]!r}.")


def test_one_line_per_epoch(rows, history):
    epochs = [str(epoch) for epoch in history.get("epoch") or []]
    found = [row[0] if row else "" for row in rows[1:]]
    assert found == epochs, (
        f"{CSV_FILE} must have one line per epoch of this training (epochs 0 to {len(epochs) - 1}), but its epochs are "
        f"{', '.join(found[:30])[:200]}: keep append=False and {HOW}."
    )


def test_val_loss_and_learning_rate_are_this_runs(rows, exercise_val_losses, learning_rates):
    if not rows or rows[0] != HEADER or len(rows) - 1 != len(exercise_val_losses):
        return  # said by the tests above
    logged, rates = _numbers(rows, "val_loss"), _numbers(rows, "learning_rate")
    wrong = [epoch for epoch in range(len(logged))
             if not same_loss(logged[epoch], exercise_val_losses[epoch]) or not same_rate(rates[epoch], learning_rates[epoch])]
    assert not wrong, (
        f"At epoch {wrong[0] + 1}, {CSV_FILE} logs val_loss {logged[wrong[0]]:.4f} and learning_rate {rates[wrong[0]]:.6g}, but "
        f"this run had {exercise_val_losses[wrong[0]]:.4f} and {learning_rates[wrong[0]]:.6g}: the file must be written by "
        f"csv_logger during this training; {HOW}."
    )


def test_csv_logger_was_passed_to_the_fit(passed_to_fit):
    passed_to_fit("csv_logger")
