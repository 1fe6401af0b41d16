"""Grades stored in nbgrader's real gradebook (autograder/gradebook.py), as `nbgrader export` reads them."""

import csv
import warnings

from nbgrader.api import Gradebook

from course import exercise
from autograder.gradebook import record
from autograder.submissions import find_submissions
from conftest import nbgrader
from test_feedback import result


def generated(course):
    nbgrader(course, "generate_assignment", exercise.name)
    return f"sqlite:///{course / 'gradebook.db'}"


def test_submission_times_reach_nbgrader_export(course):
    """Does the time in nbgrader's timestamp.txt become the submission's timestamp, as `nbgrader autograde` stores it?"""
    db = generated(course)
    folder = course / "submitted" / "alice" / exercise.name
    folder.mkdir(parents=True)
    (folder / "callbacks.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("2026-03-01 09:30:00.000000 UTC")
    (submission,) = find_submissions([course / "submitted"])
    graded = result("alice", student="alice")
    graded.submitted_at = submission.timestamp.isoformat()
    record([graded], db, exercise, course)
    with Gradebook(db, exercise.course_id) as gradebook:
        assert str(gradebook.find_submission(exercise.name, "alice").timestamp) == "2026-03-01 09:30:00"
    nbgrader(course, "export")
    (row,) = csv.DictReader(open(course / "grades.csv"))
    assert row["timestamp"].startswith("2026-03-01 09:30:00") and float(row["raw_score"]) == 10.0


def test_an_unreadable_timestamp_is_flagged_not_fatal(course):
    """A timestamp.txt nbgrader cannot parse: is the submission still graded, with a reason for a person?"""
    folder = course / "submitted" / "bob" / exercise.name
    folder.mkdir(parents=True)
    (folder / "callbacks.ipynb").write_text("{}")
    (folder / "timestamp.txt").write_text("yesterday, around noon")
    (submission,) = find_submissions([course / "submitted"])
    assert submission.student == "bob" and submission.timestamp is None
    assert "not a time nbgrader can read" in " ".join(submission.review)


def test_recording_shows_no_warnings(course):
    """Does storing a class print nothing that looks like a failure (nbgrader's SQLAlchemy autoflush warnings)?"""
    db = generated(course)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        record([result(name, student=name) for name in ("alice", "bob", "carol")], db, exercise, course)
    assert [str(w.message) for w in shown] == []
