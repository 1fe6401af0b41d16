"""csv_logger: a CSVLogger that writes {csv_file}, separated by commas, starting the file again at every fit."""

from autograder.assignment import of
from autograder.evidence import BadEvidence, is_a, relative_to_run

EXERCISE = of(__file__)  # the assignment these checks belong to
CSV_FILE = EXERCISE.settings["csv_file"]
CSV_LOGGER = "keras.callbacks.CSVLogger"  # a subclass is accepted, as Keras accepts it


def test_is_a_csv_logger(csv_logger):
    assert is_a(csv_logger, CSV_LOGGER), f"csv_logger must be a keras.callbacks.CSVLogger; it is a {csv_logger['type']}."


def test_writes_the_agreed_file(csv_logger, snapshot):
    filename = csv_logger["settings"].get("filename")
    try:
        where = relative_to_run(filename, snapshot.cwd).as_posix()
    except (BadEvidence, TypeError):
        where = None
    assert where == CSV_FILE, f'csv_logger must write to "{CSV_FILE}"; it writes to {filename!r}.'


def test_comma_separated_and_not_appending(csv_logger):
    settings = csv_logger["settings"]
    assert settings.get("sep") == "," and settings.get("append") is False, (
        f'Leave the separator at "," and append=False, so that every training run starts {CSV_FILE} again; '
        f"csv_logger has separator={settings.get('sep')!r}, append={settings.get('append')!r}."
    )
