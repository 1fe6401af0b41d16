"""reduce_lr: a ReduceLROnPlateau on val_loss with factor={factor} and patience={lr_patience}, the other arguments at their defaults."""

from autograder.assignment import of
from autograder.evidence import is_a

EXERCISE = of(__file__)  # the assignment these checks belong to
FACTOR, PATIENCE, MIN_DELTA = (EXERCISE.settings[name] for name in ("factor", "lr_patience", "min_delta"))
REDUCE_LR = "keras.callbacks.ReduceLROnPlateau"  # a subclass is accepted, as Keras accepts it


def test_is_a_reduce_lr_on_plateau(reduce_lr):
    assert is_a(reduce_lr, REDUCE_LR), f"reduce_lr must be a keras.callbacks.ReduceLROnPlateau; it is a {reduce_lr['type']}."


def test_watches_val_loss(reduce_lr):
    settings = reduce_lr["settings"]
    assert settings.get("monitor") == "val_loss" and settings.get("mode") in ("auto", "min"), (
        f'reduce_lr must watch the validation loss: monitor="val_loss" (mode left at "auto"); it watches '
        f"{settings.get('monitor')!r} in mode {settings.get('mode')!r}."
    )


def test_halves_after_the_patience(reduce_lr):
    settings = reduce_lr["settings"]
    assert (settings.get("factor"), settings.get("patience")) == (FACTOR, PATIENCE), (
        f"reduce_lr must multiply the learning rate by factor={FACTOR} after patience={PATIENCE} epochs without "
        f"improvement; it has factor={settings.get('factor')!r}, patience={settings.get('patience')!r}."
    )


def test_other_arguments_at_their_defaults(reduce_lr):
    settings = reduce_lr["settings"]
    # min_delta is kept signed after a fit (measured, Keras 3.15: -0.0001 in min mode): compare its size.
    min_delta = settings.get("min_delta")
    given = {"min_delta": abs(min_delta) if isinstance(min_delta, (int, float)) else min_delta,
             "cooldown": settings.get("cooldown"), "min_lr": settings.get("min_lr")}
    wanted = {"min_delta": abs(MIN_DELTA), "cooldown": 0, "min_lr": 0}
    changed = [f"{name}={given[name]!r}" for name in wanted if given[name] != wanted[name]]
    assert not changed, (
        f"Leave min_delta, cooldown and min_lr at their defaults ({abs(MIN_DELTA)}, 0 and 0); reduce_lr has {', '.join(changed)}."
    )
