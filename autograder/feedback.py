"""Write each submission's feedback page: every check's verdict beside a plot of the training run.

The page is built for the student to act on: for each check, passed or failed, its points,
what the check wants and (when it failed) what the grader found and what to change, all in
the lesson's words. Those words come from the checks' student-facing messages (see
`autograder.verify`); the hidden checks' code, the reference values and the tolerances are
never part of a page.

Everything in a result that the student could have shaped (the submission's name, error
text, messages quoting their values, the exported training history) is untrusted: text is
cleaned and clipped here, then HTML-escaped by the templates (Jinja2 autoescape, or a
Markdown escape for the text version); numbers are validated before they are plotted. Pages
carry a Content-Security-Policy that allows no script and no network: styles and images
are inline.

Library entry points (the CLI wires them into `python -m autograder grade`):

- `write_feedback(results, out_dir)`: `<name>.html` and `<name>.md` per submission;
- `write_nbgrader_feedback(results, course_root)`: the same page where nbgrader's
  `release_feedback` takes it from (`feedback/<student>/<assignment>/<notebook>.html`).

`results` are `autograder.grade.Result` objects or their `to_dict()` form (the JSON that
`grade --json` writes), so pages can be rebuilt from a results file.
"""

import base64
import datetime
import functools
import hashlib
import io
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import markupsafe

from .assignment import Assignment
from .messages import Code, Message
from .status import Status

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Lengths past which untrusted text is cut: enough for any honest message, small enough
# that a notebook cannot bloat or drown the page.
MAX_NAME = 120
MAX_MESSAGE = 800
MAX_MESSAGES_PER_CHECK = 12
MAX_EPOCHS_DRAWN = 1000  # a real run has at most epochs_limit (200); a forged history may have millions

# Characters that do nothing visible but can disguise text: C0/C1 controls (tab and newline
# kept), zero-width characters and bidirectional overrides ("Trojan Source" reordering).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")

STATUS_LABELS = {
    Status.GRADED: "Graded",
    Status.REFUSED: "Refused: the file could not be graded",
    Status.TIMED_OUT: "Stopped at the time limit",
    Status.CRASHED: "The run did not finish",
    Status.VERIFICATION_STOPPED: "Not checked: the grader could not read what the run left; your instructor will look at it",
    Status.GRADER_ERROR: "Grader error: your instructor will look at it",
}


# ---------------------------------------------------------------- untrusted text


def clip(value, limit: int = MAX_MESSAGE) -> str:
    """`value` as plain text without invisible characters, cut to `limit` characters with a note."""
    text = _INVISIBLE.sub("", "" if value is None else str(value))
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} … [{len(text) - limit} more characters cut]"


def safe_name(submission: str) -> str:
    """A file name for `submission`'s pages: letters, digits, `._-` only, never hidden or a path.

    A name that had to change gets a short hash of the original, so that two submissions
    never share a page (`a/b` and `a_b` both become `a_b`, with different hashes).
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", submission).strip("._-")[:80] or "submission"
    if stem != submission:
        stem += "-" + hashlib.sha256(submission.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return stem


def page_names(results) -> dict[str, str]:
    """{submission: file stem} for a batch, unique even on case-insensitive file systems."""
    names = [as_dict(result)["submission"] for result in results]
    stems = {name: safe_name(name) for name in names}
    lowered = [stem.lower() for stem in stems.values()]
    return {
        name: stem if lowered.count(stem.lower()) == 1 or stem != name
        else f"{stem}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        for name, stem in stems.items()
    }


def as_dict(result) -> dict:
    """A result as the JSON shape of `Result.to_dict()`, whichever form it came in."""
    from .grade import json_safe

    # Plain JSON data whatever the result held, in the shapes the pages read.
    data = json_safe(result.to_dict() if hasattr(result, "to_dict") else dict(result))
    data["submission"] = str(data.get("submission", ""))
    for key in ("tests", "review"):
        if not isinstance(data.get(key), list):
            data[key] = []
    return data


def readable(result, problems: dict | None = None) -> dict:
    """`as_dict(result)`, or for a result that cannot give one, a grader error saying so (added to `problems`)."""
    try:
        return as_dict(result)
    except Exception as error:  # one broken result must not cost the others their pages or report
        name = getattr(result, "submission", None) or (result.get("submission") if isinstance(result, dict) else None)
        name = str(name or "?")
        if problems is not None:
            problems[name] = f"its result could not be read ({type(error).__name__}: {clip(error, 200)})"
        return {"submission": name, "score": 0.0, "status": Status.GRADER_ERROR, "tests": [], "review": [],
                "message": f"This result could not be read ({type(error).__name__}); your instructor will look at it."}


def load_results(path: Path) -> list[dict]:
    """The results a `grade --json OUT` run wrote."""
    return json.loads(Path(path).read_text())


def _points(value) -> str:
    """Points as the lesson writes them: 2, 0.5."""
    number = _finite(value)
    return "?" if number is None else f"{number:g}"


# ---------------------------------------------------------------- the training run


def _finite(value):
    """`value` as a float if it is a finite real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int no float can hold (a history entry of 10 ** 4000)
        return None
    return number if math.isfinite(number) else None


def _bounded_int(value, low, high, default):
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else default


@dataclass(frozen=True)
class TrainingRun:
    """A run's curves and the marks the plot draws, from validated numbers only, as the
    assignment declares them (`Assignment.plot`).

    Epochs are numbered from 1, as Keras prints them. A value that is not a finite number
    is kept as None: its epoch counts, but nothing is drawn for it.
    """

    curves: tuple  # ((history key, label, values), ...): the run's exported curves, on the loss axis
    best: str | None  # the key of the curve whose lowest value marks the best epoch
    epochs_limit: int | None  # None: the assignment marks no epoch limit
    patience: int | None  # None: the assignment marks no patience window
    measured_val_loss: float | None  # the grader's measurement of the declared weights
    measured: tuple | None = None  # (what, what is missing without it, its file or None), when declared
    rates: tuple = ()  # the learning rate of each epoch, replayed by the grader
    logged_rates: tuple = ()  # the learning rate of each epoch, as the run's history exported it
    rate_source: str | None = None  # "a real ReduceLROnPlateau with `reduce_lr`'s settings": what was replayed
    notes: tuple = ()  # what was left out of the history, in words

    def curve(self, key) -> tuple:
        return next((values for name, _, values in self.curves if name == key), ())

    @property
    def watched(self) -> tuple:
        return self.curve(self.best)

    @property
    def watched_label(self) -> str:
        return next((label for name, label, _ in self.curves if name == self.best), str(self.best))

    @property
    def epochs(self) -> int:
        return len(self.watched)

    @property
    def best_epoch(self) -> int | None:
        """The first epoch with the lowest watched value (EarlyStopping's and ModelCheckpoint's "best")."""
        finite = [(value, epoch) for epoch, value in enumerate(self.watched, start=1) if value is not None]
        return min(finite)[1] if finite else None

    @property
    def best_value(self) -> float | None:
        return self.watched[self.best_epoch - 1] if self.best_epoch else None

    @property
    def stopped_epoch(self) -> int | None:
        """The last epoch, when training ended before the limit; None if it never stopped early (or no limit is marked)."""
        return self.epochs if self.epochs_limit is not None and 0 < self.epochs < self.epochs_limit else None

    @property
    def waited(self) -> int | None:
        """Epochs trained after the best one before stopping: the patience window's length."""
        if self.stopped_epoch is None or self.best_epoch is None:
            return None
        return self.stopped_epoch - self.best_epoch


def _series(values, name, notes):
    if not isinstance(values, list):
        if values is not None:
            notes.append(f"{name} is not a list of numbers, so it is not drawn.")
        return ()
    if len(values) > MAX_EPOCHS_DRAWN:
        notes.append(f"{name} has {len(values)} values; only the first {MAX_EPOCHS_DRAWN} are drawn.")
        values = values[:MAX_EPOCHS_DRAWN]
    numbers = tuple(map(_finite, values))
    if skipped := sum(number is None for number in numbers):
        what = "values that are not finite numbers" if skipped != 1 else "value that is not a finite number"
        notes.append(f"{name} has {skipped} {what}, left out of the plot.")
    return numbers


def _rates(values, name, notes):
    """Learning rates as `_series` reads them; a rate of 0 or below has no place on a log scale."""
    rates = _series(values, name, notes)
    if skipped := sum(rate is not None and rate <= 0 for rate in rates):
        notes.append(f"{name} has {skipped} value{'s' * (skipped != 1)} of 0 or below, left out of the plot (log scale).")
    return tuple(rate if rate is not None and rate > 0 else None for rate in rates)


def read_training(training, assignment: Assignment) -> TrainingRun:
    """Validate a result's `training` (the student's history is untrusted) into a TrainingRun of `assignment`."""
    plot, settings = assignment.plot, assignment.settings
    training = training if isinstance(training, dict) else {}
    notes = []
    curves = tuple((key, label, _series(training.get(key), key, notes)) for key, label in plot.get("curves", ()))
    measured = plot.get("measured")
    rate = plot.get("learning_rate")
    rate_source = None
    if rate:
        kind = assignment.variables.get(rate["replay"], {}).get("class")
        rate_source = f"a real {kind} with `{rate['replay']}`'s settings" if kind else f"`{rate['replay']}`'s settings"
    return TrainingRun(
        curves=curves,
        best=plot.get("best"),
        epochs_limit=(_bounded_int(training.get("epochs_limit"), 1, 100_000, settings.get(plot["limit"], 100_000))
                      if "limit" in plot else None),
        patience=(_bounded_int(training.get("patience"), 0, 100_000, settings.get(plot["patience"], 0))
                  if "patience" in plot else None),
        measured_val_loss=_finite(training.get("measured_val_loss")),
        measured=(measured["what"], measured["none"], measured["file"].format_map(settings) if "file" in measured else None)
                 if measured else None,
        rates=_rates(training.get("replayed_learning_rate"), "the replayed learning rate", notes) if rate else (),
        logged_rates=_rates(training.get(rate["logged"]), rate["logged"], notes) if rate else (),
        rate_source=rate_source,
        notes=tuple(notes),
    )


def schedule(rates) -> str:
    """A learning rate per epoch as its steps: "0.005 from epoch 1, 0.0025 from epoch 12"."""
    steps, last = [], None
    for epoch, rate in enumerate(rates, start=1):
        if rate is not None and (last is None or not _same_rate(rate, last)):
            steps.append(f"{rate:.6g} from epoch {epoch}")
        last = rate if rate is not None else last
    return ", ".join(steps)


def _same_rate(a, b) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))  # float32 rates widened to floats


def _first_difference(logged, replayed) -> int | None:
    """The first epoch (from 1) where the exported rates differ from the replayed ones (None: they agree)."""
    for epoch, (a, b) in enumerate(zip(logged, replayed), start=1):
        if a is None or b is None or not _same_rate(a, b):
            return epoch
    return None if len(logged) == len(replayed) else min(len(logged), len(replayed)) + 1


def describe(run: TrainingRun) -> list[str]:
    """The plot's marks in sentences: the figure's caption and alt text, and the Markdown page."""
    facts = []
    if run.best_epoch is None:
        facts.append(f"The run exported no {run.watched_label} (no `history` from model.fit), so there is no curve to draw.")
    else:
        facts.append(f"Lowest {run.watched_label}: {run.best_value:.4f}, at epoch {run.best_epoch}.")
    if run.stopped_epoch is not None and run.best_epoch is not None:
        stopped = f"Training stopped after epoch {run.stopped_epoch} of at most {run.epochs_limit}"
        if run.patience is None:
            facts.append(f"{stopped}.")
        else:
            after = (f"epoch {run.stopped_epoch}" if run.waited == 1
                     else f"epochs {run.best_epoch + 1}–{run.stopped_epoch}")
            window = f"the patience window, {after}, had no improvement" if run.waited else "no epoch came after the best one"
            facts.append(f"{stopped}, {run.waited} epoch{'s' * (run.waited != 1)} after the best one: {window}.")
            if run.waited != run.patience:
                facts.append(f"EarlyStopping with patience={run.patience} stops {run.patience} epochs after the best epoch, "
                             f"which would be after epoch {run.best_epoch + run.patience}.")
    elif run.epochs_limit is not None and run.epochs >= run.epochs_limit:
        facts.append(f"Training never stopped early: it ran {run.epochs} epochs, up to the {run.epochs_limit}-epoch limit.")
    if run.measured is not None:
        what, none, file = run.measured
        if run.measured_val_loss is not None:
            facts.append(f"The {what}{f' ({file})' if file else ''}, measured by the grader, "
                         f"gives validation loss {run.measured_val_loss:.4f}.")
        else:
            facts.append(f"No {none}: the grader found no usable {file or what} to measure.")
    if any(rate is not None for rate in run.rates):
        facts.append(f"Learning rate per epoch, as {run.rate_source} sets it on this run's losses "
                     f"(replayed by the grader): {schedule(run.rates)}.")
        if run.logged_rates and (epoch := _first_difference(run.logged_rates, run.rates)) is not None:
            facts.append(f"The learning rates your history exported differ from that from epoch {epoch} on: "
                         f"{schedule(run.logged_rates) or 'none'}.")
    elif any(rate is not None for rate in run.logged_rates):
        facts.append(f"Learning rate per epoch as your history exported it (the grader could not replay "
                     f"{run.rate_source} on this run): {schedule(run.logged_rates)}.")
    return facts + list(run.notes)


# Okabe–Ito colours (distinguishable with colour-blindness); every mark also differs by
# line style or marker and is named in the legend, so colour is never the only cue.
_TRAIN, _VAL, _BEST, _CHECKPOINT, _STOP, _RATE = "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#222222", "#E69F00"
# The declared curves in order: the first as the training loss was always drawn, the second as the validation loss.
_CURVE_STYLES = ({"color": _TRAIN, "marker": "o"}, {"color": _VAL, "marker": "s", "ls": "--"},
                 {"color": "#56B4E9", "marker": "^", "ls": "-."}, {"color": "#000000", "marker": "v", "ls": ":"})


def plot_png(run: TrainingRun) -> bytes | None:
    """The run's loss curves and marks as a PNG, or None when there is nothing to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if run.best_epoch is None:
        return None
    figure = Figure(figsize=(8, 4.6), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: rendering needs no display and no pyplot state
    axes = figure.add_subplot()

    def curve(on, values, marker, **style):
        epochs = range(1, len(values) + 1)
        # One marker per epoch helps to count a short run; on a long one they only blur the line.
        on.plot(epochs, [math.nan if v is None else v for v in values], lw=1.8, ms=3.5,
                marker=marker if len(values) <= 60 else None, **style)

    if run.patience is not None and run.best_epoch < (run.stopped_epoch or 0):
        axes.axvspan(run.best_epoch, run.stopped_epoch, color="#9a9a9a", alpha=0.18, lw=0,
                     label=f"patience window: {run.waited} epoch{'s' * (run.waited != 1)} without improvement")
    for (key, label, values), style in zip(run.curves, _CURVE_STYLES * len(run.curves)):
        if any(v is not None for v in values):
            curve(axes, values, label=label, **style)
    axes.plot([run.best_epoch], [run.best_value], ls="none", marker="*", ms=16, color=_BEST,
              markeredgecolor="black", zorder=5, label=f"lowest {run.watched_label}: epoch {run.best_epoch}")
    if run.stopped_epoch is not None:
        axes.axvline(run.stopped_epoch, color=_STOP, ls=(0, (5, 3)), lw=1.4,
                     label=f"training stopped after epoch {run.stopped_epoch}")
    if run.measured is not None and run.measured_val_loss is not None:
        axes.axhline(run.measured_val_loss, color=_CHECKPOINT, ls=":", lw=2.2,
                     label=f"{run.measured[0]}, measured by the grader: {run.measured_val_loss:.4f}")
    elif run.measured is not None:  # said in the legend, where the measurement's line would be named
        axes.plot([], [], ls="none", marker="x", mew=2, color=_CHECKPOINT,
                  label=f"no {run.measured[1]}: nothing for the grader to measure")

    last = max(len(values) for _, _, values in run.curves)
    if run.epochs_limit is None:
        pass  # no limit to mark: the run's own epochs set the axis
    elif last < run.epochs_limit:
        # A line at epoch 200 would squash a 14-epoch run into the left edge: name it above
        # the plot instead, where it can never hide a curve.
        axes.set_xlim(0.5, last + 1.5)
        axes.set_title(f"epoch limit {run.epochs_limit}: {run.epochs_limit - last} epochs beyond this chart →",
                       loc="right", fontsize=9.5, color="#333333")
    else:
        axes.axvline(run.epochs_limit, color="#444444", lw=1.4, label=f"{run.epochs_limit}-epoch limit")
        axes.set_title(f"never stopped early: ran {run.epochs} epochs, up to the limit", loc="right",
                       fontsize=9.5, color="#8a1c1c", fontweight="bold")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch (numbered from 1, as Keras prints it)")
    axes.set_ylabel("loss")
    rates = [values for values in (run.rates[:last], run.logged_rates[:last]) if any(v is not None for v in values)]
    axes.set_title("Loss and learning rate per epoch" if rates else "Loss per epoch", loc="left", fontsize=11)
    axes.grid(alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if rates:
        _rate_axis(axes, run, last)
    figure.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _rate_axis(axes, run, last):
    """The learning rate on a second axis, on the right, log scale: its steps are factors."""
    rate_axes = axes.twinx()
    rate_axes.set_yscale("log")
    if any(v is not None for v in run.rates):
        rates = [math.nan if v is None else v for v in run.rates[:last]]
        # steps-mid: a rate is the one used during its epoch, so it changes halfway between two epochs.
        rate_axes.plot(range(1, len(rates) + 1), rates, color=_RATE, lw=2.2, drawstyle="steps-mid",
                       label="learning rate, replayed by the grader (right axis, log scale)")
    if any(v is not None for v in run.logged_rates):
        logged = [math.nan if v is None else v for v in run.logged_rates[:last]]
        rate_axes.plot(range(1, len(logged) + 1), logged, ls="none", marker="D", ms=4, mfc="none", mew=1.2,
                       color=_RATE, label="learning rate as your history exported it (right axis)")
    drawn = [v for v in (*run.rates[:last], *run.logged_rates[:last]) if v is not None]
    # A factor of 2 of room above and below: a halving takes the middle third, clear of the loss curves'
    # ends at the top and bottom, and a rate that never changes is a line across the middle.
    rate_axes.set_ylim(min(drawn) / 2, max(drawn) * 2)
    rate_axes.set_ylabel("learning rate (log scale)")
    rate_axes.spines[["top"]].set_visible(False)


@functools.lru_cache(maxsize=256)
def plot_data_uri(run: TrainingRun) -> str | None:
    # Cached: a plot costs about 0.25 s, the same submission's page is written twice (the
    # feedback folder and nbgrader's), and honest runs of a deterministic exercise share a plot.
    png = plot_png(run)
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---------------------------------------------------------------- checks


@functools.cache
def expectation(assignment: Assignment, check: str) -> str | None:
    """What check `check` of `assignment` wants, in the lesson's words: its module docstring's first line.

    The same sentence a passed check shows; nothing else of the hidden module is read out.
    """
    if check not in assignment.checks:  # a name from the results file, never a path
        return None
    return assignment.check_doc(check).removeprefix(f"{check}:").strip() or None


def messages(output) -> list[str]:
    """A failed check's messages: its `- ` lines, a line without the dash continuing the one before."""
    found = []
    for line in clip(output, MAX_MESSAGE * MAX_MESSAGES_PER_CHECK).splitlines():
        if line.startswith("- ") or not found:
            found.append(line.removeprefix("- ").strip())
        else:
            found[-1] += " " + line.strip()
    shown = [clip(message) for message in found if message]
    if len(shown) > MAX_MESSAGES_PER_CHECK:
        shown = shown[:MAX_MESSAGES_PER_CHECK] + [f"… and {len(shown) - MAX_MESSAGES_PER_CHECK} more messages."]
    return shown


def check_messages(test) -> list[Message]:
    """A failed check's messages as data (clipped, at most MAX_MESSAGES_PER_CHECK shown): its
    `messages` list, or else its `output` read as lines (code FAILED: a results file without codes)."""
    listed = test.get("messages") if isinstance(test, dict) else None
    if not isinstance(listed, list) or not listed:
        return [Message(Code.FAILED, text) for text in messages(test.get("output") if isinstance(test, dict) else None)]
    found = [Message(clip(item.get("code"), 80), clip(item.get("text"))) for item in listed
             if isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()]
    if len(found) > MAX_MESSAGES_PER_CHECK:
        found = found[:MAX_MESSAGES_PER_CHECK] + [
            Message(Code.FAILED, f"… and {len(found) - MAX_MESSAGES_PER_CHECK} more messages.")]
    return found


def check_view(test: dict, run_message: str | None, assignment: Assignment) -> dict:
    """One check as the page shows it."""
    test = test if isinstance(test, dict) else {}
    name = clip(test.get("name"), 80)
    passed = test.get("status") == "passed"
    found = [] if passed else [message.text for message in check_messages(test)]
    # A refused or crashed file fails every check with the run's own message: say it once, at the top.
    same_as_run = bool(run_message) and found == [clip(run_message)]
    return {
        "name": name,
        "anchor": "check-" + re.sub(r"[^a-z0-9_-]", "-", name.lower()),
        "passed": passed,
        "score": _points(test.get("score")),
        "max_score": _points(test.get("max_score")),
        "expected": expectation(assignment, name) or (clip(test.get("output")) if passed else None),
        "messages": [] if same_as_run else found,
        "not_checked": same_as_run,
    }


# ---------------------------------------------------------------- pages


def feedback_view(result, assignment: Assignment, *, plot: bool = True) -> dict:
    """Everything a feedback page shows, cleaned: what both templates render (the plot: HTML only)."""
    data = as_dict(result)
    message = clip(data.get("message")) or None
    checks = [check_view(test, data.get("message"), assignment) for test in data.get("tests") or []]
    run = read_training(data.get("training"), assignment)
    status = data.get("status")
    hand = assignment.hand_graded
    automatic = _finite(data.get("max_score"))
    return {
        "assignment": clip(assignment.name, 80),
        "name": clip(data["submission"], MAX_NAME),
        "score": _points(data.get("score")),
        # Out of nbgrader's total: the written answers count too, graded by hand later.
        "max_score": _points(None if automatic is None else automatic + sum(hand.values())),
        "hand_graded": [{"name": name, "max_score": _points(points)} for name, points in hand.items()],
        "pending": _points(sum(hand.values())),
        "status": STATUS_LABELS.get(status, clip(status, 40)),
        "graded": status == Status.GRADED,
        "message": message,
        # The grader's reasons for a person to look (code it could not read): said to the student too.
        "review": [clip(reason) for reason in data.get("review") or [] if isinstance(reason, str)],
        "checks": checks,
        "passed": sum(check["passed"] for check in checks),
        "facts": (["The notebook was refused before it ran, so there is no training run to show."]
                  if status == Status.REFUSED else describe(run)),
        "plot": plot_data_uri(run) if plot else None,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# Markdown that could become markup: raw HTML and entities (as `&lt;` etc.), links and images
# (brackets), emphasis, code and strike-through. Other punctuation only means something at
# the start of a line (headings, lists, quotes), so only a value's first character is escaped.
_MARKDOWN_INLINE = re.compile(r"([\\`*\[\]~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_MARKDOWN_LINE_START = re.compile(r"^(\d+)(?=[.)])|^([#>+=|-])")


def markdown_text(value) -> str:
    """`value` as inert Markdown: one line, HTML as entities, markup characters backslashed."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: m[1] + "\\" if m[1] else "\\" + m[2], text)


_CODE_SPAN = re.compile(r"`([^`\n]{1,200})`")


def code_spans(value) -> markupsafe.Markup:
    """Escaped text in which the checks' `name` quotes show as code: escape first, then mark up."""
    return markupsafe.Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(markupsafe.escape(value))))


@functools.cache
def html_templates() -> jinja2.Environment:
    # Autoescape everywhere: no value reaches the page as markup.
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["code_spans"] = code_spans
    return environment


@functools.cache
def markdown_templates() -> jinja2.Environment:
    # finalize escapes every {{ value }}, so a template cannot forget to.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              finalize=markdown_text)


def render_html(result, assignment: Assignment) -> str:
    """A student's feedback page: self-contained HTML (inline style and plot, no script, no network)."""
    return html_templates().get_template("feedback.html.j2").render(feedback_view(result, assignment))


def render_markdown(result, assignment: Assignment) -> str:
    """The same feedback as Markdown, for platforms that take text (the plot's marks as sentences)."""
    return markdown_templates().get_template("feedback.md.j2").render(feedback_view(result, assignment, plot=False))


# ---------------------------------------------------------------- writers


def _write(path: Path, text: str):
    from .grade import write_atomically

    write_atomically(path, text)


def unrendered_html(name, error: BaseException) -> str:
    """The page written instead of one that could not be rendered: it says so, and nothing else."""
    escape = markupsafe.escape
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; base-uri \'none\'; form-action \'none\'">\n'
        f"<title>Feedback: {escape(clip(name, MAX_NAME))}</title>\n</head>\n<body>\n"
        f"<h1>Feedback: {escape(clip(name, MAX_NAME))}</h1>\n"
        "<p>This feedback page could not be rendered from the grading result "
        f"({escape(type(error).__name__)}). Your instructor has the result and will look at it.</p>\n"
        "</body>\n</html>\n"
    )


def unrendered_markdown(name, error: BaseException) -> str:
    """The Markdown page written instead of one that could not be rendered."""
    return (f"# Feedback: {markdown_text(clip(name, MAX_NAME))}\n\nThis feedback page could not be rendered from "
            f"the grading result ({type(error).__name__}). Your instructor has the result and will look at it.\n")


def _page_problem(error: BaseException) -> str:
    return f"its feedback page could not be rendered ({type(error).__name__}: {clip(error, 200)}); a placeholder page was written"


def write_feedback(results, out_dir: Path, assignment: Assignment, *, problems: dict | None = None) -> dict[str, Path]:
    """Write `<name>.html` and `<name>.md` in `out_dir` for each result; {submission: html path}.

    A page that cannot be rendered is replaced by one saying so, and the reason is added to
    `problems` ({submission: why}; the class report lists them): the others are still written.
    """
    out_dir = Path(out_dir)
    results = [readable(result, problems) for result in results]
    names = page_names(results)
    written = {}
    for data in results:
        stem = names[data["submission"]]
        try:
            html, markdown = render_html(data, assignment), render_markdown(data, assignment)
        except Exception as error:  # one poisoned result must not cost the others their pages
            html, markdown = unrendered_html(data["submission"], error), unrendered_markdown(data["submission"], error)
            if problems is not None:
                problems[data["submission"]] = _page_problem(error)
        _write(out_dir / f"{stem}.html", html)
        _write(out_dir / f"{stem}.md", markdown)
        written[data["submission"]] = out_dir / f"{stem}.html"
    return written


@dataclass(frozen=True)
class NbgraderFeedback:
    """What `write_nbgrader_feedback` did, by student id or submission name."""

    written: dict  # student -> feedback page
    skipped: dict  # submission -> why no page was written
    unreleasable: dict  # student -> why `nbgrader release_feedback` would stop at this page
    unrendered: dict = field(default_factory=dict)  # student -> why a placeholder page was written instead


# Files nbgrader's release_feedback reads next to each page: when the student submitted, and
# the secret that their `fetch_feedback` hashes to find the page. `nbgrader collect` puts both
# in submitted/<student>/<assignment>/; nbgrader's own generate_feedback copies them along.
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")


def _not_an_nbgrader_submission(student: str, submitted: Path, course_root: Path) -> str | None:
    if student in ("", ".", "..") or "/" in student or "\\" in student or "\x00" in student:
        return "its name is not an nbgrader student id (it was not found as submitted/<student>/...)"
    if not submitted.is_dir():
        return f"there is no {submitted.relative_to(course_root).as_posix()} folder"
    return None


def _missing_exchange_file(submitted: Path, course_root: Path) -> str | None:
    for name in NBGRADER_FILES:
        path = submitted / name
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 4096:
            return (f"{path.relative_to(course_root).as_posix()} is missing: not submitted through nbgrader's exchange "
                    "(nbgrader submit, then nbgrader collect)")
    return None


def write_nbgrader_feedback(results, course_root: Path, assignment: Assignment, *,
                            notebook: str | None = None, releasable_only: bool = True) -> NbgraderFeedback:
    """Put each nbgrader student's page in `course_root/feedback/<student>/<assignment>/<notebook>.html`.

    That is what `nbgrader generate_feedback` would produce and what `nbgrader
    release_feedback` hands out: it copies every `*.html` of that folder to the exchange under
    a hash of `submission_secret.txt` and the notebook's name, which is how the student's
    `nbgrader fetch_feedback` finds it. So the page is named after the submitted notebook
    (`callbacks.html`), and the two files in NBGRADER_FILES come along from `submitted/`.

    Submissions outside nbgrader's `submitted/<student>/<assignment>/` layout are skipped.
    release_feedback stops, for the whole class, at the first page without those two files;
    so a submission that lacks them (it did not come through the exchange) gets no page
    here unless `releasable_only` is False (as with nbgrader's own generate_feedback), and
    is then listed in `unreleasable`.
    """
    course_root = Path(course_root).resolve()
    notebook = notebook or assignment.release_notebook.stem
    feedback_root = course_root / "feedback"
    written, skipped, unreleasable, unrendered = {}, {}, {}, {}
    for result in results:
        data = readable(result, unrendered)
        student = data.get("student")
        if not isinstance(student, str) or not student:
            skipped[str(data.get("submission"))] = "it names no nbgrader student (not in submitted/<student>/<assignment>/)"
            continue
        submitted = course_root / "submitted" / student / assignment.name
        if problem := _not_an_nbgrader_submission(student, submitted, course_root):
            skipped[student] = problem
            continue
        if missing := _missing_exchange_file(submitted, course_root):
            if releasable_only:
                skipped[student] = missing
                continue
            unreleasable[student] = missing
        folder = feedback_root / student / assignment.name
        for part in (feedback_root, feedback_root / student, folder):
            if part.is_symlink():
                raise RuntimeError(f"{part} is a symbolic link; refusing to write feedback through it.")
        try:
            html = render_html(data, assignment)
        except Exception as error:  # one poisoned result must not cost the others their pages
            html = unrendered_html(student, error)
            unrendered[student] = _page_problem(error)
        _write(folder / f"{notebook}.html", html)
        if not missing:
            for name in NBGRADER_FILES:
                shutil.copyfile(submitted / name, folder / name)
        written[student] = folder / f"{notebook}.html"
    return NbgraderFeedback(written, skipped, unreleasable, unrendered)
