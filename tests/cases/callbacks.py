"""The callbacks assignment's named cases (see tests/cases/__init__.py): mistakes, honest styles, the example class.

Every case is the solution notebook with the answer cells a student wrote otherwise. The
numbers in the messages and reasons are the solution's run: the best epoch is 9 and
EarlyStopping (patience 5) stops it after epoch 14.
"""

from nbformat.v4 import new_code_cell

from autograder import assignment
from cases import SOLUTION, Case, named, untouched
from notebooks import answers_of

EXERCISE = assignment.get("callbacks")
CHECKS = EXERCISE.checks  # name -> points, in notebook order
ANSWERS = answers_of(EXERCISE)  # the solution's answer cells
EPOCHS_RUN = EXERCISE.reference["solution"]["epochs_run"]  # the 14 epochs an honest run trains
UNTOUCHED = untouched(EXERCISE)


def fit(*, callbacks="[early_stopping, model_checkpoint, tensorboard_callback]", data="validation_data=(x_val, y_val)",
        epochs=200, before="model = build_model()\n"):
    """A step-4 answer: the solution's fit cell with one part changed."""
    arguments = ", ".join(filter(None, ["x_train", "y_train", data, f"epochs={epochs}",
                                        f"callbacks={callbacks}" if callbacks else "", "verbose=0"]))
    return f"{before}history = model.fit({arguments})\n"


def _without_test_cells(notebook):
    notebook.cells = [cell for cell in notebook.cells if EXERCISE.nbgrader_meta(cell).get("grade_id") not in CHECKS]
    return notebook


def _with_scratch_cells(notebook):
    """A scratch cell after training and another at the end, as students leave them."""
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if EXERCISE.nbgrader_meta(cell).get("grade_id") == "answer_fit":
            cells.append(new_code_cell('print(history.history.keys())\nprint(len(history.epoch), "epochs")'))
    cells.append(new_code_cell("import matplotlib\nmatplotlib.use('Agg')\n"
                               "import matplotlib.pyplot as plt\nplt.plot(history.history['val_loss'])\nmodel.summary()"))
    notebook.cells = cells
    return notebook


def checkpoint(**changes):
    """A step-2 answer: the solution's ModelCheckpoint with some arguments changed (None: left out)."""
    arguments = {"filepath": '"checkpoints/best_model.weights.h5"', "monitor": '"val_loss"',
                 "save_best_only": "True", "save_weights_only": "True", **changes}
    return f"model_checkpoint = ModelCheckpoint({', '.join(f'{k}={v}' for k, v in arguments.items() if v is not None)})\n"


FRESH_RELOAD = ('best_model = build_model()\nbest_model.load_weights("{file}")\n'
                "best_val_loss = best_model.evaluate(x_val, y_val, verbose=0){index}")

# The first two train for all 200 epochs: they go first, so that the batch does not end on them.
MISTAKES = [
    Case(
        "early_stopping monitoring loss",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="loss", patience=5, verbose=1)'},
        {"early_stopping": "The training loss keeps falling", "stopped_early": "Training ran all 200 epochs"},
        "The training loss falls every epoch, so training runs to the limit; the checkpoint still "
        "watches val_loss, so the file and the reload are right.",
        epochs=200,
    ),
    Case(
        "only tensorboard_callback passed to fit",
        {"answer_fit": fit(callbacks="[tensorboard_callback]")},
        {"stopped_early": "Pass early_stopping in fit's callbacks=[...]",
         "best_weights_file": "pass it in fit's callbacks=[...]",
         "reload_val_loss": "No usable best-weights file"},
        "Nothing stops training and nothing writes the file; the callbacks themselves are right and "
        "TensorBoard logs all 200 epochs.",
        epochs=200,
    ),
    Case(
        "patience 3",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=3)'},
        {"early_stopping": "patience=5", "stopped_early": "must stop it after epoch 14"},
        "Training stops after epoch 12 instead of 14; the best epoch (9) is still saved and reloaded.",
        epochs=12,
    ),
    Case(
        "only early_stopping passed to fit",
        {"answer_fit": fit(callbacks="[early_stopping]")},
        {"best_weights_file": "pass it in fit's callbacks=[...]",
         "tensorboard_logs": "pass tensorboard_callback in fit's callbacks=[...]",
         "reload_val_loss": "No usable best-weights file"},
        "Training stops where it should, but no file is written and nothing is logged.",
    ),
    Case(
        "checkpoint without save_best_only",
        {"answer_model_checkpoint": checkpoint(save_best_only=None)},
        {"model_checkpoint": "save_best_only=True", "reload_val_loss": "so the file keeps the best epoch"},
        "The file is overwritten every epoch and ends with epoch 14, not the best epoch 9.",
    ),
    Case(
        "checkpoint monitoring loss",
        {"answer_model_checkpoint": checkpoint(monitor='"loss"')},
        {"model_checkpoint": 'monitor="val_loss"', "reload_val_loss": "so the file keeps the best epoch"},
        "The training loss improves every epoch, so the file ends with epoch 14.",
    ),
    Case(
        "checkpoint file named model.weights.h5",
        {"answer_model_checkpoint": checkpoint(filepath='"checkpoints/model.weights.h5"'),
         "answer_reload": FRESH_RELOAD.format(file="checkpoints/model.weights.h5", index="[0]")},
        {"model_checkpoint": 'must save to "checkpoints/best_model.weights.h5"',
         "best_weights_file": "checkpoints/best_model.weights.h5 does not exist",
         "reload_val_loss": "No usable best-weights file"},
        "The grader measures only the agreed file, which does not exist, even though the student "
        "reloads their own file correctly.",
    ),
    Case(
        "no reload, the trained model evaluated",
        {"answer_reload": "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n"},
        {"reload_val_loss": "into a fresh build_model()"},
        "best_val_loss is the last epoch's loss (epoch 14), not the best weights' loss.",
    ),
    Case(
        "no reload, best_val_loss copied from history",
        {"answer_reload": 'best_val_loss = min(history.history["val_loss"])\n'},
        {"reload_val_loss": "No model other than the trained one holds the best weights"},
        "The number is right, but no model holds the best weights: nothing was reloaded.",
    ),
    Case(
        "best weights reloaded into a new model named model",
        {"answer_reload": 'model = build_model()\nmodel.load_weights("checkpoints/best_model.weights.h5")\n'
                          "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n"},
        {},
        "model = build_model() makes a fresh model (history.model is still the trained one): a real reload, any name.",
    ),
    Case(
        "best weights reloaded into the trained model",
        {"answer_reload": 'model.load_weights("checkpoints/best_model.weights.h5")\n'
                          "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n"},
        {"reload_val_loss": "leave the trained model as it is"},
        "best_val_loss is right, but at step 5's check the trained model no longer holds its last "
        "epoch's weights; step 4's checks saw it before the reload.",
    ),
    Case(
        "best_val_loss holding the whole evaluate list",
        {"answer_reload": FRESH_RELOAD.format(file="checkpoints/best_model.weights.h5", index="")},
        {"reload_val_loss": "the whole list evaluate returns, [loss, accuracy]: take the first"},
        "best_val_loss is [loss, accuracy], not a number.",
    ),
    Case(
        "fit with epochs=50",
        {"answer_fit": fit(epochs=50)},
        {"stopped_early": "Call fit with epochs=200"},
        "EarlyStopping still stops after epoch 14, so only the epoch limit is wrong.",
    ),
    Case(
        "validation_split instead of validation_data",
        {"answer_fit": fit(data="validation_split=0.3")},
        {"stopped_early": "which this exercise's training does not produce",
         "best_weights_file": "which this exercise's training does not produce",
         "reload_val_loss": "uses validation_split=0.3 instead of validation_data=(x_val, y_val)"},
        "Training and validation data change, so history is not this exercise's training (it happens "
        "to stop after 14 epochs too) and the file is not its best epoch; the callbacks and the "
        "reload itself are right. The file cannot be tied to an epoch of this exercise's training, so "
        "best_weights_file fails too, with the same message pointing at the fit call.",
        # The grader measures on (x_val, y_val), history holds other data's values: the messages
        # must point at the fit call, not ask to change the checkpoint or the reload, which are right.
        never_says=("ModelCheckpoint must watch val_loss with save_best_only=True", "leave the trained model as it is",
                    "nothing trained or loaded into it afterwards", "not saved or copied by hand"),
    ),
    Case(
        "log_dir without a timestamp",
        {"answer_tensorboard_callback": 'tensorboard_callback = TensorBoard(log_dir="logs/fit")'},
        {"tensorboard_callback": "its log_dir is 'logs/fit'"},
        "Only the folder name is wrong: this single run is still logged under logs/fit/train and validation.",
    ),
    Case(
        "restore_best_weights=True",
        {"answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)'},
        {},
        "Keras 3 puts the best epoch's weights back into the trained model when fit ends: that is "
        "what the trained model should then hold, not a reload into it. Only the hand-graded "
        "question depends on the default.",
    ),
    Case(
        "build_model() called earlier and twice",
        {"answer_early_stopping": "model = build_model()\nmodel.summary()\n" + ANSWERS["answer_early_stopping"],
         "answer_fit": fit(before="model = build_model()\nmodel = build_model()\n")},
        {},
        "build_model() reseeds, and the fit directly follows the last model = build_model().",
    ),
    Case(
        "extra scratch cells", {}, {},
        "Cells without nbgrader metadata run like any other cell.",
        edit=_with_scratch_cells,
    ),
    Case(
        "visible test cells deleted and no reload",
        {"answer_reload": "best_val_loss = model.evaluate(x_val, y_val, verbose=0)[0]\n"},
        {"reload_val_loss": "into a fresh build_model()"},
        "Without test cells every check reads the state after the last cell: the six right answers "
        "still get full points and the missing reload is still caught.",
        edit=_without_test_cells,
    ),
]


# Honest ways of writing steps 1 to 4 that the grader's reading of the source must follow
# (autograder/source.py): every one gets full marks (STYLES, below).
_ES, _MC, _TB = ANSWERS["answer_early_stopping"], ANSWERS["answer_model_checkpoint"], ANSWERS["answer_tensorboard_callback"]
_FIT_ARGS = "x_train, y_train, validation_data=(x_val, y_val), epochs=200, verbose=0"
_ALL = "[early_stopping, model_checkpoint, tensorboard_callback]"
_MC_ARGS = '"checkpoints/best_model.weights.h5", monitor="val_loss", save_best_only=True, save_weights_only=True'
_STAMP = 'datetime.datetime.now().strftime("%Y%m%d-%H%M%S")'
HONEST_STYLES = {
    "callbacks list in a variable": {"answer_fit": f"callbacks = {_ALL}\nmodel = build_model()\nhistory = model.fit({_FIT_ARGS}, callbacks=callbacks)\n"},
    "tf.keras aliases": {
        "answer_early_stopping": 'early_stopping = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=5)\n',
        "answer_model_checkpoint": f"model_checkpoint = tf.keras.callbacks.ModelCheckpoint({_MC_ARGS})\n",
        "answer_tensorboard_callback": f"tensorboard_callback = tf.keras.callbacks.TensorBoard(log_dir=\"logs/fit/\" + {_STAMP})\n"},
    "keras.callbacks spelled fully": {
        "answer_early_stopping": 'early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5)\n',
        "answer_model_checkpoint": f"model_checkpoint = keras.callbacks.ModelCheckpoint({_MC_ARGS})\n",
        "answer_tensorboard_callback": f"tensorboard_callback = keras.callbacks.TensorBoard(log_dir=\"logs/fit/\" + {_STAMP})\n"},
    "keywords in another order": {"answer_fit": "model = build_model()\nhistory = model.fit(callbacks=[tensorboard_callback, model_checkpoint, early_stopping], "
                                                "epochs=200, verbose=0, validation_data=(x_val, y_val), x=x_train, y=y_train)\n"},
    "from keras.callbacks import *": {"answer_early_stopping": "from keras.callbacks import *\n" + _ES},
    "callbacks built in a list, then named": {
        "answer_early_stopping": 'callbacks = [EarlyStopping(monitor="val_loss", patience=5)]\nearly_stopping = callbacks[0]\n',
        "answer_model_checkpoint": f"callbacks.append(ModelCheckpoint({_MC_ARGS}))\nmodel_checkpoint = callbacks[-1]\n",
        "answer_tensorboard_callback": f'tensorboard_callback = TensorBoard(log_dir="logs/fit/" + {_STAMP})\ncallbacks.append(tensorboard_callback)\n',
        "answer_fit": f"model = build_model()\nhistory = model.fit({_FIT_ARGS}, callbacks=callbacks)\n"},
    "verbose everywhere": {
        "answer_early_stopping": 'early_stopping = EarlyStopping(monitor="val_loss", patience=5, verbose=1)\n',
        "answer_model_checkpoint": f"model_checkpoint = ModelCheckpoint({_MC_ARGS}, verbose=1)\n",
        "answer_fit": f"model = build_model()\nhistory = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=200, verbose=2, callbacks={_ALL})\n"},
    "a helper returning the list": {"answer_fit": f"def get_callbacks():\n    return {_ALL}\n\n\nmodel = build_model()\n"
                                                  f"history = model.fit({_FIT_ARGS}, callbacks=get_callbacks())\n"},
    "extra harmless callbacks": {"answer_fit": "model = build_model()\nhistory = model.fit(" + _FIT_ARGS + ", callbacks=[keras.callbacks.TerminateOnNaN(), "
                                               "early_stopping, model_checkpoint, keras.callbacks.CSVLogger('training.csv'), tensorboard_callback])\n"},
    "log_dir with os.path.join": {"answer_tensorboard_callback": f'log_dir = os.path.join("logs", "fit", {_STAMP})\ntensorboard_callback = TensorBoard(log_dir=log_dir)\n'},
    "log_dir as an f-string": {"answer_tensorboard_callback": 'tensorboard_callback = TensorBoard(log_dir=f"logs/fit/{datetime.datetime.now():%Y%m%d-%H%M%S}")\n'},
    "from datetime import datetime": {"answer_tensorboard_callback": 'from datetime import datetime\nstamp = datetime.now().strftime("%Y%m%d-%H%M%S")\n'
                                                                     'tensorboard_callback = TensorBoard(log_dir="logs/fit/" + stamp)\n'},
    "comments, blank lines and magics": {
        "answer_early_stopping": "%load_ext tensorboard\n# step 1\n\n" + _ES + "\n# done\n",
        "answer_fit": "%%time\n# train with all three callbacks\n\nmodel = build_model()\n\nhistory = model.fit(\n    " + _FIT_ARGS
                      + ",\n    callbacks=[early_stopping,  # stops\n               model_checkpoint,  # saves\n               tensorboard_callback],\n)\n"},
    "keyword arguments in a dict": {"answer_fit": f"fit_args = dict(validation_data=(x_val, y_val), epochs=200, verbose=0, callbacks={_ALL})\n"
                                                  "model = build_model()\nhistory = model.fit(x_train, y_train, **fit_args)\n"},
    "list grown with append and unpacking": {"answer_fit": "base = [early_stopping]\nbase.append(model_checkpoint)\nmodel = build_model()\n"
                                                           f"history = model.fit({_FIT_ARGS}, callbacks=[*base, tensorboard_callback])\n"},
    "subclasses of the Keras callbacks": {
        "answer_early_stopping": "class PatientStopping(EarlyStopping):\n    \"\"\"EarlyStopping that says when it stops.\"\"\"\n\n"
                                 "    def on_train_end(self, logs=None):\n        super().on_train_end(logs)\n"
                                 "        print('stopped at', self.stopped_epoch)\n\n\n"
                                 'early_stopping = PatientStopping(monitor="val_loss", patience=5)\n',
        "answer_model_checkpoint": f"class BestOnly(ModelCheckpoint):\n    pass\n\n\nmodel_checkpoint = BestOnly({_MC_ARGS})\n"},
    "fit inside a with block": {"answer_fit": f"model = build_model()\nwith tf.device('/CPU:0'):\n    history = model.fit({_FIT_ARGS}, callbacks=tuple({_ALL}))\n"},
}
STYLES = [Case(name, answers, {}, "The three callbacks go into the fit that returns history, written another way.")
          for name, answers in HONEST_STYLES.items()]

# Runs whose files and numbers look honest, made without the callbacks in the fit that
# returned history: the behaviour checks fail on the grader's reading of the source.
_NOT_PASSED = {"stopped_early": "`early_stopping` ", "best_weights_file": "`model_checkpoint` ",
               "tensorboard_logs": "`tensorboard_callback` "}
_OWN_CALLBACK = f"""\
model = build_model()
_best = [float("inf")]
_writers = {{part: tf.summary.create_file_writer(os.path.join(tensorboard_callback.log_dir, part)) for part in ("train", "validation")}}


def _imitate(epoch, logs):
    # What ModelCheckpoint and TensorBoard would have done, done by hand.
    if logs["val_loss"] < _best[0]:
        _best[0] = logs["val_loss"]
        os.makedirs("checkpoints", exist_ok=True)
        model.save_weights("checkpoints/best_model.weights.h5")
    for part, key in (("train", "loss"), ("validation", "val_loss")):
        with _writers[part].as_default():
            tf.summary.scalar("epoch_loss", logs[key], step=epoch)
            _writers[part].flush()


history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs={EPOCHS_RUN}, verbose=0,
                    callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=_imitate)])
history.params["epochs"] = 200
early_stopping.stopped_epoch = {EPOCHS_RUN - 1}
"""
MISTAKES += [
    Case("attack: callbacks never passed, imitated by a LambdaCallback", {"answer_fit": _OWN_CALLBACK}, _NOT_PASSED,
         "The weights file, event files and history are those of an honest run, but the fit that returned "
         "history received none of the three callbacks."),
    Case("attack: History filled by hand after a hidden training",
         {"answer_fit": f"_m = build_model()\n_h = _m.fit({_FIT_ARGS}, callbacks={_ALL})\nmodel = _m\n"
                        "history = keras.callbacks.History()\nhistory.set_model(model)\nhistory.history = dict(_h.history)\n"
                        "history.epoch = list(_h.epoch)\nhistory.params = dict(_h.params)\n"},
         {name: "`history` is last set by code other than" for name in _NOT_PASSED},
         "history is not what a fit returned, so no callback can be shown to have trained it."),
    Case("attack: callbacks given to another fit than history's",
         {"answer_fit": f"warm_up = build_model()\nwarm_up.fit({_FIT_ARGS}, callbacks={_ALL})\nmodel = build_model()\n"
                        f"history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs={EPOCHS_RUN}, verbose=0)\n"
                        "history.params['epochs'] = 200\n"},
         _NOT_PASSED,
         "The callbacks did their work in a fit whose History was thrown away; history comes from a fit without them."),
]


# The example class (example/make_submissions.py), also autograded by nbgrader in tests/test_nbgrader.py.
CLASS = {
    "ada": SOLUTION,
    # Watches the training loss: training runs all 200 epochs.
    "grace": named(MISTAKES, "early_stopping monitoring loss"),
    # Creates the checkpoint and TensorBoard callbacks but passes only EarlyStopping to fit.
    "alan": named(MISTAKES, "only early_stopping passed to fit"),
    # Loads the best weights into the trained model.
    "barbara": named(MISTAKES, "best weights reloaded into the trained model"),
    # Submitted the notebook as it was handed out.
    "margaret": UNTOUCHED,
}

# Where `nbgrader autograde` scores the example class otherwise: nowhere.
NBGRADER_DIFFERS = {}

# Trains (12 epochs instead of 14) and fails two checks with messages that hold numbers from
# the run but no timestamp, so equal results mean an equal run.
DETERMINISM = named(MISTAKES, "patience 3")
