"""End to end: typical student mistakes, each graded by the real grader (sandbox, kernel, training).

Every case is the solution notebook with the answer cells a student got wrong. The grader
must fail exactly the checks that mistake breaks, pass every other check with full points,
and say in each failing check's message what to fix, in the lesson's words.

All notebooks of this module are graded in one batch (one verifier worker, two sandboxes
at once), shared by every test through the module-scoped `graded` fixture.
"""

from dataclasses import dataclass, field

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import exercise
from autograder.grade import Submission, grade
from notebooks import SOLUTION, submission, write

pytestmark = pytest.mark.slow

CHECKS = exercise.checks()  # name -> points, in notebook order


def fit(*, callbacks="[early_stopping, model_checkpoint, tensorboard_callback]", data="validation_data=(x_val, y_val)",
        epochs=200, before="model = build_model()\n"):
    """A step-4 answer: the solution's fit cell with one part changed."""
    arguments = ", ".join(filter(None, ["x_train", "y_train", data, f"epochs={epochs}",
                                        f"callbacks={callbacks}" if callbacks else "", "verbose=0"]))
    return f"{before}history = model.fit({arguments})\n"


def reload(source):
    """A step-5 answer (without the solution's closing print, which a wrong answer may break)."""
    return source.strip() + "\n"


def _without_test_cells(notebook):
    notebook.cells = [cell for cell in notebook.cells if exercise.nbgrader_meta(cell).get("grade_id") not in CHECKS]
    return notebook


def _with_scratch_cells(notebook):
    """A scratch cell after training and another at the end, as students leave them."""
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if exercise.nbgrader_meta(cell).get("grade_id") == "answer_fit":
            cells.append(new_code_cell('print(history.history.keys())\nprint(len(history.epoch), "epochs")'))
    cells.append(new_code_cell("import matplotlib\nmatplotlib.use('Agg')\n"
                               "import matplotlib.pyplot as plt\nplt.plot(history.history['val_loss'])\nmodel.summary()"))
    notebook.cells = cells
    return notebook


@dataclass(frozen=True)
class Mistake:
    name: str
    answers: dict  # answer cell -> source, for the cells that differ from the solution
    fails: dict  # check -> a substring its message must contain; every other check passes
    edit: object = None  # a function changing the notebook's cells beyond the answers
    marks: tuple = field(default=())

    @property
    def statement(self):
        if not self.fails:
            return f"{self.name} gets full marks"
        return f"{self.name} fails {' and '.join(self.fails)} only"

    def notebook(self):
        notebook = submission(**self.answers)
        return self.edit(notebook) if self.edit else notebook


MISTAKES = [
    Mistake(
        "early_stopping monitoring loss",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="loss", patience=5, verbose=1)'},
        {"early_stopping": "The training loss keeps falling", "stopped_early": "Training ran all 200 epochs"},
    ),
    Mistake(
        "patience 3",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=3)'},
        {"early_stopping": "patience=5", "stopped_early": "must stop it after epoch 14"},
    ),
    Mistake(
        "only tensorboard_callback passed to fit",
        {"answer_fit": fit(callbacks="[tensorboard_callback]")},
        {"stopped_early": "Pass early_stopping in fit's callbacks=[...]",
         "best_weights_file": "pass it in fit's callbacks=[...]",
         "reload_val_loss": "No usable best-weights file"},
    ),
    Mistake(
        "no callbacks passed to fit",
        {"answer_fit": fit(callbacks=None)},
        {"stopped_early": "Pass early_stopping in fit's callbacks=[...]",
         "best_weights_file": "pass it in fit's callbacks=[...]",
         "tensorboard_logs": "pass tensorboard_callback in fit's callbacks=[...]",
         "reload_val_loss": "No usable best-weights file"},
    ),
    Mistake(
        "only early_stopping passed to fit",
        {"answer_fit": fit(callbacks="[early_stopping]")},
        {"best_weights_file": "pass it in fit's callbacks=[...]",
         "tensorboard_logs": "pass tensorboard_callback in fit's callbacks=[...]",
         "reload_val_loss": "No usable best-weights file"},
    ),
    Mistake(
        "checkpoint without save_best_only",
        {"answer_model_checkpoint": 'model_checkpoint = ModelCheckpoint("checkpoints/best_model.weights.h5", '
                                    'monitor="val_loss", save_weights_only=True)'},
        {"model_checkpoint": "save_best_only=True", "reload_val_loss": "so the file keeps the best epoch"},
    ),
    Mistake(
        "checkpoint monitoring loss",
        {"answer_model_checkpoint": 'model_checkpoint = ModelCheckpoint("checkpoints/best_model.weights.h5", '
                                    'monitor="loss", save_best_only=True, save_weights_only=True)'},
        {"model_checkpoint": 'monitor="val_loss"', "reload_val_loss": "so the file keeps the best epoch"},
    ),
    Mistake(
        "checkpoint file named model.weights.h5",
        {"answer_model_checkpoint": 'model_checkpoint = ModelCheckpoint("checkpoints/model.weights.h5", '
                                    'monitor="val_loss", save_best_only=True, save_weights_only=True)',
         "answer_reload": reload('best_model = build_model()\nbest_model.load_weights("checkpoints/model.weights.h5")\n'
                                 'best_val_loss = best_model.evaluate(x_val, y_val, verbose=0)[0]')},
        {"model_checkpoint": 'must save to "checkpoints/best_model.weights.h5"',
         "best_weights_file": "checkpoints/best_model.weights.h5 does not exist",
         "reload_val_loss": "No usable best-weights file"},
    ),
    Mistake(
        "no reload, the trained model evaluated",
        {"answer_reload": reload("best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]")},
        {"reload_val_loss": "into a fresh build_model()"},
    ),
    Mistake(
        "best weights reloaded into the trained model",
        {"answer_reload": reload('model.load_weights("checkpoints/best_model.weights.h5")\n'
                                 "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]")},
        {"reload_val_loss": "leave the trained model as it is"},
    ),
    Mistake(
        "best_val_loss holding the whole evaluate list",
        {"answer_reload": reload('best_model = build_model()\nbest_model.load_weights("checkpoints/best_model.weights.h5")\n'
                                 "best_val_loss = best_model.evaluate(x_val, y_val, verbose=0)")},
        {"reload_val_loss": "evaluate returns [loss, accuracy]: take the first"},
    ),
    Mistake(
        "fit with epochs=50",
        {"answer_fit": fit(epochs=50)},
        {"stopped_early": "Call fit with epochs=200"},
    ),
    Mistake(
        "validation_split instead of validation_data",
        {"answer_fit": fit(data="validation_split=0.2")},
        {"stopped_early": "which this exercise's training does not produce",
         "reload_val_loss": "train with the locked setup as step 4 says"},
    ),
    Mistake(
        "log_dir without a timestamp",
        {"answer_tensorboard_callback": 'tensorboard_callback = TensorBoard(log_dir="logs/fit")'},
        {"tensorboard_callback": "its log_dir is 'logs/fit'"},
    ),
    Mistake(
        "restore_best_weights=True",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)'},
        {},
    ),
    Mistake(
        "build_model() called earlier and twice",
        {"answer_early_stopping": "model = build_model()\nmodel.summary()\n" + SOLUTION["answer_early_stopping"],
         "answer_fit": fit(before="model = build_model()\nmodel = build_model()\n")},
        {},
    ),
    Mistake("extra scratch cells", {}, {}, edit=_with_scratch_cells),
    Mistake("visible test cells deleted", {}, {}, edit=_without_test_cells),
    Mistake(
        "visible test cells deleted and no reload",
        {"answer_reload": reload("best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]")},
        {"reload_val_loss": "into a fresh build_model()"},
        edit=_without_test_cells,
    ),
]

SOLUTION_NAME, RELEASE_NAME = "solution", "release"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{name: Result} for the solution, the untouched release and every mistake, graded in one batch."""
    notebooks = {SOLUTION_NAME: submission(),
                 RELEASE_NAME: nbformat.read(exercise.RELEASE_NOTEBOOK, as_version=4),
                 **{m.name: m.notebook() for m in MISTAKES}}
    submissions = [
        Submission(name, write(notebook, tmp_path_factory.mktemp("submission") / "callbacks.ipynb"))
        for name, notebook in notebooks.items()
    ]
    results = grade(submissions, jobs=2)
    return {result.submission: result for result in results}


def describe(result):
    return "\n".join([f"{result.submission}: {result.score}/{result.max_score} ({result.status}, {result.message})"]
                     + [f"  {t.name}: {t.score}/{t.max_score} {t.status}\n    {t.output}" for t in result.tests])


def test_solution_gets_full_marks(graded):
    """The reference solution gets 10/10, every check passed."""
    result = graded[SOLUTION_NAME]
    assert result.status == "graded", describe(result)
    assert [(t.name, t.score, t.status) for t in result.tests] == [(n, p, "passed") for n, p in CHECKS.items()], describe(result)
    assert result.score == result.max_score == 10


# Reported to the lead: these checks fail on the missing best-weights file (and on "history is not
# the History that model.fit returned") without passing on the run's problem, so for the release
# they never say that the answer cells still raise NotImplementedError.
SILENT_ABOUT_THE_RUN = ("best_weights_file", "reload_val_loss")


def test_untouched_release_gets_zero_saying_not_implemented(graded):
    """The release as handed out runs to the end and gets 0 on every check; the messages name the NotImplementedError."""
    result = graded[RELEASE_NAME]
    assert result.status == "graded", describe(result)
    assert [(t.name, t.score, t.status) for t in result.tests] == [(n, 0.0, "failed") for n in CHECKS], describe(result)
    assert result.score == 0
    for test in result.tests:
        if test.name not in SILENT_ABOUT_THE_RUN:
            assert "still raises NotImplementedError" in test.output, f"{test.name}:\n{describe(result)}"


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="grader bug, reported: checkpoint_file and checkpoint_val_loss do not append context.run_problem")
def test_untouched_release_file_checks_name_the_not_implemented_error(graded):
    """best_weights_file and reload_val_loss also say, for the release, that a cell still raises NotImplementedError."""
    result = graded[RELEASE_NAME]
    silent = [t.name for t in result.tests if t.name in SILENT_ABOUT_THE_RUN and "NotImplementedError" not in t.output]
    assert not silent, f"{silent} do not mention NotImplementedError:\n{describe(result)}"


@pytest.mark.parametrize("mistake", [pytest.param(m, id=m.statement, marks=m.marks) for m in MISTAKES])
def test_mistake_fails_exactly_its_checks(mistake, graded):
    """The mistake fails exactly its checks, each message naming the fix; every other check gets full points."""
    result = graded[mistake.name]
    assert result.status == "graded", describe(result)
    failed = {t.name for t in result.tests if t.status != "passed"}
    assert failed == set(mistake.fails), describe(result)
    for test in result.tests:
        if test.name in mistake.fails:
            assert test.score == 0, describe(result)
            assert mistake.fails[test.name] in test.output, (
                f"{test.name}'s message should say {mistake.fails[test.name]!r}:\n{describe(result)}")
        else:
            assert test.score == test.max_score == CHECKS[test.name], describe(result)
    assert result.score == sum(p for n, p in CHECKS.items() if n not in mistake.fails)
