"""The bundled example class (example/submitted/) is what example/make_submissions.py writes from today's releases.

A stale copy would hold locked cells whose checksums no longer match the release, which
nbgrader then restores; regenerate with `.venv/bin/python example/make_submissions.py`.
"""

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "example" / "submitted"


def files_under(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())


def test_committed_example_class_is_what_make_submissions_writes(tmp_path):
    """Regenerated in a temporary folder, is every file of the example class byte for byte the committed one?"""
    subprocess.run([sys.executable, str(ROOT / "example" / "make_submissions.py"), str(tmp_path)],
                   check=True, capture_output=True, text=True)
    assert files_under(tmp_path) == files_under(COMMITTED), \
        "example/submitted/ holds other files than make_submissions.py writes: regenerate it."
    stale = [name for name in files_under(tmp_path) if not filecmp.cmp(tmp_path / name, COMMITTED / name, shallow=False)]
    assert not stale, f"stale in example/submitted/: {stale}; run `.venv/bin/python example/make_submissions.py`."


def test_example_class_holds_every_assignment_of_the_course():
    """Does the example class hand in each assignment (nbgrader's submitted/<student>/<assignment>/ layout)?"""
    from autograder import assignment

    handed_in = {path.parent.name for path in COMMITTED.glob("*/*/*.ipynb")}
    assert handed_in == set(assignment.find())
