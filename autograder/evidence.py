"""Read what a run left behind (snapshots and files) as untrusted input.

Everything under a submission's work folder was written by student code. It is read
here with size caps, without following links, and checked against a schema before any
check sees it. Nothing is imported, executed or unpickled.
"""

import functools
import importlib
import json
import os
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import jsonschema

from .export import MAX_MODELS
from .messages import Code

SNAPSHOTS = Path(".autograder") / "snapshots"
FINAL = "final"  # the snapshot taken after the last cell
MAX_EVIDENCE_BYTES = 2 * 2**20
MAX_WEIGHTS_BYTES = 20 * 2**20
MAX_EVENT_FILES = 100  # per TensorBoard folder; an honest run writes one per fit
MAX_SCALARS = 100_000  # values of any kind, per TensorBoard folder; 200 epochs logged every batch stay far below
MAX_EVENT_RECORDS = MAX_SCALARS  # records of any kind, per TensorBoard folder
MAX_EVENT_BYTES = 20 * 2**20  # all event files of one TensorBoard folder together
MAX_TAGS = 1000  # distinct tags remembered per folder; the callback writes a handful
# Nesting of any JSON read from a run or a submission. Python's own limits depend on its version (3.13's
# json takes 5,000 levels where 3.11's stops near 1,000; nbformat.from_dict takes 900 on 3.12 and
# 3.13, under 600 on 3.11), so this one is checked first and the same file is refused on every Python.
MAX_JSON_DEPTH = 100

_SCALAR = {"type": ["null", "boolean", "number", "string"], "maxLength": 500}
_SCALARS = {"type": "object", "maxProperties": 30, "additionalProperties": _SCALAR}
_SERIES = {"type": "array", "maxItems": 1000, "items": _SCALAR}


def schema(variables) -> dict:
    """The JSON schema of a snapshot file whose `variables` are the assignment's."""
    return {
        "type": "object",
        "required": ["format", "name", "variables"],
        "properties": {
            "format": {"const": 1},
            "name": {"type": "string", "maxLength": 100},
            "taken_at": {"type": "number"},
            "kernel_started_at": {"type": ["number", "null"]},
            "cwd": {"type": "string", "maxLength": 500},
            "final_model_saved": {"type": "boolean"},
            "models": {
                "type": "array",
                "maxItems": MAX_MODELS,
                "items": {
                    "type": "object",
                    "required": ["variable", "saved"],
                    "properties": {
                        "variable": {"type": "string", "maxLength": 100},
                        "saved": {"type": "boolean"},
                        "error": {"type": "string", "maxLength": 500},
                    },
                },
            },
            "variables": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    name: {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"type": "string", "maxLength": 500},
                            "kinds": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 500}},
                            "settings": _SCALARS,
                            "used_in_fit": {"type": "boolean"},
                            "epoch": _SERIES,
                            "history": {"type": "object", "maxProperties": 20, "additionalProperties": _SERIES},
                            "params": _SCALARS,
                            "optimizer_iterations": {"type": ["integer", "null"], "minimum": 0},
                            "value": _SCALAR,
                            "error": {"type": "string", "maxLength": 500},
                        },
                    }
                    for name in variables
                },
            },
        },
    }


def is_a(exported: dict, public_name: str) -> bool:
    """Is the exported object an instance of the class `public_name` names ("keras.callbacks.EarlyStopping"),
    a subclass's instance included, as Keras itself would accept it?

    The class is looked up in the grader's own Keras, so its private module path (which moves
    between Keras releases) is nobody's constant. What the kernel exported is its claim only:
    checks that matter replay the object's settings in the real class.
    """
    module, name = public_name.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    wanted = f"{cls.__module__}.{cls.__qualname__}"
    kinds = exported.get("kinds") if isinstance(exported.get("kinds"), list) else [exported.get("type")]
    return wanted in kinds


@functools.cache
def _validator(variables: tuple):
    """Built once per assignment: jsonschema.validate() checks the schema itself on every call (60 ms each, measured)."""
    return jsonschema.Draft202012Validator(schema(variables))


class BadEvidence(Exception):
    """A snapshot or file left by the run is missing, unsafe or malformed; `code` says which (messages.Code)."""

    def __init__(self, text: str, code: str = Code.FAILED):
        super().__init__(text)
        self.code = code


@dataclass(frozen=True)
class Snapshot:
    """The student's variables as exported at one point of the run (untrusted, but well-formed)."""

    name: str
    variables: dict
    cwd: str = ""
    kernel_started_at: float | None = None
    final_weights: Path | None = None  # relative to the work folder
    models: dict = field(default_factory=dict)  # variable -> its weights file (relative) or None when not saved
    problems: list = field(default_factory=list)

    def get(self, variable):
        return self.variables.get(variable)


def regular_file(root: Path, relative, limit: int, not_kept=()) -> os.stat_result:
    """lstat `root/relative`: a regular file of at most `limit` bytes, reached through no link.

    Raises BadEvidence saying what was found instead; `not_kept` lists the "path (kind)" of
    what the sandbox refused to hand on, to say why a file is missing.
    """
    path = root / relative
    for entry in not_kept:
        if entry.rsplit(" (", 1)[0] == Path(relative).as_posix():
            kind = entry.rsplit(" (", 1)[1].rstrip(")")
            if kind in ("symlink", "special file"):
                what = "a symbolic link" if kind == "symlink" else "a special file (a FIFO or device)"
                raise BadEvidence(f"At the end of the run {relative} was {what}, not a regular file, so it cannot be read: "
                                  "leave that file as the callback wrote it.", Code.LINK if kind == "symlink" else Code.SPECIAL_FILE)
            raise BadEvidence(f"{relative} could not be read after the run ({kind}).")
    for parent in reversed(path.relative_to(root).parents):
        if (root / parent).is_symlink():
            raise BadEvidence(f"{parent} is a symbolic link; it must be a real folder.", Code.LINK)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise BadEvidence(f"{relative} does not exist.") from None
    if stat.S_ISLNK(info.st_mode):
        raise BadEvidence(f"{relative} is a symbolic link; it must be a regular file written by your run.", Code.LINK)
    if not stat.S_ISREG(info.st_mode):
        raise BadEvidence(f"{relative} is not a regular file (it is a folder, FIFO or device).", Code.SPECIAL_FILE)
    if info.st_size > limit:
        raise BadEvidence(f"{relative} is {info.st_size} bytes; at most {limit} bytes are accepted.")
    return info


def relative_to_run(path: str, cwd: str) -> Path:
    """`path` as the student's code named it, relative to the notebook's folder `cwd`.

    Raises BadEvidence for a path that leaves that folder.
    """
    normal = PurePosixPath(posixpath.normpath(str(path)))
    if normal.is_absolute():
        try:
            normal = normal.relative_to(posixpath.normpath(cwd or "/nonexistent"))
        except ValueError:
            raise BadEvidence(f"{path} is outside the notebook's folder.") from None
    if not normal.parts or normal.parts[0] in ("..", "."):
        raise BadEvidence(f"{path} is not a path inside the notebook's folder.")
    return Path(normal)


def read_bytes(root: Path, relative, limit: int, not_kept=()) -> bytes:
    regular_file(root, relative, limit, not_kept)
    with open(root / relative, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW | os.O_NONBLOCK)) as file:
        return file.read(limit + 1)


def nested_deeper_than(value, depth: int = MAX_JSON_DEPTH) -> bool:
    """Does parsed JSON `value` nest lists and objects more than `depth` levels deep? (No recursion, so no limit of its own.)"""
    level = [value] if isinstance(value, (dict, list)) else []  # the containers at one depth
    for _ in range(depth):
        if not level:
            return False
        level = [item for container in level for item in (container.values() if isinstance(container, dict) else container)
                 if isinstance(item, (dict, list))]
    return bool(level)


def read_json(root: Path, relative, limit: int = MAX_EVIDENCE_BYTES):
    too_deep = BadEvidence(f"{relative} nests more than {MAX_JSON_DEPTH} levels deep.")
    try:
        value = json.loads(read_bytes(root, relative, limit).decode("utf-8"))
    except RecursionError:  # deeper than json's own limit, far past ours: the same message on every Python
        raise too_deep from None
    except (UnicodeDecodeError, ValueError) as error:
        raise BadEvidence(f"{relative} is not valid JSON: {str(error)[:200]}") from None
    if nested_deeper_than(value):
        raise too_deep
    return value


def _records(data: bytes):
    """The records of a TFRecord file (what TensorBoard's event files are), as bytes.

    Each is an 8-byte little-endian length, its 4-byte checksum, the data and its 4-byte
    checksum. Parsed here rather than by TensorFlow's reader, which allocates whatever
    length a header declares before it reads; a record that does not fit in what is left
    ends the file, as a truncated last record does in TensorBoard's reader.
    """
    offset = 0
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset:offset + 8], "little")
        if length > len(data) - offset - 16:
            return
        yield data[offset + 12:offset + 12 + length]
        offset += 16 + length


_FLOAT_TYPES = {"DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16"}


@dataclass
class EventLog:
    """What the TensorBoard event files of one folder hold, as plain data."""

    scalars: dict = field(default_factory=dict)  # {tag: [(step, value), ...]}, float scalars only
    wall_times: dict = field(default_factory=dict)  # {tag: [wall time of each scalar kept, ...]}, seconds since the epoch
    plugins: dict = field(default_factory=dict)  # {tag: plugin name}, for every tag of any kind (the model graph, say)


def read_events(root: Path, log_dir) -> EventLog:
    """The TensorBoard event files directly in `root/log_dir`, read as untrusted data.

    Event files are protocol buffers, parsed as data. Every byte, record and value read
    counts against a bound, whatever its kind: a flood of strings or integers costs the
    grader as much time as a flood of floats.
    """
    from tensorboard.compat.proto import event_pb2, types_pb2
    from tensorboard.util import tensor_util

    folder = root / log_dir
    for parent in [*reversed(Path(log_dir).parents), Path(log_dir)]:
        if (root / parent).is_symlink():
            raise BadEvidence(f"{parent} is a symbolic link; it must be a real folder.", Code.LINK)
    if not folder.is_dir():
        raise BadEvidence(f"{log_dir} is not a folder.")
    files = sorted(p.name for p in folder.iterdir() if p.name.startswith("events.out.tfevents."))
    if not files:
        raise BadEvidence(f"{log_dir} holds no TensorBoard event file.")
    if len(files) > MAX_EVENT_FILES:
        raise BadEvidence(f"{log_dir} holds {len(files)} event files; at most {MAX_EVENT_FILES} are read.")
    total = sum(regular_file(root, Path(log_dir) / name, MAX_EVENT_BYTES).st_size for name in files)
    if total > MAX_EVENT_BYTES:
        raise BadEvidence(f"{log_dir} holds {total} bytes of event files; at most {MAX_EVENT_BYTES} are read.")
    float_types = {types_pb2.DataType.Value(name) for name in _FLOAT_TYPES}
    log, records, values = EventLog(), 0, 0
    for name in files:
        try:
            for record in _records(read_bytes(root, Path(log_dir) / name, MAX_EVENT_BYTES)):
                records += 1
                if records > MAX_EVENT_RECORDS:
                    raise BadEvidence(f"{log_dir} holds more than {MAX_EVENT_RECORDS} event records, far more "
                                      f"than TensorBoard writes (a few per epoch), so it cannot be read.")
                event = event_pb2.Event.FromString(record)
                values += len(event.summary.value)
                if values > MAX_SCALARS:  # bounds the grader's time and memory on a flood of values
                    raise BadEvidence(f"{log_dir} logs more than {MAX_SCALARS} values.")
                for value in event.summary.value:
                    if len(log.plugins) < MAX_TAGS:
                        log.plugins.setdefault(value.tag[:100], value.metadata.plugin_data.plugin_name[:100])
                    kind = value.WhichOneof("value")
                    if kind == "simple_value":  # TensorFlow 1's scalars
                        log.scalars.setdefault(value.tag, []).append((event.step, float(value.simple_value)))
                        log.wall_times.setdefault(value.tag, []).append(event.wall_time)
                        continue
                    # Only float scalars are kept; look at the declared shape and type before building
                    # the array: a 20-byte record declaring a huge shape with one value makes
                    # make_ndarray allocate all of it (np.repeat) in the grader's own process.
                    if kind != "tensor" or value.tensor.tensor_shape.dim or value.tensor.dtype not in float_types:
                        continue
                    array = tensor_util.make_ndarray(value.tensor)
                    if array.shape == () and array.dtype.kind == "f":
                        log.scalars.setdefault(value.tag, []).append((event.step, float(array)))
                        log.wall_times.setdefault(value.tag, []).append(event.wall_time)
        except BadEvidence:
            raise
        except Exception as error:  # a corrupt file is the student's, not the grader's, failure
            raise BadEvidence(f"{Path(log_dir) / name} is not a readable event file: {str(error)[:200]}") from None
    return log


def load_snapshot(work: Path, name: str, variables) -> Snapshot:
    """The snapshot taken at check `name`'s test cell, or else after the last cell; `variables`:
    the names of the assignment's variables (any other is refused)."""
    problems = []
    for candidate in (name, FINAL):
        folder = work / SNAPSHOTS / candidate
        if not os.path.lexists(folder / "evidence.json"):
            continue
        try:
            data = read_json(work, SNAPSHOTS / candidate / "evidence.json")
            _validator(tuple(variables)).validate(data)
        except BadEvidence as error:
            problems.append(str(error))
            continue
        except jsonschema.ValidationError as error:
            problems.append(f"The exported data does not have the expected shape: {error.message[:200]}")
            continue
        weights = SNAPSHOTS / candidate / "final_model.weights.h5"
        # File names are the grader's (by position), never a path from the snapshot.
        models = {model["variable"]: SNAPSHOTS / candidate / f"model_{index}.weights.h5" if model["saved"] else None
                  for index, model in enumerate(data.get("models", []))}
        return Snapshot(
            name=candidate,
            variables=data["variables"],
            cwd=data.get("cwd", ""),
            kernel_started_at=data.get("kernel_started_at"),
            final_weights=weights if data.get("final_model_saved") else None,
            models=models,
            problems=problems,
        )
    return Snapshot(name=FINAL, variables={}, problems=problems or ["The run exported nothing: it did not reach the end."])
