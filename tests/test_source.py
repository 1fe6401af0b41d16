"""autograder.source: which callbacks the fit that produced `history` received, read from the cells.

Honest styles must all read as "passed" (or "cannot tell", never "not passed"); evasions must
read as "not passed". Each case is the cells after the locked setup, as a student writes them.
"""

import pytest

from autograder import source
from course import exercise
from notebooks import SOLUTION


def read(cells):
    """The grader's reading of `cells` as a submission of the callbacks assignment."""
    return source.read(cells, exercise)


ES, MC, TB = (SOLUTION[f"answer_{name}"] for name in ("early_stopping", "model_checkpoint", "tensorboard_callback"))
CALLBACKS = ES + "\n" + MC + "\n" + TB + "\n"
FIT = "model = build_model()\nhistory = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=200, {}verbose=0)\n"


def fit(callbacks="callbacks=[early_stopping, model_checkpoint, tensorboard_callback], "):
    return FIT.format(callbacks)


HONEST = {
    "the solution": [CALLBACKS, fit()],
    "any order": [CALLBACKS, fit("callbacks=[tensorboard_callback, early_stopping, model_checkpoint], ")],
    "list in a variable": [CALLBACKS, "cbs = [early_stopping, model_checkpoint, tensorboard_callback]\n" + fit("callbacks=cbs, ")],
    "tuple": [CALLBACKS, fit("callbacks=(early_stopping, model_checkpoint, tensorboard_callback), ")],
    "append": [CALLBACKS, "cbs = []\ncbs.append(early_stopping)\ncbs.append(model_checkpoint)\ncbs.append(tensorboard_callback)\n"
               + fit("callbacks=cbs, ")],
    "plus and +=": [CALLBACKS, "cbs = [early_stopping] + [model_checkpoint]\ncbs += [tensorboard_callback]\n" + fit("callbacks=cbs, ")],
    "extend": [CALLBACKS, "cbs = [early_stopping]\ncbs.extend([model_checkpoint, tensorboard_callback])\n" + fit("callbacks=cbs, ")],
    "unpacking": [CALLBACKS, "first = [early_stopping, model_checkpoint]\n" + fit("callbacks=[*first, tensorboard_callback], ")],
    "kwargs dict": [CALLBACKS, "args = dict(epochs=200, callbacks=[early_stopping, model_checkpoint, tensorboard_callback])\n"
                    "model = build_model()\nhistory = model.fit(x_train, y_train, validation_data=(x_val, y_val), **args)\n"],
    "kwargs literal, set later": [CALLBACKS, "args = {'epochs': 200}\nargs['callbacks'] = [early_stopping, model_checkpoint, tensorboard_callback]\n"
                                  "model = build_model()\nhistory = model.fit(x_train, y_train, validation_data=(x_val, y_val), **args)\n"],
    "positional callbacks": [CALLBACKS, "model = build_model()\nhistory = model.fit(x_train, y_train, 32, 200, 0, "
                             "[early_stopping, model_checkpoint, tensorboard_callback], validation_data=(x_val, y_val))\n"],
    "tf.keras aliases": ["early_stopping = tf.keras.callbacks.EarlyStopping(monitor='val_loss', patience=5)\n"
                         "model_checkpoint = keras.callbacks.ModelCheckpoint('checkpoints/best_model.weights.h5', save_best_only=True, save_weights_only=True)\n"
                         "tensorboard_callback = keras.callbacks.TensorBoard(log_dir=log_dir)\n", fit()],
    "walrus inline": ["", fit("callbacks=[(early_stopping := EarlyStopping(patience=5)), (model_checkpoint := ModelCheckpoint('x.weights.h5')), "
                              "(tensorboard_callback := TensorBoard())], ")],
    "built in the list, then named": ["cbs = [EarlyStopping(patience=5), ModelCheckpoint('c.weights.h5'), TensorBoard()]\n"
                                      "early_stopping, model_checkpoint, tensorboard_callback = cbs\n", fit("callbacks=cbs, ")],
    "indexed from the list": ["cbs = [EarlyStopping(patience=5), ModelCheckpoint('c.weights.h5'), TensorBoard()]\n"
                              "early_stopping = cbs[0]\nmodel_checkpoint = cbs[1]\ntensorboard_callback = cbs[-1]\n", fit("callbacks=cbs, ")],
    "helper returning the list": [CALLBACKS, "def get_callbacks():\n    return [early_stopping, model_checkpoint, tensorboard_callback]\n",
                                  fit("callbacks=get_callbacks(), ")],
    "helper with parameters": [CALLBACKS, "def make(*, extra=None):\n    out = [early_stopping, model_checkpoint]\n    out.append(tensorboard_callback)\n"
                               "    return out\n", fit("callbacks=make(), ")],
    "extra callbacks": [CALLBACKS, fit("callbacks=[early_stopping, keras.callbacks.CSVLogger('t.csv'), model_checkpoint, tensorboard_callback], ")],
    "magics and comments": ["%load_ext tensorboard\n# the callbacks\n" + CALLBACKS, "!ls\n\n" + fit() + "%tensorboard --logdir logs/fit\n"],
    "%%time cell": [CALLBACKS, "%%time\n" + fit()],
    "fit inside with": [CALLBACKS, "with tf.device('/CPU:0'):\n    " + fit().replace("\n", "\n    ")],
    "list() copy": [CALLBACKS, "cbs = list((early_stopping, model_checkpoint, tensorboard_callback))\n" + fit("callbacks=cbs.copy(), ")],
    "history.params edited after an honest fit": [CALLBACKS, fit(), "history.params['epochs'] = 200\n"],
}

EVASIONS = {
    "never passed, own LambdaCallback": [CALLBACKS, fit("callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, l: None)], ")],
    "no callbacks at all": [CALLBACKS, fit("")],
    "callbacks=None": [CALLBACKS, fit("callbacks=None, ")],
    "a History filled by hand": [CALLBACKS, "history = keras.callbacks.History()\nhistory.history = {'val_loss': [1.0]}\n"],
    "callbacks to another fit": [CALLBACKS, "other = build_model()\nother.fit(x_train, y_train, epochs=1, "
                                 "callbacks=[early_stopping, model_checkpoint, tensorboard_callback])\n", fit("")],
    "history from a second fit": [CALLBACKS, fit(), "history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=14)\n"],
    "history reassigned after fit": [CALLBACKS, fit(), "history = make_history()\n"],
    "callbacks rebuilt after fit": [CALLBACKS, fit(), CALLBACKS],
    "list emptied before fit": [CALLBACKS, "cbs = [early_stopping, model_checkpoint, tensorboard_callback]\ncbs.clear()\n" + fit("callbacks=cbs, ")],
}


def cells(sources):
    return [("markdown", "### Your turn, step 4: build and train"), *(("code", text) for text in sources)]


@pytest.mark.parametrize("name", HONEST)
def test_honest_style_reads_as_passed(name):
    reading = read(cells(HONEST[name]))
    for callback in exercise.callbacks:
        assert reading.callback("final", callback).passed is not False, (name, callback, reading.callback("final", callback))
    assert not reading.suspicious, reading.suspicious


@pytest.mark.parametrize("name", ["the solution", "list in a variable", "append", "kwargs dict", "helper returning the list",
                                  "built in the list, then named", "tf.keras aliases", "magics and comments"])
def test_common_honest_styles_are_followed_to_the_end(name):
    reading = read(cells(HONEST[name]))
    assert all(reading.callback("final", c).passed is True for c in exercise.callbacks), reading.passed


@pytest.mark.parametrize("name", EVASIONS)
def test_evasion_reads_as_not_passed(name):
    reading = read(cells(EVASIONS[name]))
    for callback in exercise.callbacks:
        found = reading.callback("final", callback)
        assert found.passed is False, (name, callback, found)
        assert callback in found.message and "step 4" in found.message


def test_message_names_the_callback_and_the_fit():
    reading = read(cells([CALLBACKS, fit("callbacks=[early_stopping, tensorboard_callback], ")]))
    assert reading.callback("final", "early_stopping").passed is True
    message = reading.callback("final", "model_checkpoint").message
    assert message.startswith("`model_checkpoint` was created but not passed to model.fit(..., callbacks=[...]) in step 4"), message
    assert message.endswith("the fit that returned `history`, at line 2 of the 2nd code cell under "
                            "“Your turn, step 4: build and train”, does not get it."), message


def test_state_is_read_at_each_snapshot():
    """Each check sees the callbacks as they stand at its own test cell (its snapshot)."""
    snapshot = next(text for text, name in source._snapshot_sources(exercise).items() if name == "stopped_early")
    reading = read(cells([CALLBACKS, fit(), snapshot, "history = None\n"]))
    assert reading.callback("stopped_early", "early_stopping").passed is True
    assert reading.callback("final", "early_stopping").passed is False


def test_snapshot_cells_are_not_the_students_code():
    reading = read(cells([*source._snapshot_sources(exercise), CALLBACKS, fit()]))
    assert not reading.suspicious and not reading.unreadable


SUSPICIOUS = {
    "exec": "exec('history = 1')",
    "eval": "x = eval(code)",
    "compile": "c = compile(src, 'x', 'exec')",
    "payload": "blob = '" + "QUJD" * 600 + "'",
    "keras patch": "keras.Model.fit = my_fit",
    "from-import patch": "from keras.callbacks import EarlyStopping\nEarlyStopping.on_epoch_end = f",
    "tf alias patch": "import tensorflow as t\nt.keras = None",
    "setattr builtins": "import builtins\nsetattr(builtins, 'print', p)",
    "sys.modules": "import sys\nsys.modules['numpy'] = fake",
    "ctypes": "import ctypes",
    "ipython hooks": "get_ipython().events.register('post_run_cell', f)",
    "ipython alias": "ip = get_ipython()\nip.input_transformers_post.append(f)",
    "ast transformers": "get_ipython().ast_transformers.append(t)",
    "globals": "globals()['history'] = h",
    "model method": "model.fit = lambda *a, **k: h",
    "%run": "%run other.py",
}


@pytest.mark.parametrize("name", SUSPICIOUS)
def test_code_that_defeats_reading_is_listed(name):
    reading = read([("markdown", "## Scratch"), ("code", "x = 1"), ("code", SUSPICIOUS[name])])
    assert reading.suspicious, name
    place, what = reading.suspicious[0]
    assert place.cell == 3 and place.line >= 1 and place.name == "the 2nd code cell under “Scratch”", reading.suspicious


def test_unparsable_cell_is_noted_not_fatal():
    reading = read(cells(["def broken(:\n", CALLBACKS, fit()]))
    assert reading.unreadable and reading.callback("final", "early_stopping").passed is True


def test_keras_methods_named_like_builtins_are_not_listed():
    reading = read(cells(["model = build_model()\nmodel.compile(optimizer='adam', loss='mse')\nx = cbs_eval = 1\n", CALLBACKS, fit()]))
    assert not reading.suspicious, reading.suspicious


def test_the_solution_notebook_is_read_cleanly():
    from autograder import intake
    from notebooks import submission

    reading = read(source.cells_of(intake.clean(submission(), exercise)))
    assert not reading.suspicious and not reading.unreadable
    for check, name in (("stopped_early", "early_stopping"), ("best_weights_file", "model_checkpoint"),
                        ("tensorboard_logs", "tensorboard_callback")):
        assert reading.callback(check, name).passed is True


def test_review_lists_the_lines_for_a_person(tmp_path):
    from autograder.verify import Context, review

    sentences = review(Context(exercise, tmp_path, sources=tuple(cells([CALLBACKS, "exec(open('x').read())\n" + fit()]))))
    assert sentences and sentences[0].startswith(
        "The code at line 1 of the 2nd code cell under “Your turn, step 4: build and train” calls exec()"), sentences
    assert "a person should check" in sentences[0]
    assert review(Context(exercise, tmp_path, sources=tuple(cells([CALLBACKS, fit()])))) == []
    assert review(Context(exercise, tmp_path)) == []


def test_review_says_when_the_fit_cannot_be_followed(tmp_path):
    from autograder.verify import Context, review

    sentences = review(Context(exercise, tmp_path, sources=tuple(cells([CALLBACKS, fit("callbacks=sorted(stuff), ")]))))
    assert any("could not tell" in s and "`early_stopping`" in s for s in sentences), sentences
    # The person is sent to the fit itself, named as the student's notebook shows it.
    assert any(s.endswith("a person should check the fit at line 2 of the 2nd code cell under "
                          "“Your turn, step 4: build and train”.") for s in sentences), sentences


def test_messages_name_the_step_the_assignment_trains_in():
    """Does a callback left out of the fit point to the step where the assignment declares `history` is trained
    (step 5 in custom_callbacks, step 4 here), not to a step of another exercise?"""
    from autograder import assignment

    custom = assignment.get("custom_callbacks")
    reading = source.read([("code", "reduce_lr = ReduceLROnPlateau()\nmodel = build_model()\n"
                                    "history = model.fit(x_train, y_train, callbacks=[])\n")], custom)
    message = reading.callback("final", "reduce_lr").message
    assert "callbacks=[...]) in step 5:" in message and "step 4" not in message, message
    assert custom.step_of("history") == 5 and exercise.step_of("history") == 4


def test_fit_changes_use_the_assignments_array_names(tmp_path):
    """With a declaration naming other arrays for the setup cell, are those the ones a fit is held to?"""
    import json
    import shutil

    from autograder.assignment import Assignment

    shutil.copytree(exercise.source_dir, tmp_path / "assignments" / "callbacks")
    declared = tmp_path / "assignments" / "callbacks" / "grading" / "assignment.json"
    declared.write_text(json.dumps({**exercise.declaration, "data": {"x": "images", "y": "labels"}}))
    other = Assignment("callbacks", tmp_path)
    assert other.data_names == {"x": "images", "y": "labels", "x_val": "x_val", "y_val": "y_val"}
    _, found = source.read([("code", "history = model.fit(x_val, labels)\n")], other).fit_changes("final")
    assert [(change.written, change.instead) for change in found] == [("x_val", "images")]


@pytest.mark.parametrize("call, changes", [
    ("x_train, y_train, validation_data=(x_val, y_val), epochs=200, batch_size=32, shuffle=True, verbose=0", []),
    ("X, Y, validation_data=val, epochs=50, batch_size=size", []),  # names of the student's own: not followed
    ("**args", []),
    ("x_train, y_train, validation_split=0.3", ["validation_split=0.3"]),
    ("x_train, y_train, validation_split=0.3, validation_data=(x_val, y_val)", []),  # Keras ignores the split then
    ("x_train, y_train, 16, 200, 0, [], 0.2", ["validation_split=0.2", "batch_size=16"]),
    ("x_val, y_val, validation_data=(x_val, y_val)", ["x_val", "y_val"]),
    ("x_train, y_train, validation_data=(x_val, y_val), class_weight={0: 2.0}, initial_epoch=3",
     ["class_weight={0: 2.0}", "initial_epoch=3"]),
])
def test_fit_changes_name_what_the_call_itself_shows(call, changes):
    """Are the fit's arguments that change step 4's training named, and honest ones (or unknown values) not?"""
    place, found = read([("code", CALLBACKS), ("code", f"model = build_model()\nhistory = model.fit({call})\n")]).fit_changes("final")
    assert [change.written for change in found] == changes
    assert (place.cell, place.line) == (2, 2)


def test_fit_changes_unknown_without_a_fit():
    assert read([("code", "history = None\n")]).fit_changes("final") == (None, [])
