"""Feedback pages and the class report, as students and instructors see them (autograder/feedback.py,
autograder/class_report.py).

The browser tests open the pages in headless Chromium (Debian's package, installed by `make
setup`) and read what is on the screen: the rendered DOM, and the pixels of a screenshot.
"""

import base64
import copy
import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from conftest import BIN  # at import: the hidden suite, run in-process by other tests, brings its own `conftest`

from autograder import assignment, class_report, evidence, export, feedback, verify
from course import exercise
from autograder.grade import Result
from autograder.verify import CheckResult, Context
from autograder.messages import Code, Message

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium; `make setup` does)")

# A real run of the solution (its validation losses as Keras recorded them): 14 epochs, the
# lowest val_loss at epoch 9, EarlyStopping(patience=5) stopping after epoch 14.
VAL_LOSS = [1.3245, 0.6665, 0.4077, 0.3207, 0.2857, 0.2673, 0.2643, 0.2657, 0.2445, 0.2538, 0.2545, 0.2564, 0.2589, 0.2598]
LOSS = [1.8785, 0.8264, 0.4610, 0.2105, 0.1263, 0.0777, 0.0612, 0.0424, 0.0321, 0.0207, 0.0166, 0.0135, 0.0103, 0.0086]
KNOWN_RUN = {"loss": LOSS, "val_loss": VAL_LOSS, "measured_val_loss": 0.2445, "epochs_limit": 200, "patience": 5}

# What a submission could put in its name, outputs or variables to get markup into a page.
INJECTIONS = [
    "<script>document.body.setAttribute('data-pwned', 'script')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned', 'img')\">",
    "<a href=\"javascript:alert(1)\">click</a>",
    "<style>body { display: none }</style>",
    "</li></ul><iframe src=\"https://example.com\"></iframe>",
]
PAYLOAD = "".join(INJECTIONS)


def checks(failed=(), message="- {name} went wrong: do the right thing instead.", code=Code.FAILED):
    """Every check of the exercise, passed but for those in `failed` (each line of `message` one message, with `code`)."""
    def said(name):
        return [Message(code, line.removeprefix("- ")) for line in message.replace("{name}", name).split("\n- ")]

    return [
        CheckResult.failed(name, points, said(name)) if name in failed
        else CheckResult(name, points, points, "passed", output=f"{name}: passed")
        for name, points in exercise.checks.items()
    ]


def result(name="alice", *, failed=(), status="graded", message=None, training=KNOWN_RUN, seconds=8.0, output=None, student=None,
           code=Code.FAILED):
    tests = checks(failed, **({"message": output} if output else {}), code=code)
    score = sum(test.score for test in tests)
    return Result(name, exercise.name, score, exercise.max_score, tests, status, message, seconds, copy.deepcopy(training),
                  student=student)


def injected():
    """A submission that puts markup and script everywhere it can reach."""
    return result(f"mallory{PAYLOAD}", failed=("early_stopping", "stopped_early"), message=f"The code in the code cell under “{PAYLOAD}” raised ValueError: {PAYLOAD}",
                  output="- early_stopping must watch the validation loss (monitor=\"val_loss\"); it watches '" + PAYLOAD + "'.")


def class_results():
    """A small class: full marks, one failure, each kind of trouble, and an injection."""
    return [
        result("alice"),
        result("bob", failed=("stopped_early",)),
        result("carol", status="timed out", seconds=180.0, failed=tuple(exercise.checks), training={},
               message="The notebook did not finish within 180 s, so it was stopped; only what ran before counts."),
        result("dave", status="refused", seconds=0.0, failed=tuple(exercise.checks), training={},
               message="callbacks.ipynb is not a notebook: it is not valid JSON.",
               output="- callbacks.ipynb is not a notebook: it is not valid JSON.", code=Code.NOT_CHECKED),
        result("erin", failed=("stopped_early",), code=Code.FOREIGN_HISTORY,
               output="- history's val_loss at epoch 1 is 0.9000, which this exercise's training does not produce: keep the setup."),
        injected(),
    ]


# ---------------------------------------------------------------- the run's marks


def test_known_run_marks_best_and_stop_epochs():
    """For 14 epochs with the lowest val_loss at epoch 9, are the marks epochs 9 and 14, numbered from 1?"""
    run = feedback.read_training(KNOWN_RUN, exercise)
    assert (run.best_epoch, run.stopped_epoch, run.waited) == (9, 14, 5)
    facts = " ".join(feedback.describe(run))
    assert "0.2445, at epoch 9" in facts
    assert "stopped after epoch 14 of at most 200" in facts
    assert "epochs 10–14" in facts
    assert "measured by the grader, gives validation loss 0.2445" in facts


def test_first_of_equal_lowest_losses_is_the_best_epoch():
    """When two epochs tie for the lowest val_loss, is the first one the best, as in Keras?"""
    assert feedback.read_training({"val_loss": [0.5, 0.3, 0.4, 0.3, 0.6]}, exercise).best_epoch == 2


def test_run_to_the_limit_says_it_never_stopped_early():
    """Does a 200-epoch run show no stop epoch, say it never stopped early, and still draw?"""
    run = feedback.read_training({**KNOWN_RUN, "loss": [1.0] * 200, "val_loss": [1 / (1 + i) for i in range(200)]}, exercise)
    assert run.stopped_epoch is None
    assert any("never stopped early" in fact for fact in feedback.describe(run))
    assert feedback.plot_png(run).startswith(b"\x89PNG")


def test_missing_checkpoint_is_said_plainly():
    """Without a checkpoint, do the facts say there is no checkpoint file?"""
    run = feedback.read_training({**KNOWN_RUN, "measured_val_loss": None}, exercise)
    assert any(fact.startswith("No checkpoint file") for fact in feedback.describe(run))


def test_patience_other_than_the_lessons_is_explained():
    """When training stopped 3 epochs after the best, do the facts say where patience=5 would stop?"""
    run = feedback.read_training({**KNOWN_RUN, "val_loss": VAL_LOSS[:12], "loss": LOSS[:12]}, exercise)
    assert run.waited == 3
    assert any("would be after epoch 14" in fact for fact in feedback.describe(run))


def test_untrusted_history_is_validated_before_plotting():
    """Do non-numbers, NaN, infinities, booleans, a huge history and wrong types draw nothing bad?"""
    forged = {"loss": ["1", None, float("nan"), True, 0.5], "val_loss": [float("inf"), 0.4, 0.3] + [0.35] * 5000,
              "measured_val_loss": "0.1", "epochs_limit": "200", "patience": -3}
    run = feedback.read_training(forged, exercise)
    assert run.curve("loss") == (None, None, None, None, 0.5)
    assert len(run.curve("val_loss")) == feedback.MAX_EPOCHS_DRAWN and run.curve("val_loss")[0] is None
    assert (run.epochs_limit, run.patience, run.measured_val_loss) == (200, 5, None)
    assert run.best_epoch == 3
    assert feedback.plot_png(run).startswith(b"\x89PNG")
    assert feedback.read_training({"val_loss": {"a": 1}, "loss": "x"}, exercise).epochs == 0
    assert feedback.read_training(None, exercise).best_epoch is None


def test_no_history_gives_no_plot_but_says_why():
    """With no exported history, is there no image, and a sentence instead?"""
    run = feedback.read_training({}, exercise)
    assert feedback.plot_png(run) is None
    assert "no curve to draw" in feedback.describe(run)[0]


# ---------------------------------------------------------------- an assignment's own plot: custom_callbacks


CUSTOM = assignment.get("custom_callbacks")
SOLUTION_EPOCHS = 13  # val_accuracy_target stops the solution's run after epoch 13 (reference.json)


def custom_run(tmp_path, reduce_lr=None, logged_rates=None, sources=()):
    """A work folder whose final snapshot holds, exported by the kernel's own code, the solution's history (the
    canonical training's first 13 epochs, as Keras logged them) and a real ReduceLROnPlateau as step 2 asks."""
    from keras.callbacks import History, ReduceLROnPlateau

    canonical = CUSTOM.reference["canonical"]
    history = History()
    history.history = {key: list(values[:SOLUTION_EPOCHS]) for key, values in canonical.items()}
    if logged_rates is not None:
        history.history["learning_rate"] = logged_rates
    history.epoch, history.params = list(range(SOLUTION_EPOCHS)), {"epochs": 200, "steps": 10, "verbose": 0}
    reduce_lr = reduce_lr or ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    export.snapshot({"history": history, "reduce_lr": reduce_lr}, evidence.FINAL, CUSTOM.exports,
                    folder=str(tmp_path / evidence.SNAPSHOTS))
    return Context(CUSTOM, tmp_path, run_started_at=0.0, sources=tuple(sources))


def custom_result(training):
    return Result("alice", CUSTOM.name, CUSTOM.max_score, CUSTOM.max_score,
                  [CheckResult(name, points, points, "passed", output=f"{name}: passed") for name, points in CUSTOM.checks.items()],
                  training=training)


def rate_pixels(training) -> int:
    png = feedback.plot_png(feedback.read_training(training, CUSTOM))
    return pixels_near(Image.open(io.BytesIO(png)).convert("RGB"), feedback._RATE, tolerance=30)


def test_custom_callbacks_page_shows_the_learning_rate_step_where_reduce_lr_acts(tmp_path):
    """For the solution's run, does the page show the learning rate the grader replays, halved from epoch 12
    (val_loss's lowest at epoch 9, then 2 epochs without improvement), as Keras itself logged it?"""
    training = verify.training_run(custom_run(tmp_path))
    canonical = CUSTOM.reference["canonical"]["learning_rate"][:SOLUTION_EPOCHS]
    assert training["replayed_learning_rate"] == pytest.approx(canonical, rel=1e-6)
    assert training["replayed_learning_rate"][10] == pytest.approx(2 * training["replayed_learning_rate"][11], rel=1e-6)
    facts = feedback.feedback_view(custom_result(training), CUSTOM)["facts"]
    assert "Lowest validation loss: 0.2445, at epoch 9." in facts
    assert "Training stopped after epoch 13 of at most 200." in facts  # no patience window: the target stopped it
    assert any("replayed by the grader): 0.005 from epoch 1, 0.0025 from epoch 12." in fact for fact in facts), facts
    assert not any("differ" in fact or "patience window" in fact for fact in facts), facts
    assert rate_pixels(training) > 300  # the rate's line is drawn
    assert rate_pixels({**training, "replayed_learning_rate": None, "learning_rate": None}) < 20


def test_the_plotted_learning_rate_is_the_graders_not_the_runs_claim(tmp_path):
    """When history claims a learning rate that never changed, does the page still show the grader's
    replay stepping down at epoch 12, and say (labelled as the run's export) where the claim differs?"""
    training = verify.training_run(custom_run(tmp_path, logged_rates=[0.005] * SOLUTION_EPOCHS))
    assert training["replayed_learning_rate"][11] == pytest.approx(0.0025, rel=1e-6)
    facts = " ".join(feedback.describe(feedback.read_training(training, CUSTOM)))
    assert "0.005 from epoch 1, 0.0025 from epoch 12." in facts
    assert "The learning rates your history exported differ from that from epoch 12 on: 0.005 from epoch 1." in facts


def test_no_replay_for_a_reduce_lr_the_code_never_gave_to_fit(tmp_path):
    """When the code shows reduce_lr never reached history's fit, is nothing replayed for it (its settings set no rate
    in this run), and what history claims shown only as the run's own export?"""
    cells = [("code", 'reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)\n'),
             ("code", "model = build_model()\nhistory = model.fit(x_train, y_train, callbacks=[early_stopping])\n")]
    training = verify.training_run(custom_run(tmp_path, sources=cells))
    assert training["replayed_learning_rate"] is None
    facts = " ".join(feedback.describe(feedback.read_training(training, CUSTOM)))
    assert "as your history exported it (the grader could not replay a real ReduceLROnPlateau" in facts


# ---------------------------------------------------------------- pages as text


def test_every_check_appears_with_status_and_points():
    """Does the page list each check of the exercise, with passed/failed in words and its points?"""
    soup = BeautifulSoup(feedback.render_html(result(failed=("stopped_early",)), exercise), "html.parser")
    shown = {a["data-check"]: a for a in soup.select("article.check")}
    assert list(shown) == list(exercise.checks)
    for name, points in exercise.checks.items():
        status = "failed" if name == "stopped_early" else "passed"
        assert shown[name]["data-status"] == status
        assert status.upper() in shown[name].get_text()
        assert f"/ {points:g} points" in shown[name].get_text()
    assert "stopped_early went wrong: do the right thing instead." in shown["stopped_early"].get_text()


def test_page_shows_no_hidden_check_internals():
    """Is nothing of the hidden checks on the page but their one-line purpose and messages?"""
    html = feedback.render_html(result(failed=tuple(exercise.checks)), exercise)
    for secret in ("def test_", "import ", "same_loss", "REL_TOL", "rel_tol", "reference.json", "canonical"):
        assert secret not in html


def test_pages_forbid_scripts_and_network():
    """Do both pages carry a CSP that allows no script and no remote resource, and contain no script?"""
    pages = [feedback.render_html(injected(), exercise),
             class_report.render_class_report(class_results(), exercise, report_dir=Path("/r"), feedback_dir=Path("/r/f"), grading_seconds=1)]
    for html in pages:
        soup = BeautifulSoup(html, "html.parser")
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "default-src 'none'" in csp and "img-src data:" in csp and "script-src" not in csp
        assert not soup.find_all(["script", "iframe", "link", "object", "embed"])
        assert all(img["src"].startswith("data:image/png;base64,") for img in soup.find_all("img"))


def test_long_student_text_is_cut():
    """Is a megabyte of student text cut to a short, marked excerpt?"""
    huge = result(message="x" * 1_000_000, output="- " + "y" * 1_000_000, failed=("early_stopping",))
    html = feedback.render_html(huge, exercise)
    assert len(html) < 200_000
    assert "more characters cut" in html


def test_invisible_and_reordering_characters_are_removed():
    """Are control, zero-width and bidirectional-override characters dropped from student text?"""
    assert feedback.clip("a\u202eb\u200bc\x1bd\x00e\nf") == "abcde\nf"


def test_markdown_feedback_is_inert_text():
    """Does the Markdown page hold the same checks, with no live HTML or links from the student?"""
    markdown = feedback.render_markdown(injected(), exercise)
    assert "<script" not in markdown and "<img" not in markdown and "<iframe" not in markdown
    assert "&lt;script&gt;" in markdown
    assert "](" not in markdown.replace("\\](", "")  # every student bracket is escaped
    for name in exercise.checks:
        assert name in markdown
    assert "✗ FAILED: stopped_early" in markdown
    assert "Lowest validation loss: 0.2445, at epoch 9." in markdown


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", ".hidden", "", "a/b", "con.txt\x00", "..", "é名"])
def test_page_names_stay_in_the_folder(name, tmp_path):
    """Does any submission name give a plain file name inside the output folder?"""
    stem = feedback.safe_name(name)
    assert stem and "/" not in stem and not stem.startswith(".") and len(stem) <= 90
    written = feedback.write_feedback([result(name)], tmp_path / "out", exercise)
    assert written[name].parent == tmp_path / "out"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{stem}.html", f"{stem}.md"]


def test_names_differing_in_case_or_punctuation_get_their_own_pages():
    """Do `a/b` and `a_b`, or `Ann` and `ann`, never share a page (even on a case-insensitive disk)?"""
    names = feedback.page_names([result("a/b"), result("a_b"), result("Ann"), result("ann")])
    assert len({stem.lower() for stem in names.values()}) == 4


def test_feedback_accepts_results_or_their_json(tmp_path):
    """Do a Result and its to_dict() form give the same page?"""
    one = result(failed=("early_stopping",))
    strip = lambda html: html.split("Generated by")[0]  # noqa: E731
    assert strip(feedback.render_html(one, exercise)) == strip(feedback.render_html(one.to_dict(), exercise))


# ---------------------------------------------------------------- class report as data


def test_submissions_needing_a_person_are_flagged_with_reasons():
    """Are timeouts, refused files and forged evidence flagged, and an honest failure not?"""
    reasons = {r.submission: class_report.attention(r) for r in class_results()}
    assert reasons["alice"] == [] and reasons["bob"] == []
    assert reasons["carol"][0].startswith("timed out")
    assert reasons["dave"] == ["refused file: callbacks.ipynb is not a notebook: it is not valid JSON."]
    assert reasons["erin"] == ["suspected tampering: history's losses are not those of this assignment's training (stopped_early)"]


def test_tampering_is_flagged_by_the_message_code_never_by_its_words():
    """A student who writes the report's words into a cell's error is not flagged; the code alone flags."""
    words = "- which this exercise's training does not produce; is a symbolic link; was last written before this run started"
    assert class_report.attention(result("mallory", failed=("stopped_early",), output=words)) == []
    assert class_report.attention(result("oscar", failed=("best_weights_file",), code=Code.LINK, output="- anything")) == [
        f"suspected tampering: {class_report.SUSPECT[Code.LINK]} (best_weights_file)"]


def test_a_results_file_without_codes_still_gives_its_messages():
    """Results written before messages had codes: each `- ` line is a message, flagged by nothing."""
    old = result("old", failed=("stopped_early",), output="- Training ran 40 epochs.\n- It must stop.").to_dict()
    for test in old["tests"]:
        test.pop("messages")
    (stopped,) = [t for t in old["tests"] if t["name"] == "stopped_early"]
    assert feedback.check_messages(stopped) == [Message(Code.FAILED, "Training ran 40 epochs."), Message(Code.FAILED, "It must stop.")]
    assert class_report.attention(old) == []


def test_common_failures_count_students_once_and_merge_numbers():
    """Are messages differing only in numbers one entry, counted once per student?"""
    line = "- Training ran {n} epochs, but EarlyStopping must stop after epoch {m}."
    results = [result(f"s{n}", failed=("stopped_early",), output=f"{line}\n{line}".format(n=n, m=n + 2)) for n in (10, 11, 11)]
    (top,) = class_report.common_failures(results)
    assert top["count"] == 3 and top["varies"] and top["checks"] == ["stopped_early"]
    assert top["message"] == "Training ran 11 epochs, but EarlyStopping must stop after epoch 13."


def test_distribution_and_pass_rates_add_up():
    """Does the distribution count every submission and each check's pass rate match the results?"""
    results = class_results()
    assert sum(b["count"] for b in class_report.score_distribution(results)) == len(results)
    rates = {row["name"]: row for row in class_report.check_pass_rates(results, exercise)}
    assert list(rates) == list(exercise.checks)
    assert rates["stopped_early"]["passed"] == 1  # only alice
    assert rates["early_stopping"]["passed"] == 3  # alice, bob, erin


# ---------------------------------------------------------------- nbgrader's layout


def nbgrader_submission(course, student, *, secret=True):
    folder = course / "submitted" / student / exercise.name
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
    if secret:
        (folder / "submission_secret.txt").write_text("s3cret")


def test_nbgrader_feedback_goes_where_release_feedback_reads_it(tmp_path):
    """Is each page written as feedback/<student>/callbacks/callbacks.html with nbgrader's two files, and
    are submissions that release_feedback would choke on left out, with a reason?"""
    nbgrader_submission(tmp_path, "alice")
    nbgrader_submission(tmp_path, "bob", secret=False)
    done = feedback.write_nbgrader_feedback([result("alice", student="alice"), result("bob", student="bob"),
                                             result("x/y.ipynb"), result("eve", student="../eve")], tmp_path, exercise)
    folder = tmp_path / "feedback" / "alice" / "callbacks"
    assert done.written == {"alice": folder / "callbacks.html"}
    assert sorted(p.name for p in folder.iterdir()) == ["callbacks.html", "submission_secret.txt", "timestamp.txt"]
    assert (folder / "submission_secret.txt").read_text() == "s3cret"
    # release_feedback copies them, mode and all, to an exchange that students read as themselves
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in folder.iterdir()), [oct(p.stat().st_mode) for p in folder.iterdir()]
    assert "submission_secret.txt is missing" in done.skipped["bob"]
    assert "names no nbgrader student" in done.skipped["x/y.ipynb"]
    assert "not an nbgrader student id" in done.skipped["../eve"]
    assert not (tmp_path / "feedback" / "bob").exists()


def test_pages_release_feedback_cannot_hand_out_are_written_only_on_request(tmp_path):
    """With releasable_only=False, does a submission without nbgrader's files get its page, flagged as unreleasable?"""
    nbgrader_submission(tmp_path, "bob", secret=False)
    done = feedback.write_nbgrader_feedback([result("bob", student="bob")], tmp_path, exercise, releasable_only=False)
    assert done.written == {"bob": tmp_path / "feedback" / "bob" / "callbacks" / "callbacks.html"}
    assert "submission_secret.txt is missing" in done.unreleasable["bob"] and done.skipped == {}


@pytest.mark.slow
def test_student_fetches_the_page_through_nbgrader(tmp_path):
    """Through nbgrader's own exchange (submit, collect, release_feedback, fetch_feedback), does the
    student end up with this page?"""
    course, student_home, exchange = tmp_path / "course", tmp_path / "student", tmp_path / "exchange"
    for folder in (course, student_home, exchange / "keras-callbacks" / "inbound", exchange / "keras-callbacks" / "outbound"):
        folder.mkdir(parents=True)
    config = (f'c = get_config()\nc.CourseDirectory.course_id = "keras-callbacks"\nc.CourseDirectory.root = r"{course}"\n'
              f'c.Exchange.root = r"{exchange}"\nc.Exchange.cache = r"{tmp_path / "cache"}"\n')
    for folder in (course, student_home):
        (folder / "nbgrader_config.py").write_text(config)
    shutil.copytree(exercise.release_notebook.parent, exchange / "keras-callbacks" / "outbound" / exercise.name)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("NBGRADER_COURSE_ROOT", None)

    def nbgrader(where, *args):
        return subprocess.run([str(BIN / "nbgrader"), *args, exercise.name], cwd=where, env=env,
                              capture_output=True, text=True, check=True)

    nbgrader(student_home, "fetch_assignment")
    nbgrader(student_home, "submit")
    nbgrader(course, "collect")
    (student,) = [p.name for p in (course / "submitted").iterdir()]
    done = feedback.write_nbgrader_feedback([result(student, failed=("stopped_early",), student=student)], course, exercise)
    assert list(done.written) == [student]
    nbgrader(course, "release_feedback")
    nbgrader(student_home, "fetch_feedback")
    (fetched,) = (student_home / exercise.name / "feedback").glob("*/callbacks.html")
    assert fetched.read_text() == done.written[student].read_text()


# ---------------------------------------------------------------- in a real browser


def chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium, offline and without first-run chatter; one profile folder per call."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def rendered_dom(path: Path, tmp_path: Path) -> BeautifulSoup:
    """The page's DOM after Chromium loaded it (and would have run any script)."""
    return BeautifulSoup(chromium(path.as_uri(), tmp_path / "dom-profile", "--dump-dom").stdout, "html.parser")


def screenshot(path: Path, tmp_path: Path, out: Path, size=(1200, 1800)) -> Image.Image:
    chromium(path.as_uri(), tmp_path / "shot-profile", f"--screenshot={out}", f"--window-size={size[0]},{size[1]}")
    return Image.open(out).convert("RGB")


def pixels_near(image: Image.Image, colour: str, tolerance=40) -> int:
    """How many pixels of `image` have about the colour `colour` (#rrggbb)."""
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(np.asarray(image, dtype=int) - target) <= tolerance).all(axis=-1).sum())


@needs_chromium
def test_feedback_page_on_screen_shows_the_plot_marks_and_checks(tmp_path):
    """Opened in Chromium, does the page show the run's plot with epoch 9 as best and 14 as the stop,
    the limit and the checkpoint, and every check with its status?"""
    page = feedback.write_feedback([result(failed=("stopped_early", "reload_val_loss"))], tmp_path / "out", exercise)["alice"]
    dom = rendered_dom(page, tmp_path)
    plot = dom.find("img", id="training-plot")
    assert plot["src"].startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(plot["src"].split(",", 1)[1]))).size[0] >= 900
    facts = dom.find(id="training-facts").get_text(" ")
    for mark in ("at epoch 9", "stopped after epoch 14", "epochs 10–14", "at most 200", "gives validation loss 0.2445"):
        assert mark in facts and mark in plot["alt"]
    statuses = {a["data-check"]: a.find(class_="badge").get_text(strip=True) for a in dom.select("article.check")}
    assert statuses == {name: "✗ FAILED" if name in ("stopped_early", "reload_val_loss") else "✓ PASSED" for name in exercise.checks}
    # Out of nbgrader's total (12), the written question shown as pending, as formgrader will grade it.
    assert dom.find(id="score").get_text(" ", strip=True) == "6 / 12 points"
    assert "2 of the 12 points are for your written answer, graded by hand: pending" in dom.find(id="hand-graded").get_text(" ")
    assert dom.find(attrs={"data-hand-graded": "val_loss_question"}) is not None

    # On screen, the plot is drawn: the validation curve's orange and the best epoch's green star.
    shot = screenshot(page, tmp_path, tmp_path / "feedback.png")
    assert pixels_near(shot, "#D55E00") > 500
    assert pixels_near(shot, "#009E73", tolerance=25) > 50


@needs_chromium
def test_injected_markup_shows_as_text_and_runs_nothing(tmp_path):
    """Does a submission with script and HTML in its name, messages and outputs show them as text,
    with no element of its own in the page and nothing run?"""
    page = feedback.write_feedback([injected()], tmp_path / "out", exercise)[injected().submission]
    dom = rendered_dom(page, tmp_path)
    assert dom.body.get("data-pwned") is None
    assert not dom.find_all(["script", "iframe", "a"], href=lambda h: h and h.startswith("javascript"))
    assert not dom.find_all(["script", "iframe"])
    assert [img.get("id") for img in dom.find_all("img")] == ["training-plot"]
    assert not dom.find_all(attrs={"onerror": True})
    assert len(dom.find_all("style")) == 1  # ours
    text = dom.get_text()
    for injection in INJECTIONS:
        assert injection in text  # visible, as typed
    assert dom.title.get_text().startswith("Feedback: callbacks – mallory<script>")


@needs_chromium
def test_class_report_on_screen_links_trouble_to_feedback_pages(tmp_path):
    """Opened in Chromium, does the report show the distribution, every check's pass rate, the common
    failures and the grading time, and link each submission needing a person to its feedback page?"""
    results = class_results()
    pages = feedback.write_feedback(results, tmp_path / "report" / "feedback", exercise)
    report = class_report.write_class_report(results, tmp_path / "report" / "index.html", exercise,
                                             feedback_dir=tmp_path / "report" / "feedback", grading_seconds=75.5)
    dom = rendered_dom(report, tmp_path)
    assert dom.body.get("data-pwned") is None and not dom.find_all(["script", "iframe"])
    flagged = {}
    for row in dom.select("#attention tbody tr"):
        link = row.find("a")
        flagged[link.get_text()] = (report.parent / link["href"]).resolve()
        assert row.find("ul").get_text().strip()
    assert flagged == {name: pages[name].resolve() for name in ("carol", "dave", "erin")}
    assert dom.find(id="attention-count").get_text() == "3"
    rates = {row["data-check"]: row.get_text(" ", strip=True) for row in dom.select("#check-rates tbody tr")}
    assert list(rates) == list(exercise.checks)
    assert "1 of 6 (17%)" in rates["stopped_early"]
    counts = [int(row.find_all("td")[1].get_text()) for row in dom.select("#distribution tbody tr")]
    assert sum(counts) == len(results)
    assert "1 min 16 s" in dom.find(id="grading-time").get_text()
    # The automatic points, and nbgrader's total with the question formgrader grades by hand.
    said = " ".join(dom.find(id="hand-graded").get_text().split())
    assert "out of 10; nbgrader's total is 12, with val_loss_question (2 points) graded by hand" in said, said
    assert "which this exercise's training does not produce" in dom.find(id="failures").get_text()
    assert f"mallory{INJECTIONS[0]}" in dom.find(id="submissions").get_text()
    for link in dom.select("#submissions a"):
        assert (report.parent / link["href"]).is_file()


@pytest.mark.slow
@needs_chromium
def test_real_graded_run_plot_marks_its_own_epochs(tmp_path):
    """For the solution notebook really graded, does its page mark the run's own best and stop epochs?"""
    from autograder.grade import Submission, grade
    from autograder.sandbox import check_available

    (graded,) = grade([Submission("solution", exercise.source_notebook)], exercise, jobs=1, sandbox=check_available() is None)
    run = feedback.read_training(graded.training, exercise)
    assert graded.score == graded.max_score and run.stopped_epoch is not None
    dom = rendered_dom(feedback.write_feedback([graded], tmp_path, exercise)["solution"], tmp_path)
    facts = dom.find(id="training-facts").get_text(" ")
    assert f"at epoch {run.best_epoch}." in facts and f"stopped after epoch {run.stopped_epoch} " in facts
    assert dom.find("img", id="training-plot") is not None


@pytest.mark.slow
def test_real_graded_custom_callbacks_solution_plots_its_learning_rate_steps(tmp_path):
    """For the custom_callbacks solution really graded, does its page show the learning rate the grader replays
    stepping down where ReduceLROnPlateau acts (after val_loss's best epoch and lr_patience epochs without
    improvement), the stop epoch without a patience window, and the trained model the grader measured?"""
    from autograder.grade import Submission, grade
    from autograder.sandbox import check_available

    (graded,) = grade([Submission("solution", CUSTOM.source_notebook)], CUSTOM, jobs=1, sandbox=check_available() is None)
    assert graded.score == graded.max_score
    run = feedback.read_training(graded.training, CUSTOM)
    rates = run.rates
    step = next(epoch for epoch in range(1, len(rates)) if rates[epoch] < rates[epoch - 1]) + 1  # 1-based
    assert step == run.best_epoch + CUSTOM.settings["lr_patience"] + 1
    assert rates[step - 1] == pytest.approx(rates[0] * CUSTOM.settings["factor"], rel=1e-6)
    assert run.logged_rates == pytest.approx(rates, rel=1e-6)  # the run's own export agrees with the replay
    dom = BeautifulSoup(feedback.render_html(graded, CUSTOM), "html.parser")
    facts = dom.find(id="training-facts").get_text(" ")
    assert f"{rates[0]:.6g} from epoch 1, {rates[step - 1]:.6g} from epoch {step}" in facts
    assert f"Training stopped after epoch {run.stopped_epoch} of at most 200." in facts and "patience window" not in facts
    assert f"measured by the grader, gives validation loss {run.best_value:.4f}" in facts  # the best weights restored
    plot = dom.find("img", id="training-plot")
    image = Image.open(io.BytesIO(base64.b64decode(plot["src"].split(",", 1)[1]))).convert("RGB")
    assert pixels_near(image, feedback._RATE, tolerance=30) > 300


def test_the_graders_review_reasons_reach_the_student_escaped():
    """When the grader could not read some code, does the page say a person will look, and why, without live markup?"""
    flagged = result("eve")
    flagged.review = ["The code at line 1 of the 2nd code cell under “Scratch” calls exec('<script>alert(1)</script>'); a person should check."]
    page, markdown = feedback.render_html(flagged, exercise), feedback.render_markdown(flagged, exercise)
    assert "A person will look at this notebook" in page and "A person will look at this notebook" in markdown
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "A person will look" not in feedback.render_html(result("ada"), exercise)
