"""Manual grading in a real formgrader after `python -m autograder grade submitted --gradebook` alone."""

import csv
import json
import re

import pytest

from course import exercise
from conftest import nbgrader
from formgrader_server import formgrader, graded_by_our_grader

pytestmark = pytest.mark.slow

# The written answer is the student's own markdown: with raw HTML in it, it must not run in the
# instructor's formgrader page (logged in, it could change grades through formgrader's API).
WRITTEN = ("Because EarlyStopping kept training FORMGRADER-MARK epochs past the best one. "
           "<script>document.title = 'HOSTILE-SCRIPT'</script><img src=x onerror=\"alert('HOSTILE-HANDLER')\">")


def test_the_written_question_is_graded_in_formgrader_after_our_grader(course):
    """After `grade submitted --gradebook` (no `nbgrader autograde`), can the instructor open the
    submission in formgrader, see the written answer, grade it there, and export the total?"""
    submission_id = graded_by_our_grader(course, WRITTEN)

    with formgrader(course) as (session, base):
        page = session.get(f"{base}/formgrader/submissions/{submission_id}/", timeout=60)
        assert page.status_code == 200, f"the submission's page must open; got HTTP {page.status_code}"
        # Formgrader's "Manual Grading" list shows only submissions whose autograded notebook exists.
        listed = session.get(f"{base}/formgrader/api/submitted_notebooks/{exercise.name}/callbacks", timeout=30).json()
        assert [(n["id"], n["student"], n["needs_manual_grade"]) for n in listed] == [(submission_id, "alice", True)], listed
        assert "FORMGRADER-MARK" in page.text, "the page must show the written answer"
        # The student's tags show as text: no <script> or tag with a handler forms from them.
        assert "&lt;script&gt;document.title" in page.text, "the written answer must still show what the student wrote"
        for hostile in (r"<script>document\.title", r"<img[^>]*onerror"):
            found = re.search(hostile, page.text)
            assert not found, f"the written answer's HTML must not run in the instructor's page: {found and page.text[found.start() - 200:found.end() + 100]!r}"
        assert 'id="val_loss_question"' in page.text, "the written answer must have formgrader's score box"

        grades = session.get(f"{base}/formgrader/api/grades", params={"submission_id": submission_id}, timeout=30).json()
        (written,) = [grade for grade in grades if grade["name"] == "val_loss_question"]
        assert written["auto_score"] is None and written["needs_manual_grade"], written
        put = session.put(f"{base}/formgrader/api/grade/{written['id']}",
                          data=json.dumps({"manual_score": 1.5, "extra_credit": None}), timeout=30)
        assert put.status_code == 200, f"formgrader must take the manual grade; got HTTP {put.status_code}: {put.text[:500]}"
        assert put.json()["manual_score"] == 1.5 and not put.json()["needs_manual_grade"], put.json()

    nbgrader(course, "export")
    (row,) = csv.DictReader(open(course / "grades.csv"))
    assert (row["student_id"], float(row["raw_score"]), float(row["max_score"])) == ("alice", 11.5, 12.0), row
