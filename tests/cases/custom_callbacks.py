"""The custom_callbacks assignment's named cases (see tests/cases/__init__.py): mistakes, honest styles, the example class.

Every case is the solution notebook with the answer cells a student wrote otherwise. The
numbers in the messages and reasons are the solution's run: val_accuracy first reaches the
target 0.9375 at epoch 13, where ValAccuracyTarget stops it; the best val_loss is epoch 9's.
"""

from autograder import assignment
from cases import SOLUTION, Case, named, untouched

EXERCISE = assignment.get("custom_callbacks")
# training_log's message on the untouched release names the missing fit (step 5), not the
# NotImplementedError of step 4's cell as every other check does (reported to the lead).
UNTOUCHED = untouched(EXERCISE, training_log="no cell sets `history = model.fit(...)` (step 5)")

ORDER = "[val_accuracy_target, reduce_lr, early_stopping, csv_logger]"


def fit(callbacks=ORDER, before="model = build_model()\n", extra=""):
    """A step-5 answer: the solution's fit with another callbacks list (or more arguments)."""
    return (f"{before}history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=200, "
            f"callbacks={callbacks}{extra}, verbose=0)\n")


def target_class(base="Callback", compare='logs["val_accuracy"] >= self.target', method="on_epoch_end", head="",
                 target="0.9375"):
    """A step-1 answer: ValAccuracyTarget with one part written otherwise."""
    return f"""{head}class ValAccuracyTarget({base}):
    def __init__(self, target):
        super().__init__()
        self.target = target
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.stopped_epoch = None

    def {method}(self, epoch, logs=None):
        if {compare}:
            self.stopped_epoch = epoch
            self.model.stop_training = True


val_accuracy_target = ValAccuracyTarget(target={target})
"""


def reduce_lr(arguments='monitor="val_loss", factor=0.5, patience=2'):
    return f"reduce_lr = ReduceLROnPlateau({arguments})\n"


MISTAKES = [
    Case("target compared with the training accuracy",
         {"answer_val_accuracy_target": target_class(compare='logs["accuracy"] >= self.target')},
         {"stopped_at_target": "below the target", "learning_rate_reduced": "never went down"},
         "The training accuracy reaches 0.9375 within a few epochs, before any plateau of val_loss."),
    Case("target never stops training",
         {"answer_val_accuracy_target": target_class().replace("            self.model.stop_training = True\n", "")},
         {"stopped_at_target": "training went on to epoch 14"},
         "EarlyStopping ends the run after epoch 14; the target was first reached at epoch 13.", epochs=14),
    Case("on_epoch_end misspelled",
         {"answer_val_accuracy_target": target_class(method="on_epoch_ends")},
         {"val_accuracy_target": "must override on_epoch_end", "stopped_at_target": "training went on to epoch 14"},
         "Keras never calls on_epoch_ends: nothing stops at the target."),
    Case("subclass of LambdaCallback",
         {"answer_val_accuracy_target": target_class(base="keras.callbacks.LambdaCallback")},
         {"val_accuracy_target": "must be a subclass of keras.callbacks.Callback"},
         "LambdaCallback is a Callback too, so the run is right, but step 1 asks for Callback itself; read from the code."),
    Case("target 0.94",
         {"answer_val_accuracy_target": target_class(target="0.94")},
         {"val_accuracy_target": "must aim for 0.9375", "stopped_at_target": "training went on to epoch 14"},
         "0.94 is logged as 0.93999..., below 0.94: EarlyStopping ends the run after epoch 14."),
    Case("reduce_lr factor 0.1",
         {"answer_reduce_lr": reduce_lr('monitor="val_loss", factor=0.1, patience=2')},
         {"reduce_lr": "factor=0.5", "learning_rate_reduced": "as configured"}),
    Case("reduce_lr patience 5",
         {"answer_reduce_lr": reduce_lr('monitor="val_loss", factor=0.5, patience=5')},
         {"reduce_lr": "patience=2", "learning_rate_reduced": "as configured"},
         "No reduction before the stop after epoch 13; the rule asked for reduces after epoch 11."),
    Case("reduce_lr watching the training loss",
         {"answer_reduce_lr": reduce_lr('monitor="loss", factor=0.5, patience=2')},
         {"reduce_lr": 'monitor="val_loss"', "learning_rate_reduced": "as configured"},
         "The training loss falls every epoch: no reduction."),
    Case("restore_best_weights left out",
         {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=5)\n'},
         {"early_stopping": "restore_best_weights=True", "best_weights_restored": "Set restore_best_weights=True"}),
    Case("early_stopping not passed to fit",
         {"answer_fit": fit("[val_accuracy_target, reduce_lr, csv_logger]")},
         {"best_weights_restored": "not passed to model.fit"},
         "The target still stops after epoch 13, but nothing restores the best weights."),
    Case("val_accuracy_target not passed to fit",
         {"answer_fit": fit("[reduce_lr, early_stopping, csv_logger]")},
         {"stopped_at_target": "`val_accuracy_target` was created but not passed"},
         "EarlyStopping ends the run after epoch 14 and restores epoch 9: only the stop is wrong."),
    Case("csv_logger before reduce_lr",
         {"answer_fit": fit("[val_accuracy_target, csv_logger, reduce_lr, early_stopping]")},
         {"training_log": "no learning_rate column"},
         "CSVLogger fixes its columns at the end of epoch 1, before ReduceLROnPlateau adds learning_rate."),
    Case("csv_logger appending, trained twice",
         {"answer_csv_logger": 'os.makedirs("logs", exist_ok=True)\ncsv_logger = CSVLogger("logs/training.csv", append=True)\n',
          "answer_fit": fit() + fit()},
         {"csv_logger": "append=False", "training_log": "one line per epoch"},
         "The second fit appends 13 more lines, numbered from 0 again."),
    Case("csv_logger writing another file",
         {"answer_csv_logger": 'csv_logger = CSVLogger("training.csv")\n'},
         {"csv_logger": 'must write to "logs/training.csv"', "training_log": "does not exist"}),
    Case("no logs folder",
         {"answer_csv_logger": 'csv_logger = CSVLogger("logs/training.csv")\n'},
         {"stopped_at_target": "`history` is not defined", "learning_rate_reduced": "`history` is not defined",
          "best_weights_restored": "`history` is not defined", "training_log": "Create the logs folder (step 4)"},
         "fit raises FileNotFoundError when CSVLogger opens its file: history is never set."),
]

# Honest ways of writing the answers: every one gets full marks.
STYLES = [
    Case("keras.callbacks.Callback spelled out", {"answer_val_accuracy_target": target_class(base="keras.callbacks.Callback")}, {}),
    Case("tf.keras.callbacks.Callback", {"answer_val_accuracy_target": target_class(base="tf.keras.callbacks.Callback")}, {}),
    Case("Callback imported under another name",
         {"answer_val_accuracy_target": target_class(base="Base", head="from keras.callbacks import Callback as Base\n\n\n")}, {}),
    Case("an intermediate base class",
         {"answer_val_accuracy_target": "class StopOnTarget(Callback):\n    pass\n\n\n"
          + target_class(base="StopOnTarget")}, {}),
    Case("strict > and logs.get", {"answer_val_accuracy_target": target_class(compare='logs.get("val_accuracy", 0) > self.target')}, {}),
    Case("every ReduceLROnPlateau argument written out",
         {"answer_reduce_lr": reduce_lr('monitor="val_loss", factor=0.5, patience=2, verbose=0, mode="min", '
                                        'min_delta=1e-4, cooldown=0, min_lr=0')}, {}),
    Case("EarlyStopping with mode and min_delta written out",
         {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", mode="min", min_delta=0, patience=5, '
                                   'restore_best_weights=True)\n'}, {}),
    Case("path joined and folder made with pathlib",
         {"answer_csv_logger": 'import pathlib\npathlib.Path("logs").mkdir(exist_ok=True)\n'
                               'csv_logger = CSVLogger(os.path.join("logs", "training.csv"), separator=",", append=False)\n'}, {}),
    Case("callbacks list in a variable",
         {"answer_fit": f"callbacks = {ORDER}\n" + fit("callbacks")}, {}),
    Case("keyword data, explicit batch size, progress bar",
         {"answer_fit": "model = build_model()\nhistory = model.fit(x=x_train, y=y_train, batch_size=32, epochs=200, "
                        f"validation_data=(x_val, y_val), callbacks={ORDER}, verbose=2)\n"}, {}),
    Case("no on_train_begin",
         {"answer_val_accuracy_target": target_class().replace(
             "    def on_train_begin(self, logs=None):\n        self.stopped_epoch = None\n\n", "")}, {}),
    Case("scratch cells after training",
         {"answer_fit": fit() + 'print(history.history.keys())\nimport csv\nprint(open("logs/training.csv").read()[:80])\n'}, {}),
]


# The example class (example/make_submissions.py), also autograded by nbgrader in tests/test_nbgrader.py.
CLASS = {
    "ada": SOLUTION,
    # Compares the target with the training accuracy: stops too early, before any plateau.
    "grace": named(MISTAKES, "target compared with the training accuracy"),
    # Passes CSVLogger before ReduceLROnPlateau: the log has no learning_rate column.
    "alan": named(MISTAKES, "csv_logger before reduce_lr"),
    # Leaves out restore_best_weights.
    "barbara": named(MISTAKES, "restore_best_weights left out"),
    # Submitted the notebook as it was handed out.
    "margaret": UNTOUCHED,
}

# Where `nbgrader autograde` scores the example class otherwise: {student: {check: nbgrader's score}}.
# None: step 1's graded test cell asks what its hidden check asks (the class, its hook, its target);
# trying the class on made-up logs is a locked cell of its own, ungraded, since what the callback
# does is graded from the run (stopped_at_target). Before, grace's comparison with "accuracy"
# failed those made-up logs inside the graded cell, and nbgrader gave 0 where our grader gave 2.
NBGRADER_DIFFERS = {}

# Trains (14 epochs instead of 13) and fails one check with a message that holds numbers from
# the run but no timestamp, so equal results mean an equal run.
DETERMINISM = named(MISTAKES, "target never stops training")
