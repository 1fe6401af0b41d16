"""The named cases of each assignment, written once: `tests/cases/<assignment>.py`.

A case is a student notebook described by what differs from the solution (the answer cells a
student wrote otherwise, and optionally an edit of the cells) and by what the grader must make
of it: the checks it fails, each with a substring its message must hold; every other check
gets full points. Each assignment's module holds

    SOLUTION, UNTOUCHED   the instructor's answers (full marks) and the release as handed out (0)
    MISTAKES              named student mistakes, each failing exactly its checks
    STYLES                honest ways of writing the answers, each keeping full marks
    CLASS                 {student: case}: the example class (example/make_submissions.py),
                          which nbgrader also autogrades in tests/test_nbgrader.py
    NBGRADER_DIFFERS      {student: {check: score}} where nbgrader scores that class otherwise, and why
    DETERMINISM           a mistake that trains: graded next to the solution in tests/test_determinism.py

Read from here by tests/test_mistakes.py, test_determinism.py, test_nbgrader.py and
test_cases.py, example/make_submissions.py and benchmarks/grading_speed.py.

    from cases import catalogue
    for case in catalogue(exercise).MISTAKES:
        case.notebook(exercise)  # the release with the case's answers
"""

import importlib
from dataclasses import dataclass
from typing import Callable

from notebooks import answers_of, submission_of


@dataclass(frozen=True)
class Case:
    name: str
    answers: dict  # answer cell -> source, where it differs from the solution (None: left as released)
    fails: dict  # check -> a substring its message must contain; every other check passes with full points
    why: str = ""  # why exactly these checks fail, from the checks' code and Keras's semantics
    edit: Callable | None = None  # changes the notebook's cells beyond the answers
    never_says: tuple = ()  # advice no message may give (about what the student did right)
    epochs: int | None = None  # how many epochs the run trains, where the case is about that
    grader_bug: str = ""  # set when the grader disagrees with this expectation (reported to the lead)

    @property
    def statement(self) -> str:
        """What the grader must do with it, as a test id: "patience 3 fails early_stopping and stopped_early only"."""
        if not self.fails:
            return f"{self.name} gets full marks"
        names = list(self.fails)
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        return f"{self.name} fails {listed} only"

    def notebook(self, exercise):
        """`exercise`'s release notebook holding this case's answers."""
        notebook = submission_of(exercise, **self.answers)
        return self.edit(notebook) if self.edit else notebook

    def scores(self, exercise) -> dict:
        """{check: points} the grader must give: 0 for the checks it fails, full points for the others."""
        return {check: 0.0 if check in self.fails else points for check, points in exercise.checks.items()}

    def score(self, exercise) -> float:
        return sum(self.scores(exercise).values())


SOLUTION = Case("solution", {}, {}, "The instructor's own answers.")


def untouched(exercise, **said) -> Case:
    """The release as handed out: every answer cell still raises NotImplementedError, and every check
    says so (`said`: check -> what its message says instead, where it does not)."""
    return Case("untouched release", {name: None for name in answers_of(exercise)},
                {check: said.get(check, "still raises NotImplementedError") for check in exercise.checks},
                "No answer is written: every check fails, naming the NotImplementedError.")


def named(cases, name) -> Case:
    """The case called `name` among `cases`."""
    found = [case for case in cases if case.name == name]
    if len(found) != 1:
        raise LookupError(f"Exactly one case must be named {name!r}; found {len(found)} among {[c.name for c in cases]}.")
    return found[0]


def catalogue(exercise):
    """The module of `exercise`'s cases, tests/cases/<name>.py."""
    try:
        return importlib.import_module(f"{__name__}.{exercise.name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{exercise.name}":
            raise
        raise LookupError(f"The assignment {exercise.name!r} has no cases: write tests/cases/{exercise.name}.py "
                          "(see tests/cases/callbacks.py).") from None
