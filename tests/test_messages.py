"""Check messages as data: does every way a hidden check can fail give the student's text and the right code?"""

import contextlib
import os

import pytest

from autograder import verify
from autograder.messages import Code, Message

CHECKS = '''
import pytest

from autograder import evidence
from autograder.messages import Code, fail


def test_says_its_own_code():
    fail("history is not this model's.", Code.MODEL_NOT_FROM_HISTORY)


def test_wraps_evidence():
    try:
        raise evidence.BadEvidence("checkpoints/best.h5 is a symbolic link.", Code.LINK)
    except evidence.BadEvidence as error:
        pytest.fail(f"No best-weights file: {error}")


def test_asserts():
    assert 1 == 2, "Training ran 40 epochs."


def test_crashes():
    {}["missing"]
'''


def _messages(tmp_path) -> dict:
    (tmp_path / "test_toy.py").write_text(CHECKS)
    suite = verify._Suite(context=None)
    failures = {}

    class Collect:
        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(self, item, call):
            report = yield
            if report.failed:
                failures[item.name] = verify._message(call.excinfo)
            return report

    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        pytest.main(["-q", "-p", "no:cacheprovider", "--import-mode=importlib", "-c", os.devnull, "--rootdir",
                     str(tmp_path), str(tmp_path / "test_toy.py")], plugins=[suite, Collect()])
    return failures


def test_each_way_of_failing_gives_text_and_code(tmp_path):
    said = _messages(tmp_path)
    assert said["test_says_its_own_code"] == Message(Code.MODEL_NOT_FROM_HISTORY, "history is not this model's.")
    # A check's own sentence around the evidence's finding keeps the finding's code.
    assert said["test_wraps_evidence"] == Message(Code.LINK, "No best-weights file: checkpoints/best.h5 is a symbolic link.")
    assert said["test_asserts"] == Message(Code.FAILED, "Training ran 40 epochs.")
    assert said["test_crashes"].code == Code.CHECK_CRASHED and "KeyError" in said["test_crashes"].text


def test_a_failed_check_lists_its_messages_as_markdown_and_data():
    result = verify.CheckResult.failed("stopped_early", 2.0, [Message(Code.FAILED, "One."), Message(Code.LINK, "Two.")])
    assert result.output == "- One.\n- Two."
    assert result.to_dict()["messages"] == [{"code": "failed", "text": "One."}, {"code": "link", "text": "Two."}]
