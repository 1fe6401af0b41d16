"""Write the bundled example class into example/submitted/ (nbgrader's layout), for every assignment.

Each assignment's students and what they submitted are its catalogue's `CLASS`
(tests/cases/<assignment>.py: the solution, the untouched release, a few named mistakes), built
from the current release; one student also hands in a broken file. Run from the project root
after changing a lesson, a release or a catalogue, and commit the result:

    .venv/bin/python example/make_submissions.py [FOLDER]   # default: example/submitted, rewritten whole

tests/test_example.py checks that the committed class is what this writes today.
"""

import datetime
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This checkout's autograder (and so its release), not the one an editable install points to.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from autograder import assignment  # noqa: E402
from cases import catalogue  # noqa: E402
from notebooks import write  # noqa: E402

SUBMITTED = Path(__file__).resolve().parent / "submitted"
# The first assignment is handed in on this day, each next one a week later; students one minute apart.
FIRST_DAY = datetime.date(2026, 11, 20)


def write_class(folder: Path) -> int:
    """Write every assignment's example class into `folder`; returns the number of submissions."""
    count = 0
    for week, name in enumerate(assignment.find()):
        exercise = assignment.get(name)
        day = FIRST_DAY + datetime.timedelta(weeks=week)
        for minute, (student, case) in enumerate(catalogue(exercise).CLASS.items()):
            submission = write(case.notebook(exercise), folder / student / name / f"{name}.ipynb").parent
            # What `nbgrader collect` leaves beside a submission; release_feedback needs both.
            (submission / "timestamp.txt").write_text(f"{day} 09:{minute:02d}:00.000000 UTC")
            (submission / "submission_secret.txt").write_text(f"example-secret-{student}")
            count += 1
    # A file that is not a notebook at all (an upload cut short), for the first assignment.
    first = next(iter(assignment.find()))
    broken = folder / "ken" / first / f"{first}.ipynb"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"cells": [{"cell_type": "code", "source": "early_stopping = ')
    return count + 1


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else SUBMITTED
    if folder == SUBMITTED:
        shutil.rmtree(folder, ignore_errors=True)  # no student left over from an older class
    print(f"Wrote {write_class(folder)} submissions to {folder}")
