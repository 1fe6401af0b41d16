"""Which notebooks are graded, under which names: folder and file names are students' input.

Fast tests, no grading: the names found here are what results, sheets, feedback folders
and the gradebook use.
"""

import csv
import io

import pytest

from conftest import nbgrader  # at import: the hidden suite, run in-process by other tests, brings its own `conftest`

from course import exercise
from autograder.grade import Result, grade_sheet, table
from autograder.submissions import find_submissions, student_id_problem
from autograder.untrusted_text import spreadsheet, terminal

A = exercise.name


def notebook(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_only_the_nbgrader_depth_names_a_student(tmp_path):
    """Does a notebook nested in one student's folder stay out, instead of grading a `ghost` who never submitted?"""
    submitted = tmp_path / "submitted"
    notebook(submitted / "mallory" / A / f"{A}.ipynb")
    notebook(submitted / "mallory" / A / "ghost" / A / f"{A}.ipynb")
    notebook(submitted / "loose.ipynb")
    notebook(submitted / "alan" / "other-assignment" / f"{A}.ipynb")
    ignored = []
    found = find_submissions([submitted], ignored)
    assert [(s.name, s.student) for s in found] == [("mallory", "mallory")]
    reasons = {p.path.relative_to(submitted).as_posix(): p.reason for p in ignored}
    assert set(reasons) == {f"mallory/{A}/ghost/{A}/{A}.ipynb", "loose.ipynb", f"alan/other-assignment/{A}.ipynb"}
    assert "4 folders deep instead of 2" in reasons[f"mallory/{A}/ghost/{A}/{A}.ipynb"]
    assert "assignment folder must be" in reasons[f"alan/other-assignment/{A}.ipynb"]


def test_a_nested_name_never_renames_a_real_student(tmp_path):
    """When a nested folder is named like a real student, does the real student keep their name and grade?"""
    submitted = tmp_path / "submitted"
    notebook(submitted / "ada" / A / f"{A}.ipynb")
    notebook(submitted / "mallory" / A / "ada" / A / f"{A}.ipynb")
    found = find_submissions([submitted], [])
    assert [(s.name, s.student, s.path) for s in found] == [("ada", "ada", submitted / "ada" / A / f"{A}.ipynb")]


def test_two_notebooks_of_one_student_are_flagged_not_renamed(tmp_path):
    """Are both graded under visible paths, none stored as the student, with a reason for a person?"""
    submitted = tmp_path / "submitted"
    notebook(submitted / "ada" / A / f"{A}.ipynb")
    notebook(submitted / "ada" / A / "copy.ipynb")
    found = find_submissions([submitted], [])
    assert [(s.name, s.student) for s in found] == [(f"ada/{A}.ipynb", None), ("ada/copy.ipynb", None)]
    assert all("ada submitted 2 notebooks" in s.review[0] for s in found)


@pytest.mark.parametrize("name", ["", " ada", "ada ", ".hidden", "a*", "b?", "c[1]", "d+e", "x\ny", "esc\x1b[2J",
                                  "zero\u200bwidth", "x" * 129])
def test_student_ids_nbgrader_would_not_accept_are_refused(name):
    assert student_id_problem(name)


@pytest.mark.parametrize("name", ["ada", "ada.lovelace", "student-07", "o'neil", "José", "李", "first last"])
def test_ordinary_student_ids_are_accepted(name):
    assert student_id_problem(name) is None


def test_a_student_folder_with_a_bad_id_is_not_graded_as_that_student(tmp_path):
    submitted = tmp_path / "submitted"
    notebook(submitted / "x\ny" / A / f"{A}.ipynb")
    ignored = []
    assert find_submissions([submitted], ignored) == []
    assert "control, format or separator" in ignored[0].reason


def test_other_folders_are_searched_whole_and_named_by_path(tmp_path):
    notebook(tmp_path / "class" / "a" / f"{A}.ipynb")
    notebook(tmp_path / "class" / "b" / f"{A}.ipynb")
    found = find_submissions([tmp_path / "class"])
    assert [(s.name, s.student) for s in found] == [(f"a/{A}", None), (f"b/{A}", None)]


def test_a_notebook_named_directly_is_its_students_only_in_the_layout(tmp_path):
    inside = notebook(tmp_path / "submitted" / "ada" / A / f"{A}.ipynb")
    outside = notebook(tmp_path / "ada" / A / "mine.ipynb")
    found = find_submissions([inside, outside, tmp_path / "submitted"])
    assert [(s.name, s.student) for s in found] == [("ada", "ada"), ("mine", None)]


def result(name, status="graded"):
    return Result(name, "callbacks", 0.0, 10.0, [], status)


def test_names_cannot_forge_rows_or_escape_in_the_printed_table():
    """Does a name holding newlines and ANSI escapes print as one harmless row?"""
    forged = "eve\nada        10/10   ok\x1b[2K\x1b]0;title\x07\r"
    printed = table([result(forged), result("ada")])
    rows = printed.splitlines()
    assert len(rows) == 4  # header, rule, two submissions
    assert "\x1b" not in printed and "\r" not in printed
    assert rows[2].startswith("eve?ada")


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_grade_sheet_cells_never_run_as_formulas(text):
    rows = list(csv.reader(io.StringIO(grade_sheet([result(text, status=text)]))))
    assert rows[1][0] == "'" + text and rows[1][3] == "'" + text
    assert spreadsheet(text) == "'" + text and spreadsheet(-1.0) == -1.0


def test_terminal_keeps_ordinary_text():
    assert terminal("José Ñúñez 李") == "José Ñúñez 李"


@pytest.mark.slow
def test_a_class_with_forged_names_grades_only_real_students_into_the_gradebook(course):
    """End to end through the command line and a real nbgrader gradebook: does a nested `ghost` stay out of the
    gradebook, a formula-named student stay text in the sheet, and a newline-named folder stay out with a warning?"""
    import json
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    nbgrader(course, "generate_assignment", A)
    submitted = course / "submitted"
    for student in ("mallory", "=cmd", "x\ny", f"mallory/{A}/ghost"):
        notebook(submitted / student / A / f"{A}.ipynb").write_text("not a notebook")  # refused: no run needed
    out = course / "out"
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submitted), "--json", str(out / "results.json"),
                           "--csv", str(out / "grades.csv"), "--gradebook", f"sqlite:///{course / 'gradebook.db'}", "--quiet"],
                          cwd=course, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert sorted(r["submission"] for r in results) == ["=cmd", "mallory"]
    assert "ghost" in done.stderr and "4 folders deep" in done.stderr and "x?y" in done.stderr
    assert "'=cmd" in (out / "grades.csv").read_text()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", exercise.course_id) as gradebook:
        assert sorted(student.id for student in gradebook.students) == ["=cmd", "mallory"]
