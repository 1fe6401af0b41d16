"""Grader of Keras exercises for nbgrader: hidden checks that trust no result computed next to student code.

`check(name)` is what the notebook's hidden test cells call under `nbgrader autograde`.
Everything else runs on the grader's side: `python -m autograder --help`.
"""

import contextlib
import io
import json
import os
import subprocess
import sys

# jsonschema (under nbformat, and our evidence schema) imports its optional RFC 3987 checker
# when it is installed; that builds a grammar, 0.8 s of CPU in every grader process (measured),
# for formats neither schema uses. Python skips an import whose sys.modules entry is None.
sys.modules.setdefault("rfc3987_syntax", None)


def check(name):
    """Grade check `name` of the running notebook in a separate grader process.

    The student's variables are exported as plain data (autograder.export) and the
    verdict comes from `python -m autograder verify`, a process that never ran student
    code. Raises AssertionError with the check's message when it fails; returns None,
    because nbgrader would take a returned number as partial credit.
    """
    from IPython import get_ipython

    from . import assignment, export

    # nbgrader runs a notebook in a folder named after its assignment (autograded/<student>/<name>/,
    # or the instructor's assignments/<name>/).
    exercise = assignment.get(os.path.basename(os.getcwd()))
    # nbgrader scores a test cell 0 for any stderr output; saving weights may warn there.
    with contextlib.redirect_stderr(io.StringIO()):
        export.snapshot(get_ipython().user_ns, name, exercise.exports)
    process = subprocess.run(
        [sys.executable, "-m", "autograder", "verify", os.getcwd(), "--assignment", exercise.name, "--check", name],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if process.returncode != 0:
        raise RuntimeError(f"The grader could not run check {name!r}:\n{process.stderr[-3000:]}")
    (result,) = json.loads(process.stdout.strip().splitlines()[-1])
    if result["status"] != "passed":
        raise AssertionError(f"{name}:\n{result['output']}")
    print(f"{name}: passed")
