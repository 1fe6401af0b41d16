"""Gradescope: the bundle `python -m autograder gradescope` builds, unpacked as Gradescope does, grades
one submission with the same checks as `python -m autograder grade`, and always leaves a results.json
in Gradescope's documented format, which shows a student nothing of the grader.

Gradescope's layout is made under a temporary root (`AUTOGRADER_ROOT`): the zip in ROOT/source,
run_autograder copied to ROOT/run_autograder, the student's files in ROOT/submission, results in
ROOT/results. The environment is this project's (`AUTOGRADER_VENV`): setup.sh's network part is
checked as a dry run, its offline part run for real.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

from autograder import gradescope
from autograder.feedback import markdown_text
from autograder.grade import Result
from autograder.messages import Code, Message
from autograder.uid_runner import PROBE_UID
from autograder.status import Status
from autograder.verify import CheckResult
from conftest import with_python_for_every_uid
from course import exercise
from notebooks import SOLUTION, submission

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs the autograder as root")

VENV = Path(sys.prefix)

# --- Gradescope's results.json, as its "Autograder Specifications" page documents it ------------
# (gradescope-autograders.readthedocs.io/en/latest/specs/: "Output format", "Controlling Test Case
# Visibility", "Test case status", "Output String Formatting"). Every field is optional there;
# a top-level score, or a score on every test, is required. Nothing else is documented.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "simple_format", "html", "md", "ansi"]}
TEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"}, "max_score": {"type": "number"}, "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"}, "name_format": FORMAT, "number": {"type": "string"},
        "output": {"type": "string"}, "output_format": FORMAT, "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": VISIBILITY, "extra_data": {"type": "object"},
    },
}
RESULTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number"}, "output": {"type": "string"},
        "output_format": FORMAT, "test_output_format": FORMAT, "test_name_format": FORMAT,
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"],
            "properties": {"name": {"type": "string"}, "value": {}, "order": {"enum": ["asc", "desc"]}}}},
    },
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}


def valid_results(results: dict) -> dict:
    """`results` is Gradescope's format, and ours: the fields the brief promises are all there."""
    jsonschema.validate(results, RESULTS_SCHEMA)
    for key in ("score", "execution_time", "output", "tests"):
        assert key in results, f"results.json must hold {key!r}; it holds {sorted(results)}"
    assert results["output_format"] == "md" and results["stdout_visibility"] == "hidden"
    for test in results["tests"]:
        missing = {"name", "score", "max_score", "status", "output", "output_format", "visibility"} - set(test)
        assert not missing, f"each test must hold {sorted(missing)}; {test.get('name')!r} does not"
        assert test["output_format"] == "md"
    return results


def student_visible(results: dict) -> str:
    """Everything of results.json a student can see (all but stdout, which stays with instructors)."""
    return json.dumps({key: value for key, value in results.items() if key != "stdout_visibility"})


def shows_nothing_hidden(results: dict):
    """No hidden check's code, reference file, tolerance or grader path in what the student sees."""
    seen = student_visible(results)
    check_code = [line.strip() for path in exercise.checks_dir.glob("test_*.py")
                  for line in path.read_text().splitlines() if len(line.strip()) > 30 and '"""' not in line][:200]
    rel, abs_ = exercise.tolerance
    hidden = ["reference.json", "grading/", "/source/", "rel_tol", "abs_tol", "REL_TOL", *{repr(rel), repr(abs_), f"{rel:f}", f"{abs_:f}"},
              *check_code]
    shown = [text for text in hidden if text in seen]
    assert not shown, f"results.json must show a student nothing of the grader; it shows {shown}"


# --- Gradescope's folders under a temporary root --------------------------------------------------

@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return gradescope.build(exercise, tmp_path_factory.mktemp("bundle") / "autograder.zip")


@pytest.fixture
def layout(bundle):
    """A function: Gradescope's /autograder for a submission of `files` ({name: notebook or bytes})."""
    made = []

    def lay_out(files: dict) -> Path:
        # World-traversable, as /autograder may be: only what the grader does protects its files.
        root = Path(tempfile.mkdtemp(prefix="gradescope-root-"))
        made.append(root)
        os.chmod(root, 0o755)
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(root / "source")
        for name in (gradescope.SETUP, gradescope.RUN_AUTOGRADER):  # zipfile drops the modes; unzip keeps them
            os.chmod(root / "source" / name, 0o755)
        shutil.copy(root / "source" / gradescope.RUN_AUTOGRADER, root / gradescope.RUN_AUTOGRADER)
        (root / "submission").mkdir()
        (root / "results").mkdir()
        for name, content in files.items():
            data = content if isinstance(content, bytes) else nbformat.writes(content).encode()
            (root / "submission" / name).write_bytes(data)
        return root

    yield lay_out
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


# A slot of its own: on this shared machine other graders keep slot 0 (uid 62000) busy for minutes.
SLOT = 917


def env(root: Path, **extra) -> dict:
    return {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_VENV": str(VENV),
            gradescope.SLOT_ENV: str(SLOT), **extra}


def as_gradescope_would(command, root: Path, *, runner: str | None = None, timeout=900, **extra_env):
    """Run `command` in `root` as Gradescope does (as root); where the fallback may run, any uid can start this Python."""
    extra = {gradescope.RUNNER_ENV: runner} if runner else {}
    if runner != "sandbox":
        command = with_python_for_every_uid(command)
    return subprocess.run(command, cwd=root, env=env(root, **extra, **extra_env), capture_output=True, text=True,
                          timeout=timeout)


def run_autograder(root: Path, *, runner: str | None = None, **extra_env):
    """Gradescope's grading step: run_autograder, then its results.json (read as Gradescope would: strict JSON)."""
    started = time.monotonic()
    done = as_gradescope_would(["bash", str(root / gradescope.RUN_AUTOGRADER)], root, runner=runner, **extra_env)
    print(f"run_autograder: {time.monotonic() - started:.1f} s\n{done.stdout}\n{done.stderr[-3000:]}")
    results_file = root / "results" / "results.json"
    assert results_file.is_file(), f"run_autograder must write results.json; it exited {done.returncode}: {done.stderr[-2000:]}"
    results = json.loads(results_file.read_text(), parse_constant=lambda name: pytest.fail(f"results.json holds {name}"))
    return valid_results(results), done.stdout


def scores(results: dict) -> dict:
    return {test["name"]: test["score"] for test in results["tests"]}


FULL = dict(exercise.checks)


def all_but(*failed):
    return {name: 0.0 if name in failed else points for name, points in FULL.items()}


# --- The bundle and setup.sh (no notebook runs) -------------------------------------------------------

def test_bundle_holds_what_grading_needs_with_the_scripts_at_its_root(bundle):
    """Does the zip hold setup.sh and run_autograder (executable) at its root, the package, the
    assignment (grading/ included), its release and the lock, and nothing of the grader's caches?"""
    with zipfile.ZipFile(bundle) as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    names = set(modes)
    for name in ("setup.sh", "run_autograder", "requirements.lock", "gradescope.json", "autograder/gradescope.py",
                 "autograder/uid_runner.py", "autograder/templates/feedback.md.j2",
                 f"assignments/{exercise.name}/{exercise.name}.ipynb", f"assignments/{exercise.name}/grading/reference.json",
                 f"assignments/{exercise.name}/grading/checks/test_stopped_early.py",
                 f"release/{exercise.name}/{exercise.name}.ipynb", f"release/{exercise.name}/data/digits.npz"):
        assert name in names, f"the bundle must hold {name}"
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111, "both scripts must be executable"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith("assignments/") and not name.startswith(f"assignments/{exercise.name}/")], \
        "the bundle holds one assignment"
    assert bundle.stat().st_size < 2**20, f"the bundle is small; it has {bundle.stat().st_size} bytes"


def test_the_same_course_gives_the_same_bundle(bundle, tmp_path):
    """Is the zip reproducible (fixed dates, sorted names), so that a rebuilt bundle is visibly the same?"""
    assert gradescope.build(exercise, tmp_path / "again.zip").read_bytes() == bundle.read_bytes()


def test_setup_installs_the_lock_and_bubblewrap_from_the_network_part_only(layout):
    """Does setup.sh's install part (dry run) install bubblewrap and util-linux from Ubuntu, make a
    virtual environment outside /autograder and install requirements.lock into it, and nothing else?"""
    root = layout({})
    for script in (gradescope.SETUP, gradescope.RUN_AUTOGRADER):
        syntax = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{script} must be valid bash: {syntax.stderr}"
    venv = root / "venv-that-must-not-exist"
    done = subprocess.run(["bash", str(root / "source" / "setup.sh"), "install"], capture_output=True, text=True,
                          env={**env(root), "AUTOGRADER_VENV": str(venv), "SETUP_DRY_RUN": "1"})
    assert done.returncode == 0, done.stderr
    commands = [line.removeprefix("+ ") for line in done.stdout.splitlines() if line.startswith("+ ")]
    installs = " ".join(command for command in commands if command.startswith("apt-get install"))
    for package in ("bubblewrap", "util-linux", "-venv"):
        assert package in installs, f"setup.sh must apt-get install {package}; it runs {commands}"
    assert any(command.endswith(f"-m venv {venv}") for command in commands), commands
    assert f"{venv}/bin/pip install --quiet --no-cache-dir -r {root}/source/requirements.lock" in commands, commands
    assert not venv.exists(), "a dry run installs nothing"


def test_setup_prepare_protects_the_graders_files_and_checks_the_bundle(layout):
    """Does setup.sh's offline part make /autograder and the bundle root's alone and load the assignment?"""
    root = layout({})
    done = subprocess.run(["bash", str(root / "source" / "setup.sh"), "prepare"], capture_output=True, text=True, env=env(root))
    assert done.returncode == 0, done.stderr
    assert f"{exercise.name}: {len(exercise.checks)} checks, {exercise.max_score:g} points" in done.stdout
    reference = root / "source" / "assignments" / exercise.name / "grading" / "reference.json"
    for path in (root, root / "source", reference):
        assert path.stat().st_mode & 0o077 == 0, f"{path} must be root's alone; its mode is {oct(path.stat().st_mode)}"


# --- results.json from a result (no notebook runs) ---------------------------------------------------

def result_with(*tests, message=None, status=Status.GRADED) -> Result:
    return Result("callbacks.ipynb", exercise.name, sum(t.score for t in tests), exercise.max_score, list(tests),
                  status, message, seconds=12.3)


def test_results_json_carries_each_checks_points_status_and_feedback():
    """Does each check become a Gradescope test with its points, passed/failed, and the feedback
    page's words as Markdown: what it wants, and for a failure what to change?"""
    tests = [CheckResult(name, points, points, "passed", output="confirmed") if name != "stopped_early" else
             CheckResult.failed(name, points, [Message(Code.FAILED, "Call fit with epochs=200.")])
             for name, points in FULL.items()]
    results = valid_results(gradescope.results_json(result_with(*tests), exercise))
    assert scores(results) == all_but("stopped_early") and results["score"] == sum(all_but("stopped_early").values())
    by_name = {test["name"]: test for test in results["tests"]}
    assert by_name["stopped_early"]["status"] == "failed" and by_name["early_stopping"]["status"] == "passed"
    assert "What the grader found, and what to change:\n\n- Call fit with epochs=200." in by_name["stopped_early"]["output"]
    assert by_name["early_stopping"]["output"].startswith("What this check wants: ")
    assert results["execution_time"] == 12
    assert results["output"].startswith(f"# Feedback on your {exercise.name} notebook")
    shows_nothing_hidden(results)


def test_results_json_shows_a_students_markup_as_text():
    """Is markup a student's code put in a message (an error's text) shown as text, not rendered?"""
    said = "The code raised RuntimeError: <img src=x onerror=alert(1)> [click](http://evil) **bold**"
    tests = [CheckResult.failed(name, points, [Message(Code.FAILED, said)]) for name, points in FULL.items()]
    results = valid_results(gradescope.results_json(result_with(*tests), exercise))
    seen = student_visible(results)
    for markup in ("<img", "[click](", "**bold**"):
        assert markup not in seen, f"{markup!r} must reach Gradescope's Markdown escaped"


def test_a_submission_without_exactly_one_notebook_gets_results_saying_so(layout):
    """Do zero notebooks, or two, give a valid results.json: 0 points, and what must hold?"""
    for files, said in (({"notes.txt": b"see attached"}, "this submission has none (its files: notes.txt)"),
                        ({"a.ipynb": submission(), "b.ipynb": submission()}, "this submission has 2: a.ipynb, b.ipynb")):
        root = layout(files)
        results, stdout = run_autograder(root)
        assert results["score"] == 0 and all(test["status"] == "failed" for test in results["tests"])
        assert "Submit exactly one Jupyter notebook (a .ipynb file)" in results["output"] and said in results["output"]
        assert "Not graded" in stdout


def test_fallback_refuses_while_the_graders_files_are_readable(tmp_path):
    """Does the uid fallback refuse to run while its uid can read a file it must protect, and agree once it cannot?"""
    secret = Path(tempfile.mkdtemp(prefix="gradescope-secret-"))
    try:
        os.chmod(secret, 0o755)
        (secret / "reference.json").write_text("{}")
        probe = ("from autograder.uid_runner import UidRunner; import sys; "
                 "print(UidRunner(protected=[sys.argv[1]]).unavailable())")
        command = [sys.executable, "-c", probe, str(secret / "reference.json")]
        readable = as_gradescope_would(command, tmp_path, runner="uid", timeout=300)
        assert f"must not be readable by uid {PROBE_UID}; it can read {secret / 'reference.json'}" in readable.stdout, readable
        os.chmod(secret, 0o700)
        hidden = as_gradescope_would(command, tmp_path, runner="uid", timeout=300)
        assert hidden.stdout.strip() == "None", hidden
    finally:
        shutil.rmtree(secret)


# --- Notebooks graded by run_autograder ------------------------------------------------------------------

MARKER = "gradescope-hostile-left-this"


def hostile_reload(root: Path) -> str:
    """Step 5's answer: first try what a student on Gradescope would (read the grader's files, forge
    results.json, change the grader, signal root's processes, leave a process and a file behind), then
    raise an error reporting what worked: its text reaches results.json, so it must report nothing."""
    return textwrap.dedent(f"""
        import json, os, subprocess, sys
        root = {str(root)!r}
        read, listed, wrote, signalled = [], [], [], []
        for path in [root + "/source/assignments/{exercise.name}/grading/reference.json",
                     root + "/source/assignments/{exercise.name}/grading/checks/test_stopped_early.py",
                     root + "/source/assignments/{exercise.name}/{exercise.name}.ipynb",
                     root + "/source/autograder/gradescope.py", root + "/results/stdout"]:
            try:
                open(path, "rb").read(40)
                read.append(path)
            except OSError:
                pass
        for path in [root, root + "/source", root + "/results"]:
            try:
                os.listdir(path)
                listed.append(path)
            except OSError:
                pass
        forged = json.dumps({{"score": 100, "tests": []}})
        for path in [root + "/results/results.json", root + "/source/autograder/gradescope.py", root + "/run_autograder"]:
            try:
                with open(path, "w") as file:
                    file.write(forged)
                wrote.append(path)
            except OSError:
                pass
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                if os.stat("/proc/" + pid).st_uid == 0:
                    os.kill(int(pid), 0)  # signal 0: permission to signal, and no harm done
                    signalled.append(pid)
            except OSError:
                pass
        open("/tmp/{MARKER}", "w").write("left behind")
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)  # {MARKER}"], start_new_session=True)
        raise RuntimeError(f"probe: read={{read}} listed={{listed}} wrote={{wrote}} signalled={{signalled}}")
    """).strip() + "\n"


# As results.json shows it: Markdown, the brackets escaped.
PROBE_CLEAN = markdown_text("probe: read=[] listed=[] wrote=[] signalled=[]")


def left_behind() -> list:
    """The hostile notebook's file in /tmp and its process, if any outlived the run."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARKER.encode() in cmdline.read_bytes():
                pids.append(cmdline.parent.name)
        except OSError:
            pass
    return ([f"/tmp/{MARKER}"] if os.path.exists(f"/tmp/{MARKER}") else []) + pids


@pytest.mark.slow
def test_solution_gets_full_marks(layout):
    """Does the reference solution, graded by run_autograder in the sandbox, get every point?"""
    results, stdout = run_autograder(layout({"callbacks.ipynb": submission()}))
    assert scores(results) == FULL and results["score"] == exercise.max_score
    assert all(test["status"] == "passed" for test in results["tests"])
    assert "Isolation: the bubblewrap sandbox" in stdout
    shows_nothing_hidden(results)


@pytest.mark.slow
def test_a_mistake_loses_exactly_its_checks(layout):
    """Does patience=3 instead of 5 lose early_stopping and stopped_early only, each saying what to fix?"""
    answer = SOLUTION["answer_early_stopping"].replace("patience=5", "patience=3")
    results, _ = run_autograder(layout({"callbacks.ipynb": submission(answer_early_stopping=answer)}))
    assert scores(results) == all_but("early_stopping", "stopped_early")
    by_name = {test["name"]: test for test in results["tests"]}
    assert "patience=5" in by_name["early_stopping"]["output"]
    assert "must stop it after epoch 14" in by_name["stopped_early"]["output"]
    shows_nothing_hidden(results)


@pytest.mark.slow
def test_a_broken_file_gets_results_saying_why(layout):
    """Does a file that is not a notebook get a valid results.json: 0 points, and why?"""
    results, _ = run_autograder(layout({"callbacks.ipynb": b"my homework is attached\n"}))
    assert results["score"] == 0 and "not valid JSON" in results["output"]


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["sandbox", "uid"])
def test_a_hostile_notebook_reaches_nothing_of_the_grader(layout, runner):
    """Under either isolation, does a notebook that tries to read the grader's files, forge
    results.json, change the grader and signal root's processes reach none of it, leave nothing
    running or behind, and keep the points of its honest work (all but step 5's)?"""
    root = layout({})
    (root / "submission" / "callbacks.ipynb").write_text(nbformat.writes(submission(answer_reload=hostile_reload(root))))
    results, stdout = run_autograder(root, runner=runner)
    assert scores(results) == all_but("reload_val_loss")
    by_name = {test["name"]: test for test in results["tests"]}
    assert PROBE_CLEAN in by_name["reload_val_loss"]["output"], by_name["reload_val_loss"]["output"]
    assert '"score": 100' not in (root / "results" / "results.json").read_text()
    assert (root / "source" / "autograder" / "gradescope.py").read_text().startswith('"""Run as a Gradescope autograder')
    assert not left_behind(), f"nothing of the run may outlive it: {left_behind()}"
    if runner == "uid":
        assert "WARNING: fallback isolation" in stdout
    else:
        assert "Isolation: the bubblewrap sandbox" in stdout
    shows_nothing_hidden(results)


@pytest.mark.slow
def test_where_the_container_forbids_namespaces_the_fallback_grades_and_only_the_instructor_is_told(layout, tmp_path):
    """Where the sandbox cannot be made (as under Docker's defaults, where root may not mount: a
    `mount` that fails as it does there), does run_autograder pick the uid fallback by itself, say
    so and why in its stdout (instructors only), and show the student nothing of it?"""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "mount").write_text("#!/bin/sh\necho 'mount: /tmp/sandbox-stage: permission denied.' >&2\nexit 32\n")
    (fake / "mount").chmod(0o755)
    root = layout({"callbacks.ipynb": b"my homework is attached\n"})
    results, stdout = run_autograder(root, PATH=f"{fake}:{os.environ['PATH']}")
    assert "The bubblewrap sandbox cannot be made in this container: the sandbox probe failed" in stdout
    assert "WARNING: fallback isolation" in stdout
    assert results["score"] == 0 and "not valid JSON" in results["output"]
    for word in ("bwrap", "bubblewrap", "fallback", "uid"):
        assert word not in student_visible(results), f"the student sees nothing of the isolation; {word!r} shows"
