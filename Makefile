# The README's two commands are `make example` and `make test`; the other targets are their steps.
PYTHON ?= python3
BIN := .venv/bin
# A Python named on the command line (`make setup PYTHON=python3.12`) other than the one .venv was made
# with starts .venv afresh; without PYTHON=, .venv is kept, whichever Python made it.
ifeq ($(origin PYTHON),command line)
ifneq ($(shell $(PYTHON) -c 'import sys; print(sys.version)' 2>&1),$(shell test -x $(BIN)/python && $(BIN)/python -c 'import sys; print(sys.version)'))
VENV_OPTIONS := --clear
.PHONY: $(BIN)/.installed
endif
endif
# nbgrader starts `alembic` by name, so the virtual environment's bin/ must be on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
# bubblewrap is the grader's sandbox; python3-venv gives the system's python3 its `venv` (Debian and Ubuntu
# leave ensurepip out of python3); chromium renders the feedback pages in the tests only, and chromium-driver lets
# selenium drive it through formgrader.
SYSTEM_PACKAGES := bubblewrap python3-venv
TEST_PACKAGES := chromium chromium-driver
# The Pythons the lock must install on: Debian 12's, Ubuntu 24.04's and Debian 13's.
SUPPORTED_PYTHONS := 3.11.2 3.12 3.13

.PHONY: setup system test-system packages example notebook test test-fast release reference benchmark gradescope lock check-lock clean

setup: system $(BIN)/.installed

system:
	@$(MAKE) --no-print-directory packages PACKAGES="$(SYSTEM_PACKAGES)"

test-system:
	@$(MAKE) --no-print-directory packages PACKAGES="$(SYSTEM_PACKAGES) $(TEST_PACKAGES)"

packages:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install as root:$$missing (apt-get install$$missing)"; exit 1; fi; \
	fi

$(BIN)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV_OPTIONS) .venv
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# The main job on the bundled example class: release, grades, feedback, class report. The class
# hands in every assignment, so each one's outputs go in example/out/<assignment>/.
example: setup release
	$(BIN)/python -m autograder grade example/submitted --json example/out/results.json --csv example/out/grades.csv

# The student's side: a copy of the release in student/callbacks/, made once and then kept (`make
# release` rewrites release/, never this copy), opened in JupyterLab with .venv/bin on PATH (above):
# what it starts (`%tensorboard`, `!tensorboard`, its terminals) is the environment's. No root needed: no `setup`.
notebook: $(BIN)/.installed
	@test -e student/callbacks || { mkdir -p student && cp -r release/callbacks student/callbacks; }
	$(BIN)/jupyter lab student/callbacks/callbacks.ipynb

test: setup test-system check-lock
	$(BIN)/python -m pytest

# Everything that trains no model and runs no notebook (about 2 minutes on 2 cores).
test-fast: setup test-system
	$(BIN)/python -m pytest -m "not slow"

# Every assignment of the course: a folder of assignments/ with its notebook and grading/assignment.json.
ASSIGNMENTS = $(patsubst assignments/%/grading/assignment.json,%,$(wildcard assignments/*/grading/assignment.json))

# Regenerate the student versions from assignments/ (commit the result).
release: setup
	@for a in $(ASSIGNMENTS); do $(BIN)/nbgrader generate_assignment $$a --force --log-level=WARN || exit 1; done

# Re-run each assignment's solution and canonical training after changing its setup or solution
# (make reference ASSIGNMENT=name for one).
reference: setup
	$(BIN)/python -m autograder reference $(ASSIGNMENT)

# nbgrader with in-kernel asserts vs this grader on one generated class (~10-15 min on 2 cores);
# options go in BENCHMARK_ARGS, e.g. make benchmark BENCHMARK_ARGS="--students 12 --old --json bench.json".
benchmark: setup
	$(BIN)/python benchmarks/grading_speed.py $(BENCHMARK_ARGS)

# Gradescope's autograder zip for one assignment (README, "Gradescope"): make gradescope ASSIGNMENT=callbacks
gradescope: setup
	$(BIN)/python -m autograder gradescope $(or $(ASSIGNMENT),callbacks) --output gradescope/$(or $(ASSIGNMENT),callbacks).zip

# Resolve the lock, wheels only, for each supported Python (from PyPI; nothing is installed), and check
# that it pins everything pip would install from it (tools/lock_closed.py says why that matters).
check-lock: $(BIN)/.installed
	@for v in $(SUPPORTED_PYTHONS); do \
	  scratch="$$(mktemp -d)"; \
	  $(BIN)/pip install --quiet --dry-run --ignore-installed --only-binary=:all: --python-version $$v \
	    --target "$$scratch/target" --report "$$scratch/report.json" -r requirements.lock || { echo "requirements.lock does not install on Python $$v"; exit 1; }; \
	  $(BIN)/python tools/lock_closed.py requirements.lock "$$scratch/report.json" || { echo "(resolving for Python $$v)"; exit 1; }; \
	  rm -rf "$$scratch"; \
	  echo "requirements.lock resolves on Python $$v, every package pinned"; \
	done

# Rewrite the lock from what .venv holds (after `.venv/bin/pip install NAME==VERSION`). --all keeps
# setuptools and wheel, which TensorFlow and astunparse need and which `pip freeze` leaves out before
# Python 3.12; pip itself is the installer, not a dependency. `make check-lock` then proves it on each Python.
lock:
	$(BIN)/pip freeze --all --exclude-editable | grep -v '^pip==' | sed '1i # Exact versions that `make setup` installs, the same on Python 3.11 (3.11.2 and later), 3.12 and 3.13 on x86_64\n# (`make check-lock` resolves it for each). Regenerate with `make lock`.' > requirements.lock

clean:
	rm -rf example/out gradebook.db
