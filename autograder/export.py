"""Export a snapshot of the student's work as plain data, from inside the student's kernel.

This file runs next to student code, so nothing it writes is trusted: the verifier
(`autograder.evidence`) parses every snapshot as hostile input and checks it against
evidence of its own. The module depends on the standard library only and on what the
kernel already imported, because in a sandboxed run its source text is sent to the
kernel as a cell (the `autograder` package itself is not visible there).

A snapshot is a folder `.autograder/snapshots/<name>/` holding `evidence.json` and, when
the run has a trained model, `final_model.weights.h5` (the trained model's weights as
they are at that moment), and `model_<i>.weights.h5` for each other Keras model the
notebook keeps in a variable (the one step 5 reloads the best weights into, say).
"""

import json
import math
import os
import sys
import time

FORMAT = 1
# Which variables are read, and how, is the assignment's (exercise.exports, from its
# grading/assignment.json): {name: ["callback", [attributes]] | ["history", []] | ["value", []]}.
# Of a callback, its settings and, after a fit, the state that fit left in it (EarlyStopping's
# stopped_epoch and best, ModelCheckpoint's best); only plain values are kept.
MAX_STRING = 500
MAX_EPOCHS = 1000
MAX_MODELS = 8  # other models saved per snapshot; a notebook of this lesson keeps one or two


def _plain(value):
    """`value` as a JSON scalar, or None when it is not a plain bool, number or short string."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return str(value)[:MAX_STRING]
    try:  # NumPy and backend scalars
        return _plain(value.item())
    except Exception:
        return None


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"[:MAX_STRING]


def _callback(obj, names, trained_model):
    # The classes it is an instance of, so that a check accepts a subclass as Keras would.
    out = {"type": _type_name(type(obj)), "kinds": [_type_name(cls) for cls in type(obj).__mro__[:20]], "settings": {}}
    for name in names:
        try:
            out["settings"][name] = _plain(getattr(obj, name))
        except Exception:
            out["settings"][name] = None
    try:
        out["used_in_fit"] = trained_model is not None and getattr(obj, "model", None) is trained_model
    except Exception:
        out["used_in_fit"] = False
    return out


def _history(obj):
    out = {"type": _type_name(type(obj)), "epoch": [], "history": {}, "params": {}}
    try:
        out["epoch"] = [_plain(e) for e in list(obj.epoch)[:MAX_EPOCHS]]
        for key, values in list(dict(obj.history).items())[:20]:
            out["history"][str(key)[:100]] = [_plain(v) for v in list(values)[:MAX_EPOCHS]]
        out["params"] = {str(k)[:100]: _plain(v) for k, v in list(dict(obj.params).items())[:20]}
    except Exception as error:
        out["error"] = repr(error)[:MAX_STRING]
    try:  # batches the trained model's optimizer has seen: one fit of N epochs here takes N x 10
        steps = _plain(obj.model.optimizer.iterations.numpy())
        out["optimizer_iterations"] = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 else None
    except Exception:
        out["optimizer_iterations"] = None
    return out


def _kernel_started_at():
    """When this kernel process started (seconds since the epoch, to about 10 ms), from /proc."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            booted = time.time() - float(uptime.read().split()[0])
        return booted + ticks / os.sysconf("SC_CLK_TCK")
    except Exception:
        return None


def _save_other_models(user_ns, trained_model, target):
    """Save the weights of the Keras models held in variables, other than the trained one.

    Why: a number such as best_val_loss can be typed in; weights that give the best epoch's
    loss in a model other than the trained one show that the best weights were reloaded.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        return []
    models = []
    for var, obj in sorted(user_ns.items(), key=lambda item: str(item[0])):
        if len(models) == MAX_MODELS:
            break
        try:
            if str(var).startswith("_") or obj is trained_model or not isinstance(obj, keras.Model):
                continue
            if not any(obj is seen for _, seen in models):
                models.append((str(var)[:100], obj))
        except Exception:
            continue
    exported = []
    for index, (var, obj) in enumerate(models):
        try:
            obj.save_weights(os.path.join(target, f"model_{index}.weights.h5"))
            exported.append({"variable": var, "saved": True})
        except Exception as error:
            exported.append({"variable": var, "saved": False, "error": repr(error)[:MAX_STRING]})
    return exported


def snapshot(user_ns, name, variables, folder=".autograder/snapshots"):
    """Write what the `variables` ({name: [how, attributes]}) in `user_ns` hold now to `folder/name/`; never raises."""
    target = os.path.join(folder, name)
    os.makedirs(target, exist_ok=True)
    history = user_ns.get("history")
    trained_model = getattr(history, "model", None) if history is not None else None
    evidence = {
        "format": FORMAT,
        "name": name,
        "taken_at": time.time(),
        "kernel_started_at": _kernel_started_at(),
        "cwd": os.getcwd()[:MAX_STRING],
        "variables": {},
        "final_model_saved": False,
    }
    for var, (how, attributes) in variables.items():
        if var not in user_ns:
            continue
        obj = user_ns[var]
        try:
            if how == "callback":
                evidence["variables"][var] = _callback(obj, attributes, trained_model)
            elif how == "history":
                evidence["variables"][var] = _history(obj)
            else:
                evidence["variables"][var] = {"type": _type_name(type(obj)), "value": _plain(obj)}
        except Exception as error:
            evidence["variables"][var] = {"type": "unreadable", "error": repr(error)[:MAX_STRING]}
    if trained_model is not None:
        try:
            trained_model.save_weights(os.path.join(target, "final_model.weights.h5"))
            evidence["final_model_saved"] = True
        except Exception as error:
            evidence["final_model_error"] = repr(error)[:MAX_STRING]
    evidence["models"] = _save_other_models(user_ns, trained_model, target)
    with open(os.path.join(target, "evidence.json"), "w") as file:
        json.dump(evidence, file)
    sys.stdout.flush()
