"""Read the submitted cells' source, as the grader's own evidence of how `history` was made.

The source read here is trusted input: the clean notebook the grader built itself
(`intake.clean`), kept in the grader's memory before the run, never a file the run could
overwrite. It is parsed with `ast` and never executed. A small abstract interpreter follows
the assignments, in cell order, far enough to tell which callback objects the `fit` call
that produced `history` received: a list written inline, a list kept in a variable and
grown with append/extend/+/unpacking, a keyword dict passed as `**kwargs`, a helper
function returning the list. What it cannot follow it says it cannot tell (`None`), so an
unusual honest style is never failed by guesswork; the run's evidence decides then.

It also lists code that defeats reading (code built as strings, large encoded payloads,
patches of Keras, TensorFlow, builtins or sys.modules, ctypes, IPython hooks), for a person
to look at.
"""

import ast
import functools
import re
from dataclasses import dataclass, field

from .cell_names import code_cell_names

FIT_CALLBACKS_POSITION = 5  # Model.fit(x, y, batch_size, epochs, verbose, callbacks, ...)
MAX_LITERAL = 2000  # characters: no honest answer of this lesson holds a string this long
MAX_CALL_DEPTH = 8  # helper functions calling helper functions
_MAGIC = re.compile(r"^\s*(?:[%!]|\w+\s*=\s*[%!])")
_BODY_MAGICS = ("%%time", "%%timeit", "%%capture")  # their body is Python, run in the kernel
_READING_MAGICS = re.compile(r"^\s*(%run\b|%%(writefile|script|python\d*|file)\b)")
_PROTECTED = ("keras", "tensorflow", "tf_keras", "builtins", "sys", "IPython")
_IPYTHON_HOOKS = {"events", "input_transformers_cleanup", "input_transformers_post", "input_transformer_manager",
                  "ast_transformers", "run_cell", "run_cell_async", "run_ast_nodes", "run_code", "set_custom_exc",
                  "register_magic_function", "user_ns", "user_global_ns", "kernel", "display_pub", "showtraceback"}
_KERAS_METHODS = {"fit", "evaluate", "predict", "load_weights", "save_weights", "on_epoch_end", "on_train_end",
                  "on_train_begin", "set_model", "stop_training"}


@dataclass(frozen=True)
class Place:
    cell: int  # 1-based position in the clean notebook (the grader's count, not shown to students)
    line: int
    name: str  # the cell as the student finds it (autograder.cell_names)

    def __str__(self):
        return f"line {self.line} of {self.name}"


@dataclass(frozen=True)
class Passed:
    """What the source says about one callback and the fit that produced `history`."""

    passed: bool | None  # None: the grader cannot tell from the source
    message: str = ""  # why not, in the lesson's terms (empty when passed)


@dataclass
class Reading:
    """The grader's reading of a notebook's code cells."""

    passed: dict = field(default_factory=dict)  # snapshot name -> {callback: Passed}
    suspicious: list = field(default_factory=list)  # [(Place, what)]: code that defeats reading
    unreadable: list = field(default_factory=list)  # [Place]: cells that are not Python
    defined: set = field(default_factory=set)  # the callbacks that a cell assigns
    fits: dict = field(default_factory=dict)  # snapshot name -> the fit that returned `history` there (or None)
    data_names: dict = field(default_factory=dict)  # the setup cell's arrays (Assignment.data_names)

    def fit_changes(self, check) -> tuple:
        """(Place, [Change]) of the fit that returned `history` at check `check`'s cell: what in that
        call makes this training differ from the lesson's; (None, []) when the reading cannot tell."""
        fit = self.fits.get(check, self.fits.get("final"))
        if fit is None:
            return None, []
        return fit.place, fit_changes(fit.arguments, self.data_names)

    def callback(self, check, name) -> Passed:
        """Whether callback `name` was passed to history's fit, as it stands at check `check`'s cell."""
        state = self.passed.get(check) or self.passed.get("final") or {}
        return state.get(name, Passed(None))


class _Unknown:
    def __repr__(self):
        return "UNKNOWN"


UNKNOWN = _Unknown()


class _Object:
    """An object made by a call: the callbacks are told apart by identity, as in Python."""


class _List:
    def __init__(self, items=(), unknown=False):
        self.items, self.unknown = list(items), unknown

    def extend(self, value):
        if isinstance(value, _List):
            self.items.extend(value.items)
            self.unknown |= value.unknown
        else:
            self.unknown = True


class _Dict:
    def __init__(self, items=None, unknown=False):
        self.items, self.unknown = dict(items or {}), unknown


@dataclass
class _Fit:
    callbacks: object  # a _List, or UNKNOWN
    place: Place
    arguments: dict = field(default_factory=dict)  # {fit's parameter name: its ast node}, as written in the call


@dataclass
class _Function:
    node: ast.AST


def cells_of(notebook) -> tuple:
    """(cell_type, source) of each cell of a clean notebook: what verify.Context.sources holds."""
    return tuple((str(cell.cell_type), cell.source) for cell in notebook.cells)


@functools.cache
def _snapshot_sources(assignment) -> dict:
    """{source: check name} of the grader's own snapshot cells, which are not the student's code."""
    from . import evidence, intake

    exports = assignment.exports
    cells = [intake.snapshot_cell(name, exports, put_back) for name in assignment.checks for put_back in (False, True)]
    return {cell.source: intake.snapshot_check(cell.source) for cell in [*cells, intake.snapshot_cell(evidence.FINAL, exports)]}


def python_of(source: str) -> str:
    """`source` with IPython magics and shell lines blanked (line numbers are kept)."""
    lines = source.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        if lines[0].split()[0] not in _BODY_MAGICS:
            return ""  # a cell magic: its body is not Python run by the kernel
        lines[0] = ""
    return "\n".join("" if _MAGIC.match(line) else line for line in lines)


class _Scope:
    def __init__(self, parent=None, declared=()):
        self.vars, self.parent, self.declared = {}, parent, set(declared)

    def get(self, name):
        scope = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return UNKNOWN

    def set(self, name, value):
        scope = self
        if name in self.declared:
            while scope.parent is not None:
                scope = scope.parent
        scope.vars[name] = value

    def delete(self, name):
        self.vars.pop(name, None)


class _Interpreter:
    def __init__(self):
        self.globals = _Scope()
        self.cell, self.cell_name, self.depth = 0, "", 0

    def place(self, node):
        return Place(self.cell, getattr(node, "lineno", 0), self.cell_name)

    # statements
    def run(self, body, scope):
        for node in body:
            if self.statement(node, scope) == "return":
                return "return"

    def statement(self, node, scope):
        match node:
            case ast.Assign(targets=targets, value=value):
                result = self.eval(value, scope)
                for target in targets:
                    self.bind(target, result, scope)
            case ast.AnnAssign(target=target, value=value) if value is not None:
                self.bind(target, self.eval(value, scope), scope)
            case ast.AugAssign(target=ast.Name(id=name), op=ast.Add(), value=value):
                current, added = scope.get(name), self.eval(value, scope)
                if isinstance(current, _List):
                    current.extend(added)  # += on a list grows it in place
                else:
                    scope.set(name, UNKNOWN)
            case ast.AugAssign(target=target):
                self.bind(target, UNKNOWN, scope)
            case ast.Expr(value=value):
                self.eval(value, scope)
            case ast.Return(value=value):
                scope.vars["<return>"] = self.eval(value, scope) if value is not None else UNKNOWN
                return "return"
            case ast.FunctionDef(name=name) | ast.AsyncFunctionDef(name=name):
                scope.set(name, _Function(node))
            case ast.ClassDef(name=name):
                scope.set(name, UNKNOWN)
            case ast.Import(names=names) | ast.ImportFrom(names=names):
                for alias in names:
                    if alias.name != "*":
                        scope.set((alias.asname or alias.name).split(".")[0], UNKNOWN)
            case ast.Delete(targets=targets):
                for target in targets:
                    if isinstance(target, ast.Name):
                        scope.delete(target.id)
            case ast.For(target=target, iter=iterable, body=body, orelse=orelse) | \
                    ast.AsyncFor(target=target, iter=iterable, body=body, orelse=orelse):
                self.eval(iterable, scope)
                self.bind(target, UNKNOWN, scope)
                return self.run(body, scope) or self.run(orelse, scope)
            case ast.While(body=body, orelse=orelse) | ast.If(body=body, orelse=orelse):
                self.eval(node.test, scope)
                return self.run(body, scope) or self.run(orelse, scope)
            case ast.With(items=items, body=body) | ast.AsyncWith(items=items, body=body):
                for item in items:
                    self.eval(item.context_expr, scope)
                    if item.optional_vars is not None:
                        self.bind(item.optional_vars, UNKNOWN, scope)
                return self.run(body, scope)
            case ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final):
                if self.run(body, scope):
                    return "return"
                for handler in handlers:
                    if handler.name:
                        scope.set(handler.name, UNKNOWN)
                    self.run(handler.body, scope)
                return self.run(orelse, scope) or self.run(final, scope)
            case _:
                # Anything else that binds a name (match, ...): what it holds is unknown.
                for child in ast.walk(node):
                    if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                        scope.set(child.id, UNKNOWN)

    def bind(self, target, value, scope):
        match target:
            case ast.Name(id=name):
                scope.set(name, value)
            case ast.Tuple(elts=elts) | ast.List(elts=elts):
                items = value.items if isinstance(value, _List) and not value.unknown else None
                starred = any(isinstance(e, ast.Starred) for e in elts)
                for index, element in enumerate(elts):
                    one = items[index] if items is not None and not starred and len(items) == len(elts) else UNKNOWN
                    self.bind(element.value if isinstance(element, ast.Starred) else element, one, scope)
            case ast.Subscript(value=ast.Name(id=name), slice=ast.Constant(value=key)):
                container = scope.get(name)
                if isinstance(container, _Dict):
                    container.items[key] = value
                elif isinstance(container, _List) and isinstance(key, int) and -len(container.items) <= key < len(container.items):
                    container.items[key] = value
            case ast.Subscript(value=container_node):
                container = self.eval(container_node, scope)
                if isinstance(container, (_List, _Dict)):
                    container.unknown = True
            case ast.Starred(value=inner):
                self.bind(inner, UNKNOWN, scope)
            case _:
                pass  # attributes: `history.history = ...` does not change which fit made history

    # expressions
    def eval(self, node, scope):
        match node:
            case ast.Name(id=name):
                return scope.get(name)
            case ast.NamedExpr(target=target, value=value):
                result = self.eval(value, scope)
                self.bind(target, result, scope)
                return result
            case ast.List(elts=elts) | ast.Tuple(elts=elts) | ast.Set(elts=elts):
                result = _List()
                for element in elts:
                    if isinstance(element, ast.Starred):
                        result.extend(self.eval(element.value, scope))
                    else:
                        result.items.append(self.eval(element, scope))
                return result
            case ast.Dict(keys=keys, values=values):
                result = _Dict()
                for key, value in zip(keys, values):
                    evaluated = self.eval(value, scope)
                    if key is None:  # {**other}
                        if isinstance(evaluated, _Dict):
                            result.items.update(evaluated.items)
                            result.unknown |= evaluated.unknown
                        else:
                            result.unknown = True
                    elif isinstance(key, ast.Constant):
                        result.items[key.value] = evaluated
                    else:
                        result.unknown = True
                return result
            case ast.BinOp(left=left, op=ast.Add(), right=right):
                a, b = self.eval(left, scope), self.eval(right, scope)
                if isinstance(a, _List) and isinstance(b, _List):
                    result = _List(a.items, a.unknown)
                    result.extend(b)
                    return result
                return UNKNOWN
            case ast.ListComp(elt=ast.Name(id=element), generators=[ast.comprehension(target=ast.Name(id=target), iter=iterable, ifs=[])]) \
                    if element == target:
                source = self.eval(iterable, scope)
                return _List(source.items, source.unknown) if isinstance(source, _List) else UNKNOWN
            case ast.Subscript(value=container_node, slice=ast.Constant(value=key)) | \
                    ast.Subscript(value=container_node, slice=ast.UnaryOp(op=ast.USub(), operand=ast.Constant(value=key))):
                if isinstance(node.slice, ast.UnaryOp):
                    key = -key if isinstance(key, int) and not isinstance(key, bool) else None  # cbs[-1]
                container = self.eval(container_node, scope)
                if isinstance(container, _Dict) and key in container.items:
                    return container.items[key]
                if isinstance(container, _List) and not container.unknown and isinstance(key, int) \
                        and -len(container.items) <= key < len(container.items):
                    return container.items[key]
                return UNKNOWN
            case ast.Call():
                return self.call(node, scope)
            case ast.Lambda():
                return UNKNOWN
            case _:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.expr):
                        self.eval(child, scope)  # walrus and list methods inside other expressions
                return UNKNOWN

    def call(self, node, scope):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "fit":
            self.eval(func.value, scope)
            return _Fit(self.fit_callbacks(node, scope), self.place(node), _fit_arguments(node))
        args = [self.eval(arg.value if isinstance(arg, ast.Starred) else arg, scope) for arg in node.args]
        keywords = {kw.arg: self.eval(kw.value, scope) for kw in node.keywords}
        if isinstance(func, ast.Attribute):
            owner = self.eval(func.value, scope)
            if isinstance(owner, _List):
                return self.list_method(owner, func.attr, args)
            if isinstance(owner, _Dict):
                if func.attr == "update":
                    for arg in args:
                        if isinstance(arg, _Dict):
                            owner.items.update(arg.items)
                        else:
                            owner.unknown = True
                    owner.items.update({k: v for k, v in keywords.items() if k is not None})
                    return UNKNOWN
                if func.attr == "copy":
                    return _Dict(owner.items, owner.unknown)
                if func.attr in ("get", "pop", "setdefault") and node.args and isinstance(node.args[0], ast.Constant):
                    return owner.items.get(node.args[0].value, UNKNOWN)
            return _Object()
        callee = self.eval(func, scope) if isinstance(func, ast.Name) else UNKNOWN
        if isinstance(func, ast.Name) and callee is UNKNOWN:
            if func.id in ("list", "tuple") and len(args) == 1:
                source = args[0]
                return _List(source.items, source.unknown) if isinstance(source, _List) else UNKNOWN
            if func.id == "dict" and not any(isinstance(a, ast.Starred) for a in node.args) and len(args) <= 1:
                result = _Dict(args[0].items, args[0].unknown) if args and isinstance(args[0], _Dict) else _Dict(unknown=bool(args))
                for key, value in keywords.items():
                    if key is None:
                        result.unknown = True
                    else:
                        result.items[key] = value
                return result
        if isinstance(callee, _Function) and self.depth < MAX_CALL_DEPTH:
            return self.call_function(callee.node, node, args, keywords)
        return _Object()

    def call_function(self, definition, call, args, keywords):
        declared = {name for child in ast.walk(definition) if isinstance(child, ast.Global) for name in child.names}
        local = _Scope(self.globals, declared)
        parameters = [*definition.args.posonlyargs, *definition.args.args]
        defaults = definition.args.defaults
        for parameter, default in zip(parameters[len(parameters) - len(defaults):], defaults):
            local.vars[parameter.arg] = self.eval(default, self.globals)
        for parameter in [*definition.args.kwonlyargs]:
            local.vars[parameter.arg] = UNKNOWN
        starred = any(isinstance(arg, ast.Starred) for arg in call.args)
        for index, parameter in enumerate(parameters):
            if index < len(args):
                local.vars[parameter.arg] = UNKNOWN if starred else args[index]
        for name, value in keywords.items():
            if name is not None:
                local.vars[name] = value
        for extra in (definition.args.vararg, definition.args.kwarg):
            if extra is not None:
                local.vars[extra.arg] = UNKNOWN
        if isinstance(definition, ast.AsyncFunctionDef):
            return UNKNOWN
        self.depth += 1
        try:
            self.run(definition.body, local)
        finally:
            self.depth -= 1
        return local.vars.get("<return>", UNKNOWN)

    def list_method(self, owner, method, args):
        if method == "append" and len(args) == 1:
            owner.items.append(args[0])
        elif method == "extend" and len(args) == 1:
            owner.extend(args[0])
        elif method == "insert" and len(args) == 2:
            owner.items.append(args[1])  # the order of callbacks does not matter here
        elif method == "copy":
            return _List(owner.items, owner.unknown)
        elif method == "remove" and len(args) == 1:
            if any(item is args[0] for item in owner.items):
                owner.items = [item for item in owner.items if item is not args[0]]
                # list.remove drops the first match only; one object twice in a list is not this lesson's code
            else:
                owner.unknown = True
        elif method in ("pop", "clear", "sort", "reverse", "__setitem__", "__delitem__"):
            if method == "clear":
                owner.items = []
            elif method == "pop":
                owner.items, owner.unknown = [], True
        return UNKNOWN

    def fit_callbacks(self, node, scope):
        for index, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                self.eval(arg.value, scope)
                return UNKNOWN
            value = self.eval(arg, scope)
            if index == FIT_CALLBACKS_POSITION:
                return value
        found = _List()  # no callbacks argument: fit gets none of them
        for keyword in node.keywords:
            value = self.eval(keyword.value, scope)
            if isinstance(keyword.value, ast.Constant) and keyword.value.value is None:
                value = _List()  # callbacks=None: none
            if keyword.arg == "callbacks":
                found = value
            elif keyword.arg is None:
                if not isinstance(value, _Dict):
                    return UNKNOWN
                if "callbacks" in value.items:
                    found = value.items["callbacks"]
                elif value.unknown:
                    return UNKNOWN
        return found if isinstance(found, _List) else UNKNOWN


def _status(interpreter, assignment) -> dict:
    """{callback: Passed} of `assignment`'s callbacks for the names as they stand now."""
    scope, made = interpreter.globals, _history_name(assignment)
    history = scope.vars.get(made, UNKNOWN)
    step = assignment.step_of(made)  # where the lesson trains: the messages name it
    in_step, step_said = (f" in step {step}", f" (step {step})") if step is not None else ("", "")
    out = {}
    for name in assignment.callbacks:
        obj = scope.vars.get(name, UNKNOWN)
        lead = f"`{name}` was created but not passed to model.fit(..., callbacks=[...]){in_step}"
        if made not in scope.vars:
            out[name] = Passed(False, f"`{name}` is not passed to any fit: no cell sets `{made} = model.fit(...)`{step_said}.")
        elif not isinstance(history, _Fit):
            out[name] = Passed(False, f"`{name}` cannot have been used in training: `{made}` is last set by code other "
                                      f"than `{made} = model.fit(..., callbacks=[...])`{step_said}; {made} must be what that fit returned.")
        elif name not in scope.vars or obj is UNKNOWN:
            out[name] = Passed(None)  # not defined: the configuration checks say so; or not followed
        elif isinstance(history.callbacks, _List) and any(item is obj for item in history.callbacks.items):
            out[name] = Passed(True)
        elif history.callbacks is UNKNOWN or history.callbacks.unknown:
            out[name] = Passed(None)
        else:
            out[name] = Passed(False, f"{lead}: the fit that returned `{made}`, at {history.place}, does not get it.")
    return out


def _history_name(assignment) -> str:
    """The variable that holds what fit returned: the assignment's, or Keras's usual name when it declares none."""
    return assignment.history or "history"


def read(cells, assignment) -> Reading:
    """The grader's reading of `cells`, (cell_type, source) pairs of the clean notebook of a
    submission of `assignment` in order: which of its callback variables reach which fit."""
    snapshots, callbacks, history = _snapshot_sources(assignment), assignment.callbacks, _history_name(assignment)
    names = code_cell_names(cells, assignment)
    reading, interpreter = Reading(data_names=assignment.data_names), _Interpreter()
    for number, (kind, source) in enumerate(cells, start=1):
        if isinstance(source, (list, tuple)):  # nbformat keeps a source as lines when the file did
            source = "".join(map(str, source))
        source = str(source)
        if kind != "code":
            continue
        if source in snapshots:
            reading.passed[snapshots[source]] = _status(interpreter, assignment)
            made = interpreter.globals.vars.get(history)
            reading.fits[snapshots[source]] = made if isinstance(made, _Fit) else None
            continue
        interpreter.cell, interpreter.cell_name = number, names[number]
        for line_number, line in enumerate(source.split("\n"), start=1):
            if _READING_MAGICS.match(line):
                reading.suspicious.append((Place(number, line_number, names[number]),
                                           f"runs code from another file or program ({line.strip()[:40]})"))
        try:
            tree = ast.parse(python_of(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            reading.unreadable.append(Place(number, 0, names[number]))
            continue
        reading.suspicious.extend((Place(number, line, names[number]), what) for line, what in _defeats_reading(tree))
        try:
            interpreter.run(tree.body, interpreter.globals)
        except RecursionError:
            reading.unreadable.append(Place(number, 0, names[number]))
    reading.passed.setdefault("final", _status(interpreter, assignment))
    if "final" not in reading.fits:
        made = interpreter.globals.vars.get(history)
        reading.fits["final"] = made if isinstance(made, _Fit) else None
    reading.defined = {name for name in callbacks if name in interpreter.globals.vars}
    return reading


# Model.fit's parameters in order (Keras 3), to name positional arguments.
FIT_PARAMETERS = ("x", "y", "batch_size", "epochs", "verbose", "callbacks", "validation_split", "validation_data",
                  "shuffle", "class_weight", "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
                  "validation_batch_size", "validation_freq")
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class Change:
    """One argument of history's fit that makes its training differ from the lesson's."""

    written: str  # as the code has it: "validation_split=0.3", "x_train[:200]"
    instead: str  # what the lesson asks for: "validation_data=(x_val, y_val)"
    why: str = ""  # what it does, in the lesson's words (may be empty)


def _fit_arguments(call) -> dict:
    """{parameter: ast node} of a fit call, positional ones named; `**kwargs` and `*args` are not followed."""
    found = {}
    for index, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break  # which parameters follow cannot be told
        if index < len(FIT_PARAMETERS):
            found[FIT_PARAMETERS[index]] = arg
    found.update({kw.arg: kw.value for kw in call.keywords if kw.arg is not None})
    return found


def _names(node) -> set:
    return {leaf.id for leaf in ast.walk(node) if isinstance(leaf, ast.Name)}


def _is_other_data(node, expected, arrays) -> bool:
    """Whether `node` is surely not the array `expected`: another of the exercise's `arrays`, or a part of one.

    A plain name of the student's own (an alias, say) cannot be told apart, so it is not counted."""
    if isinstance(node, ast.Name):
        return node.id != expected and node.id in arrays
    return bool(_names(node) & arrays)


def _constant(node, default=None):
    return node.value if isinstance(node, ast.Constant) else default


def fit_changes(arguments: dict, data_names: dict) -> list:
    """[Change] of a fit call's `arguments` (from `_fit_arguments`) that surely change the lesson's training,
    which fits `data_names` ({"x", "y", "x_val", "y_val"}: the setup cell's arrays, Assignment.data_names).

    Only what the call itself shows: values held in variables are not followed, and keywords
    that do not change the per-epoch losses (epochs, verbose, callbacks) are left to other checks."""
    changes = []
    arrays = set(data_names.values())
    validation = (data_names["x_val"], data_names["y_val"])
    asked = f"validation_data=({validation[0]}, {validation[1]})"
    text = lambda name: f"{name}={ast.unparse(arguments[name])[:60]}"
    for name in ("x", "y"):
        if name in arguments and _is_other_data(arguments[name], data_names[name], arrays):
            changes.append(Change(ast.unparse(arguments[name])[:60], data_names[name]))
    data = arguments.get("validation_data")
    split = _constant(arguments.get("validation_split"), 0) if "validation_split" in arguments else 0
    if (data is None or _constant(data, 1) is None) and isinstance(split, (int, float)) and split:
        changes.append(Change(text("validation_split"), asked,
                              f"so Keras trains on part of {data_names['x']} only and measures val_loss on the rest"))
    elif isinstance(data, (ast.Tuple, ast.List)) and (len(data.elts) != 2 or any(
            _is_other_data(node, expected, arrays) for node, expected in zip(data.elts, validation))):
        changes.append(Change(text("validation_data"), asked))
    batch = _constant(arguments.get("batch_size"))
    if isinstance(batch, int) and not isinstance(batch, bool) and batch != DEFAULT_BATCH_SIZE:
        changes.append(Change(text("batch_size"), f"the default batch size ({DEFAULT_BATCH_SIZE})"))
    if "shuffle" in arguments and _constant(arguments["shuffle"], True) is not True:
        changes.append(Change(text("shuffle"), "the default shuffle=True"))
    for name, default in (("class_weight", None), ("sample_weight", None), ("steps_per_epoch", None),
                          ("validation_steps", None), ("initial_epoch", 0), ("validation_freq", 1)):
        if name in arguments and _constant(arguments[name], object()) != default:
            changes.append(Change(text(name), f"no {name}" if default is None else f"the default {name}={default}"))
    return changes


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _defeats_reading(tree):
    """[(line, what)] of code in `tree` whose effect cannot be read from the source."""
    protected = {"__builtins__"}
    ipython = {"get_ipython"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _PROTECTED:
                    protected.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _PROTECTED:
            protected.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _root(node.value) == "get_ipython":
            ipython.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in ("ctypes", "_ctypes", "cffi"):
                    found.append((line, f"imports {module} (raw memory access)"))
                elif module.split(".")[0] in ("importlib", "runpy", "marshal", "pickle", "dill", "cloudpickle", "types"):
                    found.append((line, f"imports {module}, which can run code the notebook does not show"))
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            # model.compile(...) is Keras's; only the builtins (bare, or through builtins) build code from strings.
            builtin = isinstance(node.func, ast.Name) or _root(node.func) in protected
            if name in ("exec", "eval", "compile", "__import__") and builtin:
                found.append((line, f"calls {name}(), which runs code built as a string"))
            elif name in ("setattr", "delattr") and node.args and _root(node.args[0]) in protected:
                found.append((line, f"changes an attribute of {_root(node.args[0])} with {name}()"))
            elif name in ("settrace", "setprofile", "addaudithook") and _root(node.func) in protected:
                found.append((line, f"installs a {name} hook"))
            elif name in ("globals", "locals", "vars") and not node.args:
                pass  # reading them is harmless; writing through them is caught below
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if not isinstance(leaf, (ast.Attribute, ast.Subscript)):
                        continue
                    root = _root(leaf)
                    if root in protected:
                        found.append((line, f"replaces part of {root} ({ast.unparse(leaf)[:60]})"))
                    elif root in ("globals", "locals", "vars") or (isinstance(leaf, ast.Attribute) and leaf.attr == "__dict__"):
                        found.append((line, f"sets variables by name ({ast.unparse(leaf)[:60]})"))
                    elif isinstance(leaf, ast.Attribute) and leaf.attr in _KERAS_METHODS and leaf.attr != "stop_training":
                        found.append((line, f"replaces a Keras method ({ast.unparse(leaf)[:60]})"))
                    break
        elif isinstance(node, ast.Attribute) and node.attr in _IPYTHON_HOOKS and _root(node) in ipython:
            found.append((line, f"uses IPython's {node.attr}, which changes how cells run"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) > MAX_LITERAL:
            found.append((line, f"holds a literal of {len(node.value)} characters (encoded data or code)"))
    return sorted(set(found))
