"""Command line: `python -m autograder grade|verify|reference|gradescope|gradescope-run ...`; each command is one library call."""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from . import assignment
from .status import Status


def _grade(args):
    from tqdm import tqdm

    from .grade import find_submissions, grade
    from .sandbox import Limits, SandboxUnavailable
    from .untrusted_text import terminal

    ignored = []
    submissions = find_submissions(args.paths, ignored, assignments=list(assignment.find()))
    for skipped in ignored:
        print(f"WARNING: not graded: {terminal(skipped.path)}: {terminal(skipped.reason)}", file=sys.stderr)
    if not submissions:
        sys.exit(f"No notebooks found in {' '.join(args.paths)}.")
    batches = _by_assignment(submissions, args.assignment)
    if args.dask and args.no_sandbox:
        sys.exit("--dask runs every submission in a worker's sandbox; --no-sandbox cannot be combined with it.")
    if args.no_sandbox:
        print("WARNING: --no-sandbox: submissions run with your privileges, network and files. "
              "Use it only for notebooks you trust (your own).", file=sys.stderr)
    counts = {"failed": 0, "timed out": 0}
    failed = None
    with _cluster(args.dask) as client, \
            tqdm(total=len(submissions), desc="grading", unit="nb", file=sys.stderr, disable=args.quiet) as bar:
        def progress(result):
            counts["failed"] += result.status != Status.GRADED
            counts["timed out"] += result.status == Status.TIMED_OUT
            bar.set_postfix(counts, refresh=False)
            bar.update()

        graded = []
        for exercise, batch in batches.items():
            started = time.monotonic()
            try:
                if client is not None:
                    from .dask_cluster import grade_on_cluster

                    results = grade_on_cluster(batch, exercise, client, limits=Limits(wall_seconds=args.timeout),
                                               progress=progress)
                else:
                    results = grade(batch, exercise, jobs=args.jobs, sandbox=not args.no_sandbox,
                                    limits=Limits(wall_seconds=args.timeout), progress=progress)
            except SandboxUnavailable as error:
                sys.exit(f"{error}\nOr pass --no-sandbox for notebooks you trust (your own).")
            graded.append((exercise, results, time.monotonic() - started))
    for exercise, results, seconds in graded:
        failed = _report(exercise, results, seconds, args, Path(args.json).parent / exercise.name if len(graded) > 1 else None) or failed
    if failed:
        sys.exit(failed)


@contextlib.contextmanager
def _cluster(address: str | None):
    """A Dask client for `--dask ADDRESS` (autograder.dask_cluster), else None: grade on this machine."""
    if not address:
        yield None
        return
    from .dask_cluster import ClusterUnfit, connect

    try:
        with connect(address) as client:
            yield client
    except (ClusterUnfit, ValueError, OSError) as error:
        sys.exit(f"Cannot grade on the Dask cluster {address}: {error}")


def _by_assignment(submissions, named: str | None) -> dict:
    """{Assignment: its submissions}: each as nbgrader's layout says, else `--assignment`, else the course's only one."""
    known = assignment.find()
    if named is not None and named not in known:
        sys.exit(f"--assignment must name one of the course's assignments ({', '.join(known) or 'none'}); got {named!r}.")
    batches = {}
    for submission in submissions:
        name = submission.assignment or named or (next(iter(known)) if len(known) == 1 else None)
        if name is None:
            sys.exit(f"{submission.path} is not in nbgrader's submitted/<student>/<assignment>/ layout: say which "
                     f"assignment it is with --assignment ({', '.join(known)}).")
        if named is not None and name != named:
            print(f"WARNING: not graded: {submission.path}: it is a submission of {name!r}, not of --assignment {named!r}",
                  file=sys.stderr)
            continue
        batches.setdefault(assignment.get(name), []).append(submission)
    return batches


def _report(exercise, results, grading_seconds, args, folder: Path | None) -> str | None:
    """Write and print one assignment's results: `folder` holds them when the batch had several assignments."""
    from .grade import table
    from .report import nbgrader_course, write_report
    from .untrusted_text import terminal

    def place(path):
        return Path(path) if folder is None else folder / Path(path).name

    try:
        report = write_report(results, exercise, place(args.json), grade_sheet_path=args.csv and place(args.csv),
                              gradebook=args.gradebook, nbgrader_course=nbgrader_course(args.paths),
                              grading_seconds=grading_seconds)
    except LookupError as error:  # the gradebook does not know the assignment
        sys.exit(str(error))
    if written := report.nbgrader_feedback:
        print(f"nbgrader feedback: {len(written.written)} page(s) in {nbgrader_course(args.paths) / 'feedback'}"
              + (f"; none for {len(written.skipped)} without nbgrader's submission files" if written.skipped else "")
              + (f"; {len(written.unrendered)} placeholder page(s) that could not be rendered" if written.unrendered else ""))
    for name, why in report.page_problems.items():
        print(f"Feedback of {terminal(name)}: {terminal(why)}", file=sys.stderr)
    if folder is not None:
        print(f"\n{exercise.name}:")
    print(table(results))
    if report.not_in_gradebook:
        print(f"Not in the gradebook (no nbgrader student id): {', '.join(terminal(r.submission) for r in report.not_in_gradebook)}")
    print(f"\nResults: {report.results}" + (f", grade sheet: {report.grade_sheet}" if report.grade_sheet else "")
          + (f", gradebook: {report.gradebook}" if report.gradebook else ""))
    if not report.failed:
        print(f"Feedback: {report.feedback}/<submission>.html (and .md); class report: {report.class_report}")
    return report.failed


def _verify(args):
    from .verify import Context, verify

    exercise = assignment.get(args.assignment)
    unknown = sorted(set(args.check or ()) - set(exercise.checks))
    if unknown:
        sys.exit(f"--check must name checks of {exercise.name} ({', '.join(exercise.checks)}); got {', '.join(unknown)}.")
    results = verify(Context(exercise, Path(args.work).resolve(), args.started_at), only=args.check or None)
    json.dump([result.to_dict() for result in results], sys.stdout)


def _reference(args):
    from .reference import record

    names = [args.assignment] if args.assignment else list(assignment.find())
    for name in names:
        exercise = assignment.get(name)
        record(exercise, Path(args.output) if args.output else None)
        print(f"{exercise.name}: recorded {args.output or exercise.reference_file}")


def _gradescope(args):
    from .gradescope import build

    try:
        bundle = build(assignment.get(args.assignment), Path(args.output))
    except LookupError as error:
        sys.exit(str(error))
    print(f"{bundle}: {bundle.stat().st_size / 2**20:.1f} MiB; upload it in Gradescope's Configure Autograder "
          "(base image: Ubuntu 24.04)")


def _gradescope_run(args):
    from .gradescope import check, run

    if args.check:
        print(check(Path(args.root)))
    else:
        run(Path(args.root))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade submissions: notebooks, or folders such as nbgrader's submitted/")
    grade.add_argument("paths", nargs="+", metavar="PATH")
    grade.add_argument("--json", required=True, metavar="OUT", help="write the results here (a JSON list); with "
                       "several assignments in the batch, each one's results go in a folder named after it beside OUT")
    grade.add_argument("--assignment", metavar="NAME", help="grade only this assignment; needed for notebooks outside "
                       "nbgrader's submitted/<student>/<assignment>/ layout when the course has several")
    grade.add_argument("--csv", metavar="OUT", help="also write a grade sheet here")
    grade.add_argument("--gradebook", nargs="?", const=assignment.default_gradebook(), metavar="DB_URL",
                       help="also store the scores in nbgrader's gradebook (default: the course's gradebook.db); "
                            "submissions are named by student, as in nbgrader's submitted/ folder")
    grade.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks run at once (default: the number of cores)")
    grade.add_argument("--timeout", type=float, default=180.0, metavar="SECONDS", help="wall-clock limit of one notebook (default: 180)")
    grade.add_argument("--dask", metavar="ADDRESS", help="grade on a Dask cluster: a scheduler's address "
                       "(tcp://host:8786), or local:N for N worker processes on this machine; --jobs is then unused")
    grade.add_argument("--no-sandbox", action="store_true", help="run without isolation: only for notebooks you trust")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(run=_grade)

    verify = commands.add_parser("verify", help="run the hidden checks on a folder a notebook ran in; print JSON")
    verify.add_argument("work", metavar="FOLDER")
    verify.add_argument("--assignment", required=True, metavar="NAME", help="the assignment whose notebook ran there")
    verify.add_argument("--check", action="append", metavar="NAME", help="only this check (repeatable)")
    verify.add_argument("--started-at", type=float, help="when the run started (seconds since the epoch)")
    verify.set_defaults(run=_verify)

    reference = commands.add_parser("reference", help="re-run the solution and the canonical training; record reference.json")
    reference.add_argument("assignment", nargs="?", metavar="NAME", help="only this assignment (default: every one)")
    reference.add_argument("--output", metavar="FILE", help="write here instead of the assignment's grading/reference.json")
    reference.set_defaults(run=_reference)

    gradescope = commands.add_parser("gradescope", help="build Gradescope's autograder zip for an assignment")
    gradescope.add_argument("assignment", metavar="ASSIGNMENT")
    gradescope.add_argument("--output", required=True, metavar="ZIP", help="where to write the zip (autograder.zip)")
    gradescope.set_defaults(run=_gradescope)

    gradescope_run = commands.add_parser("gradescope-run", help="inside Gradescope (run_autograder): grade "
                                         "ROOT/submission, write ROOT/results/results.json")
    gradescope_run.add_argument("--root", default="/autograder", help="Gradescope's folder (default: /autograder)")
    gradescope_run.add_argument("--check", action="store_true", help="only check that the bundle can grade (setup.sh)")
    gradescope_run.set_defaults(run=_gradescope_run)

    args = parser.parse_args(argv)
    args.run(args)
