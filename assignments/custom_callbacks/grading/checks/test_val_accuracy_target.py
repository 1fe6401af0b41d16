"""val_accuracy_target: a ValAccuracyTarget(target={target}), a subclass of keras.callbacks.Callback that overrides on_epoch_end."""

import ast

import pytest

from autograder.assignment import of
from autograder.intake import cell_text, snapshot_check
from autograder.source import python_of

EXERCISE = of(__file__)  # the assignment these checks belong to
TARGET = EXERCISE.settings["target"]
CLASS = EXERCISE.variables["val_accuracy_target"]["class"]
# Where Keras's Callback can be imported from, as a student may spell it.
CALLBACK_MODULES = {"keras.callbacks", "keras.src.callbacks", "keras.src.callbacks.callback",
                    "tensorflow.keras.callbacks", "tf.keras.callbacks"}


def _classes(context, before):
    """({class name: ClassDef}, {alias: module path}) of the student's code cells before cell `before`,
    read with ast and never run; the last definition of a name wins, as in the kernel."""
    classes, aliases = {}, {"tf": "tensorflow", "keras": "keras"}
    for number, (kind, source) in enumerate(context.sources, start=1):
        if before is not None and number >= before:
            break
        if kind != "code" or snapshot_check(source):
            continue
        try:
            tree = ast.parse(python_of(cell_text(source)))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return classes, aliases


def _dotted(node, aliases):
    """The full dotted path of a base class expression, its first name resolved through the imports."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _is_keras_callback(path):
    module, _, name = (path or "").rpartition(".")
    return name == "Callback" and module.replace("tensorflow.", "tf.", 1) in CALLBACK_MODULES | {"tf.keras.callbacks"}


def _lineage(name, classes, aliases, seen=()):
    """The notebook's own classes from `name` up to Keras's Callback, or None when it does not reach it."""
    if name in seen or name not in classes:
        return None
    for base in classes[name].bases:
        path = _dotted(base, aliases)
        if _is_keras_callback(path) or path == "Callback" and "Callback" not in classes:
            return [classes[name]]
        if path in classes and (above := _lineage(path, classes, aliases, (*seen, name))):
            return [classes[name], *above]
    return None


@pytest.fixture
def code(context, snapshot):
    if not context.sources:
        pytest.skip("the notebook's code is not known to the grader (nbgrader's own autograde)")
    at = context.test_cell(snapshot.name) if snapshot.name != "final" else None
    return _classes(context, at)


def test_is_a_val_accuracy_target(val_accuracy_target):
    kind = val_accuracy_target["type"]
    assert kind.rpartition(".")[2] == CLASS, (
        f"val_accuracy_target must be a {CLASS}: val_accuracy_target = {CLASS}(target={TARGET}); it is a {kind.rpartition('.')[2]}."
    )


def test_aims_for_the_target(val_accuracy_target):
    target = val_accuracy_target["settings"].get("target")
    assert target == TARGET, (
        f"val_accuracy_target must aim for {TARGET}: {CLASS}(target={TARGET}), store it in self.target; "
        f"its target is {target!r}."
    )


def test_subclasses_keras_callback(code):
    classes, aliases = code
    if CLASS not in classes:
        pytest.fail(f"No cell before step 1's test defines class {CLASS}: write class {CLASS}(Callback): ... in step 1.")
    if _lineage(CLASS, classes, aliases) is None:
        bases = ", ".join(ast.unparse(base) for base in classes[CLASS].bases) or "nothing"
        pytest.fail(f"class {CLASS} must be a subclass of keras.callbacks.Callback (class {CLASS}(Callback): ...); "
                    f"it derives from {bases}.")


def test_overrides_on_epoch_end(code):
    classes, aliases = code
    lineage = _lineage(CLASS, classes, aliases) if CLASS in classes else None
    if lineage is None:
        return  # test_subclasses_keras_callback says what is wrong
    defines = [node for cls in lineage for node in cls.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "on_epoch_end"]
    assert defines, (
        f"class {CLASS} must override on_epoch_end(self, epoch, logs=None): that is where it reads "
        "logs['val_accuracy'] at the end of every epoch and stops training."
    )
