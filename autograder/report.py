"""Everything one assignment's grading writes, from its results: the single report entry point.

The command line and the Dask front end call `write_report`, so a class graded either way gets
the same files (the Gradescope bundle grades one submission, and Gradescope keeps only its
results.json: autograder.gradescope puts the same feedback page in it instead):

- the results (JSON, strict), and a grade sheet (CSV) when asked;
- the scores in nbgrader's gradebook with the autograded notebooks, when asked;
- a feedback page per submission (HTML and Markdown) beside the results, and in nbgrader's
  feedback/ folder when the class came from a course's submitted/ folder;
- the class report, linking each submission to its page.

Results and grades are written first: a failure of the pages or the report (the grader's
bug) is told in `Report.failed` and costs no grade.
"""

from dataclasses import dataclass, field
from pathlib import Path

from .assignment import Assignment
from .grade import grade_sheet, results_json, write_atomically


@dataclass
class Report:
    """Where one assignment's grading went, and what could not be written."""

    results: Path
    grade_sheet: Path | None = None
    gradebook: str | None = None
    not_in_gradebook: list = field(default_factory=list)  # results that name no nbgrader student
    feedback: Path | None = None  # folder of <submission>.html and .md
    nbgrader_feedback: object = None  # feedback.NbgraderFeedback, for a class from submitted/
    class_report: Path | None = None
    page_problems: dict = field(default_factory=dict)  # submission -> why its page is a placeholder
    failed: str | None = None  # why the pages or the class report could not be written


def write_report(results, assignment: Assignment, results_path: Path, *, grade_sheet_path: Path | None = None,
                 gradebook: str | None = None, nbgrader_course: Path | None = None,
                 grading_seconds: float = 0.0) -> Report:
    """Write `results` of `assignment`: the results file at `results_path`, the pages and the class
    report beside it, and the rest where asked. Raises LookupError when `gradebook` does not know
    the assignment (results and grade sheet are written by then)."""
    results_path = Path(results_path)
    report = Report(results_path, grade_sheet_path and Path(grade_sheet_path), gradebook)
    write_atomically(results_path, results_json(results))
    if report.grade_sheet:
        write_atomically(report.grade_sheet, grade_sheet(results))
    if gradebook:
        from .gradebook import record

        report.not_in_gradebook = record(results, gradebook, assignment)
    try:
        _write_pages(results, assignment, results_path.parent, report, nbgrader_course, grading_seconds)
    except Exception as error:  # the grader's own failure: the grades stand
        report.failed = f"Writing the feedback pages or the class report failed: {type(error).__name__}: {error}"
    return report


def _write_pages(results, assignment, out: Path, report: Report, nbgrader_course, grading_seconds):
    from .class_report import write_class_report
    from .feedback import write_feedback, write_nbgrader_feedback

    report.feedback = out / "feedback"
    write_feedback(results, report.feedback, assignment, problems=report.page_problems)
    if nbgrader_course is not None:
        report.nbgrader_feedback = write_nbgrader_feedback(results, Path(nbgrader_course), assignment)
    report.class_report = write_class_report(results, out / "class-report.html", assignment, feedback_dir=report.feedback,
                                             grading_seconds=grading_seconds, page_problems=report.page_problems)


def nbgrader_course(paths) -> Path | None:
    """The nbgrader course a class was read from: the parent of a `submitted` folder among `paths` (None: none)."""
    for path in map(Path, paths):
        if path.is_dir() and path.resolve().name == "submitted":
            return path.resolve().parent
    return None
