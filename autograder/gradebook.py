"""Write grades into nbgrader's gradebook, so that formgrader, manual grading and `nbgrader export` keep working.

Each graded check is an nbgrader grade cell of the same name; its `auto_score` is set to
the score this grader gave. The written question stays with the instructor (manual grade).
All submissions are written in one transaction: the gradebook has all of them or none.
Then each stored submission gets its autograded notebook (`autograder.autograded`), as
`nbgrader autograde` would leave it, so formgrader can show it and take the manual grades.
"""

import datetime
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning

from . import autograded
from .assignment import Assignment
from .submissions import student_id_problem


def record(results, db_url: str, assignment: Assignment, course: Path | None = None) -> list:
    """Store each result's check scores under its student; return the results that name no student.

    The autograded notebooks go in `course`'s autograded folder (default: the assignment's course).

    Only a result whose submission sat at `submitted/<student>/<assignment>/` with a valid
    student id (see `autograder.submissions`) is stored: a grade never lands under a name a
    folder deeper down made up. Raises LookupError when the gradebook does not know the
    assignment (generate it first).
    """
    notebook, name = assignment.source_notebook.stem, assignment.name
    # nbgrader's own update_or_create_submission makes SQLAlchemy warn about autoflush (nbgrader
    # autograde hides its log); they say nothing about this gradebook, so they are not shown.
    with warnings.catch_warnings(), Gradebook(db_url, assignment.course_id) as gradebook:
        warnings.simplefilter("ignore", SAWarning)
        try:
            gradebook.find_assignment(name)
        except MissingEntry:
            raise LookupError(
                f"The gradebook {db_url} has no assignment {name!r}: run `make release` "
                "(nbgrader generate_assignment) for this course first."
            ) from None
        source = gradebook.find_notebook(notebook, name)
        stored = [r for r in results if r.student and not student_id_problem(r.student)]
        notebooks = []
        for result in stored:
            gradebook.update_or_create_student(result.student)
            # With the submission time, nbgrader computes lateness and its export fills the timestamp column.
            when = {"timestamp": datetime.datetime.fromisoformat(result.submitted_at)} if result.submitted_at else {}
            gradebook.update_or_create_submission(name, result.student, **when)
            for test in result.tests:
                grade = gradebook.find_grade(test.name, notebook, name, result.student)
                grade.auto_score = test.score
                # As nbgrader's own autograde: a grade needs a human only once one overrode it.
                grade.needs_manual_grade = grade.manual_score is not None
            note = None if result.status == "graded" else ": ".join(filter(None, (result.status, result.message)))
            try:
                made = autograded.build(result.cells, result.tests, source, note)
            except Exception as error:  # the grader's own failure: formgrader still gets a page for this student
                made = autograded.build(None, result.tests, source, f"The grader could not rebuild this notebook from "
                                        f"its run ({type(error).__name__}: {error}); it shows the release's cells.")
            autograded.record_answers(gradebook, made, notebook, name, result.student, assignment.checks)
            notebooks.append((autograded.path(assignment, result.student, course), made))
        gradebook.db.commit()
    for path, made in notebooks:
        autograded.write(path, made)
    stored_ids = set(map(id, stored))  # by identity: comparing Results field by field is quadratic
    return [r for r in results if id(r) not in stored_ids]
