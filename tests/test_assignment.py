"""Assignments are plug-ins: the engine finds them in the course and knows none of them by name."""

import ast
import json
import shutil
from pathlib import Path

import pytest

import autograder
from autograder import assignment
from course import exercise

ENGINE = Path(autograder.__file__).parent


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


def test_the_engine_imports_nothing_from_any_assignment():
    """Does no module of the engine import an assignment's code or name one of its variables, checks or files?"""
    course = assignment.find()
    assert course, "the course must have assignments for this test to mean anything"
    names = set()  # (an assignment's own name may be a word of Keras's API: fit's callbacks=)
    for a in course.values():
        # Settings that are numbers (a patience of 2) are no names: only the strings (files, folders) count.
        names |= {*a.variables, *a.checks, *(v for v in a.settings.values() if isinstance(v, str))}
    names -= set(assignment.EXPORTS)  # the kinds of export ("history" is a kind as well as a name)
    for module in sorted(ENGINE.glob("*.py")):
        imported = _imports(module)
        assert not [m for m in imported if m.startswith(("assignments", "autograder.exercise", ".exercise"))], module.name
        strings = {node.value for node in ast.walk(ast.parse(module.read_text()))
                   if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not strings & {str(n) for n in names}, f"{module.name} names {sorted(strings & {str(n) for n in names})}"


def test_find_lists_each_assignment_with_a_notebook_and_a_declaration(tmp_path):
    """Is a folder of assignments/ an assignment exactly when it holds <name>.ipynb and grading/assignment.json?"""
    shutil.copytree(exercise.source_dir, tmp_path / "assignments" / "first")
    (tmp_path / "assignments" / "first" / "callbacks.ipynb").rename(tmp_path / "assignments" / "first" / "first.ipynb")
    (tmp_path / "assignments" / "draft").mkdir()
    (tmp_path / "assignments" / "draft" / "draft.ipynb").write_text("{}")
    found = assignment.find(tmp_path)
    assert list(found) == ["first"]
    assert found["first"].checks == exercise.checks  # points come from the notebook's own nbgrader metadata
    with pytest.raises(LookupError, match=r"no assignment 'draft'.*its assignments: first"):
        assignment.get("draft", tmp_path)


def test_a_check_module_knows_its_assignment_from_where_it_lies():
    """Does `of(__file__)` of a hidden check name the assignment whose grading folder holds it?"""
    assert assignment.of(exercise.checks_dir / "test_early_stopping.py") == exercise
    with pytest.raises(LookupError, match="not inside an assignment's grading folder"):
        assignment.of(ENGINE / "verify.py")


def test_the_settings_are_the_solutions_and_fill_in_the_check_docs():
    """Do the check docs say what the solution did (patience 5, 200 epochs), read from reference.json?"""
    assert exercise.settings == exercise.reference["solution"]["settings"]
    assert exercise.check_doc("early_stopping").endswith(f"patience {exercise.settings['patience']}.")
    assert f"{exercise.settings['epochs']}-epoch limit" in exercise.check_doc("stopped_early")


def test_a_declaration_must_say_how_each_variable_is_exported(tmp_path):
    """Is a variable with an unknown export kind refused, naming the variable and the kinds there are?"""
    shutil.copytree(exercise.source_dir, tmp_path / "assignments" / "callbacks")
    declared = tmp_path / "assignments" / "callbacks" / "grading" / "assignment.json"
    data = json.loads(declared.read_text())
    data["variables"]["history"]["export"] = "pickle"
    declared.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"variable 'history' must be exported as one of \('callback', 'history', 'value'\)"):
        assignment.Assignment("callbacks", tmp_path).declaration


def test_an_assignment_travels_to_the_verifier_by_name_not_by_its_caches():
    """Does a pickled assignment carry its name and course only (never TensorFlow objects from its setup)?"""
    import pickle

    exercise.declaration  # a cache filled here must not travel with it
    copy = pickle.loads(pickle.dumps(exercise))
    assert "declaration" in exercise.__dict__
    assert copy == exercise and not {"declaration", "setup", "settings", "reference"} & set(copy.__dict__)
