"""Check messages as data: a code that reports act on, and a text the student reads.

A hidden check fails with `fail(text, code)`, or with a plain assert or pytest.fail (code
FAILED). A failure raised while handling evidence.BadEvidence takes the evidence's code, so
a check that wraps "the file is a symbolic link" in its own sentence still says what it found.
The class report flags submissions by these codes, never by the words of a message.
"""

from dataclasses import asdict, dataclass
from enum import StrEnum


class Code(StrEnum):
    FAILED = "failed"  # what the check looked for is not there; the text says what and how to fix it
    CHECK_CRASHED = "check crashed"  # the check itself raised: the grader's bug
    NOT_CHECKED = "not checked"  # nothing of this submission was checked; its status says why
    # What a run left that a real run of the assignment does not leave (suspected tampering):
    FOREIGN_HISTORY = "foreign history"  # history's numbers are not those of this assignment's training
    MODEL_NOT_FROM_HISTORY = "model not from history"  # the trained model does not match its history
    STALE_FILE = "stale file"  # a file the run must write is older than the run
    NOT_WEIGHTS = "not weights"  # a weights file is not HDF5
    LINK = "link"  # a file or folder the run left is a symbolic link
    SPECIAL_FILE = "special file"  # a file the run left is a folder, FIFO or device where a file belongs


@dataclass(frozen=True)
class Message:
    code: str  # a Code, or an assignment's own code
    text: str  # for the student (Markdown-safe plain text)

    def to_dict(self):
        return asdict(self)


class CheckFailed(AssertionError):
    """A check's failure with its code; pytest reports it as a failed assertion."""

    def __init__(self, text: str, code: str = Code.FAILED):
        super().__init__(text)
        self.message = Message(str(code), text)


def fail(text: str, code: str = Code.FAILED):
    """Fail the running check with `text` for the student and `code` for the reports."""
    __tracebackhide__ = True
    raise CheckFailed(text, code)


def as_markdown(messages) -> str:
    """The messages as Gradescope's `output`: one Markdown list item each."""
    return "\n".join(f"- {message.text}" for message in messages)
