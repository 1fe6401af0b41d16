"""Replay a training log through a student's EarlyStopping or ReduceLROnPlateau settings.

Training is deterministic, so the per-epoch logs of the reference run (recorded in
reference.json) are what any honest run of the exercise produces. Feeding them to a
real `keras.callbacks.EarlyStopping` built from the student's settings tells, without
training, after how many epochs those settings stop the run: Keras's own rule, not ours.
"""

import functools

# EarlyStopping's constructor arguments that decide when it stops, with the types they must have.
ARGUMENTS = {
    "monitor": (str,),
    "min_delta": (int, float),
    "patience": (int,),
    "mode": (str,),
    "baseline": (int, float, type(None)),
    "start_from_epoch": (int,),
}


def _arguments(settings: dict, wanted: dict, kind: str) -> dict:
    """The constructor arguments `wanted` ({name: types}) from the exported `settings`; ValueError when one has another type."""
    arguments = {}
    for name, types in wanted.items():
        value = settings.get(name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"{kind}'s {name} must be a {' or '.join(t.__name__ for t in types)}; it is {value!r}.")
        arguments[name] = value
    return arguments


def epochs_run(settings: dict, logs: dict, epochs: int, model) -> int:
    """Epochs a real EarlyStopping with `settings` lets a run with these per-epoch `logs` last.

    `epochs`: the fit's epoch limit; `model`: a real compiled model of the run's kind (built fresh
    for this replay), so that mode="auto" finds the direction of a metric as in fit. Raises
    ValueError when the settings are not a valid EarlyStopping configuration.
    """
    from keras.callbacks import EarlyStopping

    callback = EarlyStopping(**_arguments(settings, ARGUMENTS, "EarlyStopping"))
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_end(epoch, {key: values[epoch] for key, values in logs.items()})
        if model.stop_training:
            return epoch + 1
    return epochs


# ReduceLROnPlateau's constructor arguments that decide when and how far it lowers the rate.
LR_ARGUMENTS = {
    "monitor": (str,),
    "factor": (int, float),
    "patience": (int,),
    "mode": (str,),
    "min_delta": (int, float),
    "cooldown": (int,),
    "min_lr": (int, float),
}


def learning_rates(settings: dict, logs: dict, model) -> list:
    """The learning rate of each epoch of a run with these per-epoch `logs`, as a real
    ReduceLROnPlateau with `settings` sets it: what it writes to logs["learning_rate"] (the rate
    used during that epoch, measured on Keras 3.15), one per epoch of `logs`.

    `model`: a real compiled model of the run's kind, whose optimizer starts at the run's first
    rate (its rate is put back afterwards). Raises ValueError when the settings are not a valid
    ReduceLROnPlateau configuration (Keras refuses factor >= 1 itself).
    """
    from keras.callbacks import ReduceLROnPlateau

    callback = ReduceLROnPlateau(**_arguments(settings, LR_ARGUMENTS, "ReduceLROnPlateau"))
    callback.set_model(model)
    start = float(model.optimizer.learning_rate)
    rates = []
    try:
        callback.on_train_begin()
        for epoch in range(len(next(iter(logs.values()), []))):
            epoch_logs = {key: values[epoch] for key, values in logs.items() if epoch < len(values)}
            callback.on_epoch_end(epoch, epoch_logs)
            rates.append(float(epoch_logs["learning_rate"]))
    finally:
        model.optimizer.learning_rate = start
    return rates


def same_rate(a, b) -> bool:
    """Learning rates are float32 values widened to Python floats: equal up to float32 precision."""
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


@functools.cache
def model_of(assignment):
    """One compiled build_model() of `assignment` for every replay in this process, and the rate it starts at.

    Why one: building a model costs about 0.1 s, and a replay uses only its optimizer, whose
    rate `learning_rates` puts back afterwards.
    """
    model = assignment.setup["build_model"]()
    return model, float(model.optimizer.learning_rate)


def run_learning_rates(assignment, settings: dict, logs: dict) -> list:
    """`learning_rates` over a run of `assignment`: its model starting at build_model()'s rate.

    `logs`: the run's per-epoch logs as numbers, without the learning rate it logged itself.
    """
    model, first = model_of(assignment)
    model.optimizer.learning_rate = first
    # min_delta reads signed after a fit in min mode (-0.0001, measured on Keras 3.15); the constructor takes its size.
    if isinstance(settings.get("min_delta"), (int, float)) and not isinstance(settings.get("min_delta"), bool):
        settings = {**settings, "min_delta": abs(settings["min_delta"])}
    return learning_rates(settings, logs, model)
