"""Write the bundled example class into example/submitted/ (nbgrader's layout).

Run from the project root after changing the lesson: `.venv/bin/python example/make_submissions.py`.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This checkout's autograder (and so its release), not the one an editable install points to.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from notebooks import SOLUTION, submission, write  # noqa: E402

CLASS = Path(__file__).resolve().parent / "submitted"
STUDENTS = {
    # Everything right.
    "ada": submission(),
    # Watches the training loss, with too little patience: training runs all 200 epochs.
    "grace": submission(answer_early_stopping='early_stopping = EarlyStopping(monitor="loss", patience=3)\n'),
    # Creates the checkpoint and TensorBoard callbacks but passes only EarlyStopping to fit.
    "alan": submission(answer_fit=(
        "model = build_model()\n"
        "history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=200,\n"
        "                    callbacks=[early_stopping], verbose=0)\n"
    )),
    # Loads the best weights into the trained model and keeps evaluate's whole list.
    "barbara": submission(answer_reload=(
        'model.load_weights("checkpoints/best_model.weights.h5")\n'
        "best_val_loss = model.evaluate(x_val, y_val, verbose=0)\n"
    )),
    # Submitted the notebook untouched.
    "margaret": submission(**{name: None for name in SOLUTION}),
}

if __name__ == "__main__":
    for number, (student, notebook) in enumerate(STUDENTS.items()):
        folder = write(notebook, CLASS / student / "callbacks" / "callbacks.ipynb").parent
        # What `nbgrader collect` leaves beside a submission; release_feedback needs both.
        (folder / "timestamp.txt").write_text(f"2026-11-20 09:{number:02d}:00.000000 UTC")
        (folder / "submission_secret.txt").write_text(f"example-secret-{student}")
    # A file that is not a notebook at all (an upload cut short).
    broken = CLASS / "ken" / "callbacks" / "callbacks.ipynb"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"cells": [{"cell_type": "code", "source": "early_stopping = ')
    print(f"Wrote {len(STUDENTS) + 1} submissions to {CLASS}")
