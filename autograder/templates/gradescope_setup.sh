#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu, with network).
# Two parts:
#   install  (network) Ubuntu's packages (bubblewrap, util-linux, a Python 3.11-3.13 with venv) and
#            the locked Python packages (requirements.lock) in a virtual environment outside
#            /autograder, so that a run as an unprivileged uid can start its interpreter;
#   prepare  (offline) make the grader's files root's alone and check that the bundle can grade.
# `setup.sh` runs both; `setup.sh prepare` the second alone. Nothing here is needed at grading
# time: run_autograder uses no network.
# SETUP_DRY_RUN=1 prints the install commands instead of running them; AUTOGRADER_ROOT and
# AUTOGRADER_VENV move /autograder and the environment (the tests lay Gradescope's folders out elsewhere).
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${AUTOGRADER_VENV:-/opt/autograder-venv}"

run() {
    if [ -n "${SETUP_DRY_RUN:-}" ]; then echo "+ $*"; else "$@"; fi
}

# The first python3.x on PATH that the lock installs on (3.11 to 3.13), else nothing.
supported_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

install() {
    export DEBIAN_FRONTEND=noninteractive
    run apt-get update -qq
    # bubblewrap: the sandbox; util-linux: setpriv and prlimit (the sandbox's and the fallback's uid and limits).
    run apt-get install -y -qq --no-install-recommends bubblewrap util-linux ca-certificates
    local python
    if ! python="$(supported_python)"; then
        # Ubuntu 22.04's own python3 is 3.10: its universe has a python3.11.
        run apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv
        python="$(supported_python)" || {
            echo "setup.sh: the grader needs Python 3.11, 3.12 or 3.13 (requirements.lock); none is installable" \
                 "here: choose Gradescope's Ubuntu 24.04 base image (Python 3.12)." >&2
            exit 1
        }
    fi
    local version
    version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    run apt-get install -y -qq --no-install-recommends "python$version-venv"
    run "$python" -m venv "$VENV"
    run "$VENV/bin/pip" install --quiet --no-cache-dir --upgrade pip
    run "$VENV/bin/pip" install --quiet --no-cache-dir -r "$SOURCE/requirements.lock"
    # Readable by all whatever the umask: runs start this interpreter as an unprivileged uid.
    run chmod -R go+rX "$VENV"
}

prepare() {
    # The hidden checks, reference values and solutions live in $SOURCE: root's alone (run_autograder
    # makes $ROOT 0700 again before every run, in case the harness changed it).
    chmod -R go-rwx "$SOURCE"
    chmod 0700 "$ROOT"
    for tool in setpriv prlimit; do
        command -v "$tool" >/dev/null || { echo "setup.sh: $tool (util-linux) is missing" >&2; exit 1; }
    done
    command -v bwrap >/dev/null || echo "setup.sh: no bubblewrap: every run will use the fallback isolation (a separate uid)"
    (cd "$ROOT" && PYTHONPATH="$SOURCE" NBGRADER_COURSE_ROOT="$SOURCE" "$VENV/bin/python" -P -m autograder gradescope-run \
        --root "$ROOT" --check)
}

case "${1:-all}" in
    all) install; prepare ;;
    install) install ;;
    prepare) prepare ;;
    *) echo "usage: setup.sh [all|install|prepare]" >&2; exit 2 ;;
esac
