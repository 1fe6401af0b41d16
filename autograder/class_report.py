"""Write the instructor's one-page report of an assignment's grading run.

At a glance: how scores are spread, how often each check passed, the failure messages
students saw most, how long grading took, and which submissions need a person to look at
them (timeouts, crashes, refused files, grader errors, suspected tampering), each linked to
its feedback page (see `autograder.feedback`).

Suspected tampering is not guessed: a submission is flagged when one of its checks failed
with a message whose code (autograder.messages) is in SUSPECT below (evidence that does not
match a real run of the assignment), and the page prints that list.

Student text (names, messages) is clipped by `autograder.feedback.clip` and autoescaped by
the template; the page has the same no-script Content-Security-Policy as feedback pages.
"""

import collections
import datetime
import math
import os
import re
import statistics
import urllib.parse
from pathlib import Path

from .assignment import Assignment
from .feedback import MAX_NAME, as_dict, check_messages, clip, html_templates, page_names, readable
from .messages import Code
from .status import Status

# Statuses of a run that did not end in a normal grading.
NEEDS_A_HUMAN = {
    Status.TIMED_OUT: "timed out",
    Status.CRASHED: "the run crashed",
    Status.REFUSED: "refused file",
    Status.VERIFICATION_STOPPED: "the grader's reader was stopped on the files the run left",
    Status.GRADER_ERROR: "grader error",
}

# {message code: what it means}: what a run left that a real run of the assignment does not
# leave. A change of setup can also give the first two: "suspected", so a person decides.
SUSPECT = {
    Code.FOREIGN_HISTORY: "history's losses are not those of this assignment's training",
    Code.MODEL_NOT_FROM_HISTORY: "the trained model does not match its history",
    Code.STALE_FILE: "a file the run must write is older than the run (uploaded or stale)",
    Code.NOT_WEIGHTS: "a weights file is not an HDF5 weights file",
    Code.LINK: "a file or folder the run left is a symbolic link",
    Code.SPECIAL_FILE: "a file the run left is not a regular file",
}

TOP_FAILURES = 10


def _failed_tests(data):
    return [t for t in data.get("tests") or [] if isinstance(t, dict) and t.get("status") != "passed"]


def attention(result) -> list[str]:
    """Why a person should look at this submission (empty: no reason)."""
    data = as_dict(result)
    reasons = []
    if why := NEEDS_A_HUMAN.get(data.get("status")):
        reasons.append(why + (f": {clip(data['message'], 300)}" if data.get("message") else ""))
    found = {clip(t.get("name"), 80): {m.code for m in check_messages(t)} for t in _failed_tests(data)}
    for code, meaning in SUSPECT.items():
        checks = [name for name, codes in found.items() if code in codes]
        if checks:
            reasons.append(f"suspected tampering: {meaning} ({', '.join(checks)})")
    reasons += [clip(reason, 500) for reason in data.get("review") or [] if isinstance(reason, str)]
    return reasons


def _number(value, default=0.0):
    """`value` as a finite float, else `default` (a results file may hold anything)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except OverflowError:  # an int no float can hold
        return default
    return number if math.isfinite(number) else default


def score_distribution(results) -> list[dict]:
    """How many submissions scored each whole number of points (10 equal bins past 20 points)."""
    scores = [_number(as_dict(r).get("score")) for r in results]
    top = max([_number(as_dict(r).get("max_score")) for r in results] + scores + [1.0])
    width = 1.0 if top <= 20 else top / 10
    bins = int(top // width) + 1
    counts = collections.Counter(min(int(max(score, 0) // width), bins - 1) for score in scores)
    biggest = max(counts.values(), default=1)
    return [
        {"label": f"{i * width:g}" if width == 1 else f"{i * width:.3g}–{(i + 1) * width:.3g}",
         "count": counts[i], "width": round(100 * counts[i] / biggest, 1)}
        for i in range(bins)
    ]


def check_pass_rates(results, assignment: Assignment) -> list[dict]:
    """Each check, in the assignment's order: points, and how many submissions passed it."""
    names = list(assignment.checks)
    for data in map(as_dict, results):  # checks a results file has beyond the assignment's own
        names += [n for t in data.get("tests") or [] if isinstance(t, dict) and (n := str(t.get("name"))) not in names]
    total = len(results)
    rows = []
    for name in names:
        passed = sum(any(isinstance(t, dict) and t.get("name") == name and t.get("status") == "passed"
                         for t in as_dict(r).get("tests") or []) for r in results)
        percent = round(100 * passed / total) if total else 0
        rows.append({"name": clip(name, 80), "points": f"{assignment.checks.get(name, 0):g}",
                     "passed": passed, "total": total, "percent": percent})
    return rows


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def common_failures(results, limit: int = TOP_FAILURES) -> list[dict]:
    """The failure messages that most submissions got, counted once per submission.

    Messages that differ only in numbers (epochs, losses) count as one; the page shows the
    wording most of them had.
    """
    students = collections.Counter()
    wordings = collections.defaultdict(collections.Counter)
    checks = collections.defaultdict(dict)
    for data in map(as_dict, results):
        seen = {}  # ordered, so that equal counts keep the order students met them
        for test in _failed_tests(data):
            for message in (m.text for m in check_messages(test)):
                key = _NUMBER.sub("#", message)
                wordings[key][message] += 1
                checks[key][clip(test.get("name"), 80)] = None
                seen[key] = None
        students.update(seen.keys())
    ranked = sorted(students.items(), key=lambda item: -item[1])[:limit]
    return [{"count": count, "message": wordings[key].most_common(1)[0][0],
             "varies": len(wordings[key]) > 1, "checks": list(checks[key])} for key, count in ranked]


def timing(results, grading_seconds: float) -> dict:
    """How long grading took: the whole batch, and each notebook's run."""
    runs = [(_number(as_dict(r).get("seconds")), as_dict(r)["submission"]) for r in results]
    seconds = [s for s, _ in runs]
    slowest = max(runs, default=(0.0, ""))
    return {
        "total": _duration(grading_seconds),
        "median": _duration(statistics.median(seconds)) if seconds else "–",
        "slowest": _duration(slowest[0]) if seconds else "–",
        "slowest_name": clip(slowest[1], MAX_NAME),
        "per_notebook": _duration(grading_seconds / len(results)) if results else "–",
    }


def _duration(seconds: float) -> str:
    seconds = max(_number(seconds), 0.0)
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def _link(page: Path, report_dir: Path) -> str:
    """A relative URL from the report to a feedback page (file names are already safe)."""
    return urllib.parse.quote(Path(os.path.relpath(page.absolute(), report_dir.absolute())).as_posix())


def _row(data, href, page_problem=None) -> dict:
    tests = [t for t in data.get("tests") or [] if isinstance(t, dict)]
    return {
        "name": clip(data["submission"], MAX_NAME),
        "href": href,
        "score": f"{_number(data.get('score')):g}",
        "max_score": f"{_number(data.get('max_score')):g}",
        "status": clip(data.get("status"), 40),
        "passed": sum(t.get("status") == "passed" for t in tests),
        "checks": len(tests),
        "seconds": _duration(data.get("seconds")),
        "reasons": attention(data) + ([clip(page_problem, 500)] if page_problem else []),
    }


def report_view(results, assignment: Assignment, *, report_dir: Path, feedback_dir: Path, grading_seconds: float,
                page_problems: dict | None = None) -> dict:
    """Everything the class report shows, cleaned: what the template renders.

    `page_problems` ({submission: why}, from `feedback.write_feedback`) names the feedback
    pages that could not be rendered; those submissions are listed as needing a person.
    """
    results = [readable(r) for r in results]
    stems = page_names(results)
    page_problems = page_problems or {}
    rows = []
    for data in results:
        href = _link(Path(feedback_dir) / f"{stems[data['submission']]}.html", Path(report_dir))
        try:
            rows.append(_row(data, href, page_problems.get(data["submission"])))
        except Exception as error:  # one poisoned result costs only its own row
            rows.append({"name": clip(data["submission"], MAX_NAME), "href": href, "score": "?", "max_score": "?",
                         "status": "unreadable", "passed": 0, "checks": 0, "seconds": "–",
                         "reasons": [f"its result could not be shown ({type(error).__name__}: {clip(error, 200)})"]})
    scores = [_number(data.get("score")) for data in results]
    max_score = max([_number(data.get("max_score")) for data in results], default=0.0)
    hand = assignment.hand_graded
    return {
        "assignment": clip(assignment.name, 80),
        "count": len(results),
        "mean": f"{statistics.mean(scores):.1f}" if scores else "–",
        "median": f"{statistics.median(scores):g}" if scores else "–",
        "max_score": f"{max_score:g}",
        "full_marks": sum(score == max_score for score in scores) if max_score else 0,
        # Graded by hand in formgrader after this report: nbgrader's total is max_score + these.
        "hand_graded": [{"name": name, "max_score": f"{points:g}"} for name, points in hand.items()],
        "total_with_hand": f"{max_score + sum(hand.values()):g}",
        "distribution": score_distribution(results),
        "checks": check_pass_rates(results, assignment),
        "failures": common_failures(results),
        "timing": timing(results, grading_seconds),
        "rows": rows,
        "attention": [row for row in rows if row["reasons"]],
        "suspect": SUSPECT,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render_class_report(results, assignment: Assignment, *, report_dir: Path, feedback_dir: Path,
                        grading_seconds: float, page_problems: dict | None = None) -> str:
    """The class report as self-contained HTML (no script, no network)."""
    view = report_view(results, assignment, report_dir=report_dir, feedback_dir=feedback_dir,
                       grading_seconds=grading_seconds, page_problems=page_problems)
    return html_templates().get_template("class_report.html.j2").render(view)


def write_class_report(results, path: Path, assignment: Assignment, *, feedback_dir: Path, grading_seconds: float,
                       page_problems: dict | None = None) -> Path:
    """Write the class report to `path`, linking each submission to its page in `feedback_dir`."""
    from .grade import write_atomically

    path = Path(path)
    write_atomically(path, render_class_report(results, assignment, report_dir=path.parent, feedback_dir=feedback_dir,
                                               grading_seconds=grading_seconds, page_problems=page_problems))
    return path
