"""best_weights_restored: the trained model holds the weights of the epoch with the lowest val_loss (restore_best_weights=True)."""

import pytest

from autograder.assignment import of

EXERCISE = of(__file__)  # the assignment these checks belong to
same_loss = EXERCISE.same_loss


def test_trained_model_holds_the_best_epoch(trained_model_val_loss, exercise_val_losses, early_stopping, not_passed):
    best = min(exercise_val_losses)
    if same_loss(trained_model_val_loss, best):
        return
    epoch = exercise_val_losses.index(best) + 1
    said = (f"The trained model (history.model), measured by the grader on the validation data, has val_loss "
            f"{trained_model_val_loss:.4f}, but the best epoch ({epoch}) reached {best:.4f}")
    if same_loss(trained_model_val_loss, exercise_val_losses[-1]):
        if early_stopping["settings"].get("restore_best_weights") is not True:
            pytest.fail(f"{said}: it kept the last epoch's weights. Set restore_best_weights=True in early_stopping (step 3).")
        if not_passed("early_stopping"):
            pytest.fail(f"{said}: it kept the last epoch's weights, because early_stopping, which restores them, is not "
                        "in the fit: pass early_stopping in fit's callbacks=[...].")
    pytest.fail(f"{said}: the model must be the one fit trained, with early_stopping(restore_best_weights=True) in its "
                "callbacks, and nothing trained or loaded into it afterwards.")


def test_early_stopping_was_passed_to_the_fit(passed_to_fit):
    passed_to_fit("early_stopping")
