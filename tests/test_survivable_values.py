"""Any value in the evidence is survivable: results are strict JSON, and one poisoned result
costs no one else a page, a row of the class report, or the command's exit code.

A run decides what its history, settings and best_val_loss hold (10 ** 4000, NaN,
infinities, strings); results carry some of it to the pages (the training curves).
"""

import json

import numpy as np
import pytest

import autograder.grade as grade_module
from autograder import class_report, cli, feedback, report
from course import exercise
from autograder.grade import Result, json_safe, results_json
from autograder.verify import CheckResult

POISONS = [10 ** 4000, -(10 ** 4000), float("nan"), float("inf"), float("-inf")]


def _strict(text):
    """json.loads that refuses NaN and Infinity, as strict JSON readers do."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def checks(score=None):
    return [CheckResult(name, points if score is None else score, points, "passed" if score is None else "failed",
                        output=f"{name}: passed") for name, points in exercise.checks.items()]


def honest(name):
    return Result(name, "callbacks", 10.0, 10.0, checks(), training={"loss": [1.0, 0.5], "val_loss": [1.1, 0.6],
                                                       "measured_val_loss": 0.6, "epochs_limit": 200, "patience": 5})


def poisoned(name="poisoned"):
    """A result holding every value a run can put in its history, where results carry them."""
    return Result(name, "callbacks", 0.0, 10.0, checks(score=float("nan")), seconds=float("inf"), message="x",
                  training={"loss": POISONS, "val_loss": [*POISONS, 0.5, "nan", None, True],
                            "measured_val_loss": 10 ** 4000, "epochs_limit": 10 ** 4000, "patience": float("nan"),
                            10 ** 4000: np.float32("nan"), "nested": [[float("inf")]]},
                  review=[10 ** 4000, "a reason"])


class Unwritable:
    """A check result of a type the grader never makes: it has no to_dict()."""


def test_results_are_strict_json_whatever_the_values():
    text = results_json([honest("a"), poisoned(), honest("b")])
    data = _strict(text)
    assert [entry["submission"] for entry in data] == ["a", "poisoned", "b"]
    training = data[1]["training"]
    assert training["loss"] == [None] * len(POISONS)
    assert training["val_loss"][-4:] == [0.5, "nan", None, True]
    assert training["measured_val_loss"] is None and training["epochs_limit"] is None
    assert data[1]["seconds"] is None and {t["score"] for t in data[1]["tests"]} == {None}
    assert data[0]["training"] == honest("a").to_dict()["training"]


def test_a_result_that_cannot_be_written_does_not_cost_the_others_their_results():
    broken = Result("broken", "callbacks", 0.0, 10.0, [Unwritable()])
    data = _strict(results_json([honest("a"), broken, honest("b")]))
    assert [entry["status"] for entry in data] == ["graded", "grader error", "graded"]
    assert "could not be written" in data[1]["message"]


@pytest.mark.parametrize("value, safe", [
    (10 ** 4000, None), (2 ** 70, 2 ** 70), (float("nan"), None), (np.float64(0.25), 0.25), (np.int64(3), 3),
    ((1, float("inf")), [1, None]), ({1: "a"}, {"1": "a"}), (object(), None), (True, True),
])
def test_json_safe(value, safe):
    assert json_safe(value) == safe
    json.dumps(json_safe(value), allow_nan=False)


def test_poisoned_training_still_renders_its_page():
    """10 ** 4000 and NaN in the curves are left out of the plot, said in words."""
    page = feedback.render_html(poisoned(), exercise)
    assert "Feedback" in page or "feedback" in page
    markdown = feedback.render_markdown(poisoned(), exercise)
    assert "not a finite number" in markdown or "not finite numbers" in markdown


def test_one_page_that_cannot_render_costs_no_one_else_theirs(tmp_path, monkeypatch):
    real = feedback.feedback_view

    def view(result, *args, **kwargs):
        if feedback.as_dict(result)["submission"] == "poisoned":
            raise OverflowError("int too large to convert to float")
        return real(result, *args, **kwargs)

    monkeypatch.setattr(feedback, "feedback_view", view)
    results = [honest("a"), poisoned(), Result("broken", "callbacks", 0.0, 10.0, [Unwritable()]), honest("b")]
    problems = {}
    written = feedback.write_feedback(results, tmp_path / "feedback", exercise, problems=problems)
    assert set(written) == {"a", "poisoned", "broken", "b"}
    assert set(problems) == {"poisoned", "broken"}
    placeholder = (tmp_path / "feedback" / "poisoned.html").read_text()
    assert "could not be rendered" in placeholder and "Content-Security-Policy" in placeholder
    assert "could not be rendered" in (tmp_path / "feedback" / "poisoned.md").read_text()
    for name in ("a", "b"):
        assert "could not be rendered" not in written[name].read_text()
    report = class_report.report_view(results, exercise, report_dir=tmp_path, feedback_dir=tmp_path / "feedback",
                                      grading_seconds=1.0, page_problems=problems)
    assert [row["name"] for row in report["rows"]] == ["a", "poisoned", "broken", "b"]
    flagged = {row["name"]: row["reasons"] for row in report["attention"]}
    assert set(flagged) == {"poisoned", "broken"}
    assert any("could not be rendered" in reason for reason in flagged["poisoned"])


def test_class_report_survives_poisoned_numbers(tmp_path):
    results = [honest("a"), poisoned(), {"submission": "odd", "score": 10 ** 4000, "max_score": float("nan"),
                                          "tests": 5, "seconds": "slow", "review": "no list"}]
    path = class_report.write_class_report(results, tmp_path / "class-report.html", exercise, feedback_dir=tmp_path,
                                           grading_seconds=float("inf"))
    html = path.read_text()
    assert "poisoned" in html and "odd" in html


def test_one_row_that_cannot_be_shown_costs_only_itself(tmp_path, monkeypatch):
    real = class_report.attention

    def attention(result):
        if feedback.as_dict(result)["submission"] == "poisoned":
            raise TypeError("unexpected")
        return real(result)

    monkeypatch.setattr(class_report, "attention", attention)
    view = class_report.report_view([honest("a"), poisoned(), honest("b")], exercise, report_dir=tmp_path,
                                    feedback_dir=tmp_path, grading_seconds=1.0)
    rows = {row["name"]: row for row in view["rows"]}
    assert rows["a"]["score"] == "10" and rows["poisoned"]["status"] == "unreadable"
    assert [row["name"] for row in view["attention"]] == ["poisoned"]


def test_nbgrader_feedback_survives_a_page_that_cannot_render(tmp_path, monkeypatch):
    for student in ("alice", "mallory"):
        folder = tmp_path / "submitted" / student / exercise.name
        folder.mkdir(parents=True)
        for name in feedback.NBGRADER_FILES:
            (folder / name).write_text("x")
    real = feedback.feedback_view
    monkeypatch.setattr(feedback, "feedback_view", lambda result, *args, **kw: (
        (_ for _ in ()).throw(ValueError("poison")) if feedback.as_dict(result)["submission"] == "mallory"
        else real(result, *args, **kw)))
    results = [honest("alice"), poisoned("mallory")]
    for result in results:
        result.student = result.submission  # as grading a submitted/<student>/ folder names them
    done = feedback.write_nbgrader_feedback(results, tmp_path, exercise)
    assert set(done.written) == {"alice", "mallory"} and set(done.unrendered) == {"mallory"}
    assert "could not be rendered" in done.written["mallory"].read_text()
    assert "could not be rendered" not in done.written["alice"].read_text()


def test_cli_writes_everything_and_exits_0_with_a_poisoned_result(tmp_path, monkeypatch, capsys):
    """The command as an instructor runs it, grading stubbed out: what a poisoned run leaves reaches the writers."""
    for name in ("alice", "mallory", "bob"):
        (tmp_path / "in" / f"{name}.ipynb").parent.mkdir(exist_ok=True)
        (tmp_path / "in" / f"{name}.ipynb").write_text("{}")

    def grade(submissions, assignment, **kwargs):
        return [poisoned(s.name) if s.name == "mallory" else honest(s.name) for s in submissions]

    monkeypatch.setattr(grade_module, "grade", grade)
    out = tmp_path / "out"
    cli.main(["grade", str(tmp_path / "in"), "--json", str(out / "results.json"), "--csv", str(out / "sheet.csv"),
              "--no-sandbox", "--quiet", "--assignment", "callbacks"])  # returns: exit code 0; the course has two assignments
    data = _strict((out / "results.json").read_text())
    assert [entry["submission"] for entry in data] == ["alice", "bob", "mallory"]
    for name in ("alice", "bob", "mallory"):
        assert (out / "feedback" / f"{name}.html").exists() and (out / "feedback" / f"{name}.md").exists()
    assert "mallory" in (out / "class-report.html").read_text()
    assert "mallory" in capsys.readouterr().out  # the table was printed


def test_cli_exits_1_when_the_writers_themselves_fail(tmp_path, monkeypatch, capsys):
    """The grader's own failure is not hidden: the table is still printed, then the exit code says so."""
    (tmp_path / "alice.ipynb").write_text("{}")
    monkeypatch.setattr(grade_module, "grade", lambda submissions, assignment, **kwargs: [honest("alice")])
    monkeypatch.setattr(report, "_write_pages", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(SystemExit) as exited:
        cli.main(["grade", str(tmp_path / "alice.ipynb"), "--json", str(tmp_path / "results.json"),
                  "--no-sandbox", "--quiet", "--assignment", "callbacks"])
    assert "disk full" in str(exited.value.code)
    assert "alice" in capsys.readouterr().out
    _strict((tmp_path / "results.json").read_text())
