"""Find the submissions to grade, and name each after its student only where nbgrader's layout says so.

Folder and file names come from students (a student controls everything inside their own
`submitted/<student>/` folder), so they are untrusted input: only a notebook at exactly
`submitted/<student>/<assignment>/<notebook>.ipynb` names a student, and only with a
student id nbgrader itself would accept. Anything else is ignored with a reason, or graded
under its path and never stored in the gradebook.
"""

import datetime
import os
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import assignment

SUBMITTED = "submitted"  # nbgrader's folder of collected submissions
MAX_STUDENT_ID = 128  # the length of nbgrader's Student.id column
# nbgrader finds students by globbing `submitted/*/<assignment>`, and refuses `+` in assignment ids.
GLOB_AND_SPECIAL = set("*?[]+/\\")


@dataclass(frozen=True)
class Submission:
    name: str  # how results, sheets and pages call it; unique in a batch
    path: Path
    student: str | None = None  # nbgrader's student id, when the layout names a valid one
    review: tuple = ()  # why a person should look, found before grading
    timestamp: datetime.datetime | None = None  # when it was submitted, from nbgrader's timestamp.txt (UTC)
    assignment: str | None = None  # the assignment nbgrader's layout names (None: a loose notebook)


@dataclass(frozen=True)
class Ignored:
    path: Path
    reason: str


def student_id_problem(name: str) -> str | None:
    """Why `name` cannot be an nbgrader student id (None: it can)."""
    if not name or name != name.strip():
        return "a student id must be non-empty, without leading or trailing spaces"
    if len(name) > MAX_STUDENT_ID:
        return f"a student id has at most {MAX_STUDENT_ID} characters; this one has {len(name)}"
    if name.startswith("."):
        return "a student id must not start with a dot (nbgrader skips hidden folders)"
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name):
        return "a student id must not hold control, format or separator characters"
    if GLOB_AND_SPECIAL & set(name):
        return f"a student id must not hold any of {''.join(sorted(GLOB_AND_SPECIAL))}"
    return None


def find_submissions(paths, ignored: list | None = None, assignments=None) -> list[Submission]:
    """The notebooks named in `paths`, or found in folders; `ignored` collects what was left out and why.

    `assignments`: the names of the assignments that nbgrader's layout may hold (default: every
    assignment of the course); a submission in that layout knows its assignment.

    A folder called `submitted` is read as nbgrader's layout: exactly
    `<student>/<assignment>/<notebook>.ipynb` per student, nothing deeper or shallower.
    Any other folder is searched whole and its notebooks are named by their paths.
    """
    ignored = [] if ignored is None else ignored
    assignments = sorted(assignment.find()) if assignments is None else list(assignments)
    found = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(_named_file(path, assignments))
        elif path.resolve().name == SUBMITTED:
            found += _nbgrader_layout(path, ignored, assignments)
        else:
            found += [Submission(notebook.relative_to(path).with_suffix("").as_posix(), notebook)
                      for notebook in _notebooks(path)]
    # The same file reached twice (a folder and a notebook in it) is one submission: keep the first.
    first = {}
    for submission in found:
        first.setdefault(submission.path.resolve(), submission)
    by_assignment = {}
    for submission in first.values():
        by_assignment.setdefault(submission.assignment, []).append(submission)
    return [unique for group in by_assignment.values() for unique in _unique(group)]


def _named_file(path: Path, assignments) -> Submission:
    """A notebook named on the command line: its student's, if it sits where nbgrader puts one."""
    parts = path.absolute().parts
    if len(parts) >= 4 and parts[-4] == SUBMITTED and parts[-2] in assignments and not student_id_problem(parts[-3]):
        return _of_student(parts[-3], path, parts[-2])
    return Submission(path.stem, path)


TIMESTAMP = "timestamp.txt"  # written by nbgrader's submit and kept by collect, beside the notebook
MAX_TIMESTAMP_BYTES = 100


def _of_student(student: str, notebook: Path, assignment: str) -> Submission:
    """The submission of `student`, with its time of submission as nbgrader reads it (late penalties need it)."""
    from nbgrader.utils import parse_utc

    path = notebook.parent / TIMESTAMP
    if not path.is_file() or path.is_symlink():
        return Submission(student, notebook, student, assignment=assignment)
    try:
        with open(path, "rb") as file:
            text = file.read(MAX_TIMESTAMP_BYTES + 1).decode("utf-8").strip()
        if len(text) > MAX_TIMESTAMP_BYTES:
            raise ValueError("too long")
        return Submission(student, notebook, student, timestamp=parse_utc(text), assignment=assignment)
    except (OSError, ValueError, OverflowError):  # nbgrader's own autograde stops the class on such a file
        why = f"its {TIMESTAMP} is not a time nbgrader can read, so it is stored without a submission time (no late penalty)"
        return Submission(student, notebook, student, (why,), assignment=assignment)


def _notebooks(folder: Path):
    for root, dirs, files in os.walk(folder):  # does not follow links into other folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(root) / name for name in sorted(files) if name.endswith(".ipynb"))


def _nbgrader_layout(submitted: Path, ignored: list, assignments) -> list[Submission]:
    by_student = {}
    for notebook in _notebooks(submitted):
        parts = notebook.relative_to(submitted).parts
        if len(parts) != 3:
            ignored.append(Ignored(notebook, f"not at {SUBMITTED}/<student>/<assignment>/<notebook>.ipynb "
                                             f"({len(parts) - 1} folders deep instead of 2)"))
        elif parts[1] not in assignments:
            ignored.append(Ignored(notebook, f"the assignment folder must be one of the course's assignments "
                                             f"({', '.join(map(repr, assignments)) or 'none'}); got {parts[1]!r}"))
        elif problem := student_id_problem(parts[0]):
            ignored.append(Ignored(notebook, f"{problem}; got {parts[0]!r}"))
        else:
            by_student.setdefault((parts[0], parts[1]), []).append(notebook)
    found = []
    for (student, assignment_name), notebooks in by_student.items():
        if len(notebooks) == 1:
            found.append(_of_student(student, notebooks[0], assignment_name))
            continue
        # Which one counts is the instructor's call: grade each under its path, store none.
        names = ", ".join(n.name for n in notebooks)
        reason = f"{student} submitted {len(notebooks)} notebooks ({names}); none is stored in the gradebook until a person picks one"
        found += [Submission(f"{student}/{n.name}", n, None, (reason,), assignment=assignment_name) for n in notebooks]
    return found


def _unique(found: list[Submission]) -> list[Submission]:
    """Make names unique: a student keeps their id; any other notebook whose name is taken is named by its path."""
    students = [s.student for s in found if s.student]
    taken = set(students)
    if len(taken) != len(students):  # one student named twice (two PATHs reaching one folder)
        raise ValueError(f"each student must be graded once; named twice: {sorted({s for s in students if students.count(s) > 1})}")
    names = Counter(s.name for s in found)
    return [s if s.student or (names[s.name] == 1 and s.name not in taken)
            else Submission(s.path.as_posix(), s.path, None, s.review, assignment=s.assignment) for s in found]
