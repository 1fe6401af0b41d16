"""How the grading of one submission ended: one name per outcome, for results, pages and reports.

A StrEnum: each member is its own string ("timed out"), so results.json, grade sheets and
anything that compares with the plain words keep working.
"""

import enum


class Status(enum.StrEnum):
    GRADED = "graded"  # the notebook ran to its end and every check was run
    REFUSED = "refused"  # the file is not a notebook the grader can run (intake said why)
    TIMED_OUT = "timed out"  # stopped at the wall-clock limit; checks whose snapshots were taken still count
    CRASHED = "crashed"  # the run ended early (a dead kernel, a signal, a full disk)
    VERIFICATION_STOPPED = "verification stopped"  # the grader's reader hung or crashed on the run's files
    GRADER_ERROR = "grader error"  # the grader's own failure, on this submission only
