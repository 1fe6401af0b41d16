"""Command line: `python -m autograder grade|verify|reference ...`; each command is one library call."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import exercise


def _grade(args):
    from tqdm import tqdm

    from .grade import find_submissions, grade, grade_sheet, results_json, table, write_atomically
    from .sandbox import Limits, SandboxUnavailable
    from .untrusted_text import terminal

    ignored = []
    submissions = find_submissions(args.paths, ignored)
    for skipped in ignored:
        print(f"WARNING: not graded: {terminal(skipped.path)}: {terminal(skipped.reason)}", file=sys.stderr)
    if not submissions:
        sys.exit(f"No notebooks found in {' '.join(args.paths)}.")
    if args.no_sandbox:
        print("WARNING: --no-sandbox: submissions run with your privileges, network and files. "
              "Use it only for notebooks you trust (your own).", file=sys.stderr)
    counts = {"failed": 0, "timed out": 0}
    with tqdm(total=len(submissions), desc="grading", unit="nb", file=sys.stderr, disable=args.quiet) as bar:
        def progress(result):
            counts["failed"] += result.status != "graded"
            counts["timed out"] += result.status == "timed out"
            bar.set_postfix(counts, refresh=False)
            bar.update()

        started = time.monotonic()
        try:
            results = grade(submissions, jobs=args.jobs, sandbox=not args.no_sandbox,
                            limits=Limits(wall_seconds=args.timeout), progress=progress)
        except SandboxUnavailable as error:
            sys.exit(f"{error}\nInstall it with `make setup`, or pass --no-sandbox for notebooks you trust.")
    grading_seconds = time.monotonic() - started
    write_atomically(Path(args.json), results_json(results))
    if args.csv:
        write_atomically(Path(args.csv), grade_sheet(results))
    if args.gradebook:
        from .gradebook import record

        try:
            unstored = record(results, args.gradebook)
        except LookupError as error:
            sys.exit(str(error))
    try:
        feedback, report = _write_feedback(results, args, grading_seconds)
        failed = None
    except Exception as error:  # the grader's own failure: still show the grades, then exit 1
        failed = f"Writing the feedback pages or the class report failed: {type(error).__name__}: {error}"
    print(table(results))
    if args.gradebook and unstored:
        print(f"Not in the gradebook (no nbgrader student id): {', '.join(terminal(r.submission) for r in unstored)}")
    print(f"\nResults: {args.json}" + (f", grade sheet: {args.csv}" if args.csv else "")
          + (f", gradebook: {args.gradebook}" if args.gradebook else ""))
    if failed:
        sys.exit(failed)
    print(f"Feedback: {feedback}/<submission>.html (and .md); class report: {report}")


def _write_feedback(results, args, grading_seconds):
    """Feedback pages and the class report beside the results; nbgrader's feedback/ for a submitted/ folder."""
    from .class_report import write_class_report
    from .feedback import write_feedback, write_nbgrader_feedback
    from .untrusted_text import terminal

    out = Path(args.json).parent
    problems = {}  # submission -> why its page is a placeholder: the class report lists them
    write_feedback(results, out / "feedback", problems=problems)
    for path in map(Path, args.paths):
        if path.is_dir() and path.resolve().name == "submitted":  # nbgrader's layout: the course is its parent
            written = write_nbgrader_feedback(results, path.resolve().parent)
            print(f"nbgrader feedback: {len(written.written)} page(s) in {path.resolve().parent / 'feedback'}"
                  + (f"; none for {len(written.skipped)} without nbgrader's submission files" if written.skipped else "")
                  + (f"; {len(written.unrendered)} placeholder page(s) that could not be rendered" if written.unrendered else ""))
    report = write_class_report(results, out / "class-report.html", feedback_dir=out / "feedback",
                                grading_seconds=grading_seconds, page_problems=problems)
    for name, why in problems.items():
        print(f"Feedback of {terminal(name)}: {terminal(why)}", file=sys.stderr)
    return out / "feedback", report


def _verify(args):
    from .verify import Context, verify

    results = verify(Context(Path(args.work).resolve(), args.started_at), only=args.check or None)
    json.dump([result.to_dict() for result in results], sys.stdout)


def _reference(args):
    from .reference import record

    record(Path(args.output))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade submissions: notebooks, or folders such as nbgrader's submitted/")
    grade.add_argument("paths", nargs="+", metavar="PATH")
    grade.add_argument("--json", required=True, metavar="OUT", help="write the results here (a JSON list)")
    grade.add_argument("--csv", metavar="OUT", help="also write a grade sheet here")
    grade.add_argument("--gradebook", nargs="?", const=exercise.default_gradebook(), metavar="DB_URL",
                       help="also store the scores in nbgrader's gradebook (default: the course's gradebook.db); "
                            "submissions are named by student, as in nbgrader's submitted/ folder")
    grade.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks run at once (default: the number of cores)")
    grade.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS", help="wall-clock limit of one notebook (default: 180)")
    grade.add_argument("--no-sandbox", action="store_true", help="run without isolation: only for notebooks you trust")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(run=_grade)

    verify = commands.add_parser("verify", help="run the hidden checks on a folder a notebook ran in; print JSON")
    verify.add_argument("work", metavar="FOLDER")
    verify.add_argument("--check", action="append", choices=list(exercise.checks()), help="only this check (repeatable)")
    verify.add_argument("--started-at", type=float, help="when the run started (seconds since the epoch)")
    verify.set_defaults(run=_verify)

    reference = commands.add_parser("reference", help="re-run the reference training and solution; record reference.json")
    reference.add_argument("--output", default=str(exercise.REFERENCE_FILE), metavar="FILE")
    reference.set_defaults(run=_reference)

    args = parser.parse_args(argv)
    args.run(args)
