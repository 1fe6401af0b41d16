"""The instructor's manual grading, done as an instructor does it: in a real formgrader, in headless
Chromium (Debian's chromium and chromium-driver, driven by selenium), after
`python -m autograder grade submitted --gradebook` alone.

Open the submission, see the written answer and our autograded test cells, type a score for the
written question into formgrader's score box and leave it, and `nbgrader export` totals it.
"""

import csv
import secrets
import time
from pathlib import Path

import nbformat
import pytest

from course import exercise
from conftest import nbgrader
from formgrader_server import formgrader, graded_by_our_grader

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the lock installs it
    webdriver = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium; `make test-system` does)"),
    pytest.mark.skipif(not CHROMEDRIVER.exists(),
                       reason="needs /usr/bin/chromedriver (apt-get install chromium-driver; `make test-system` does)"),
    pytest.mark.skipif(webdriver is None, reason="needs selenium (in requirements.lock; `make setup` installs it)"),
]

# The student's own markdown, with raw HTML that must not run in the instructor's (logged-in) page.
WRITTEN = ("Because EarlyStopping kept training BROWSER-MARK epochs past the best one. "
           "<script>document.title = 'HOSTILE-SCRIPT'</script><img src=x onerror=\"alert('HOSTILE-HANDLER')\">")
MANUAL_SCORE = 1.5
PAGE_SECONDS = 60
SAVE_SECONDS = 30
MATHJAX_STAND_IN = "window.MathJax = window.MathJax || {Hub: {Startup: {signal: {Interest: function () {}}}}};"
FORMGRADER_STARTED = ("return !!(window.formgrader && formgrader.loaded && formgrader.grades && formgrader.grades.loaded"
                      " && formgrader.grade_uis.length)")


def graded_cells(notebook: Path):
    """(the written question's grade_id and points, {test cell grade_id: points}) from the
    assignment's own notebook: the written question is the markdown cell with `solution` and
    `grade`; the tests are the graded code cells that are not the student's."""
    written, tests = [], {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        if cell.cell_type == "markdown" and meta.get("solution"):
            written.append((meta["grade_id"], float(meta["points"])))
        elif cell.cell_type == "code" and not meta.get("solution"):
            tests[meta["grade_id"]] = float(meta["points"])
    (question,) = written
    return question, tests


@pytest.fixture
def chromium(tmp_path):
    """Headless Chromium under Debian's chromedriver (no driver download: the path is given)."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-quic", "--window-size=1280,1600", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log")),
                              options=options)
    driver.set_page_load_timeout(PAGE_SECONDS)
    # Formgrader's page loads MathJax from cdnjs, and its script uses MathJax unguarded: offline
    # (as here), its start stops at a ReferenceError, before its key bindings. The test runs the
    # same offline or not: the CDN is blocked and a MathJax that typesets nothing stands in (the
    # page's markdown is rendered by the server; MathJax only typesets the formulas in it).
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*cdnjs.cloudflare.com*"]})
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MATHJAX_STAND_IN})
    try:
        yield driver
    finally:
        driver.quit()


def no_alert(driver) -> bool:
    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_the_written_question_is_graded_in_chromium_in_formgrader(course, chromium):
    """After `grade submitted --gradebook` (no `nbgrader autograde`), the instructor opens the
    submission in formgrader in a browser, sees the written answer and the autograded tests, types
    a score for the written question, and `nbgrader export` totals it."""
    (question, question_points), tests = graded_cells(exercise.source_dir / "callbacks.ipynb")
    assert tests and question_points >= MANUAL_SCORE, (question, tests)
    submission_id = graded_by_our_grader(course, WRITTEN)
    token = secrets.token_hex(16)

    with formgrader(course, token=token) as (session, base):
        # Opened without a login, the page sends the browser to the server's login form, which takes
        # the token the server printed and goes back to the page. (The token in the page's own URL
        # logs in that page only: formgrader's handlers give the login cookie the page's path, so
        # the page's own calls to formgrader's API would be refused.)
        page = f"{base}/formgrader/submissions/{submission_id}/"
        chromium.get(page)
        wait = WebDriverWait(chromium, PAGE_SECONDS)
        wait.until(lambda d: d.find_elements(By.ID, "password_input"))
        assert "/login" in chromium.current_url, chromium.current_url
        chromium.find_element(By.ID, "password_input").send_keys(token)
        chromium.find_element(By.ID, "login_submit").click()
        wait.until(lambda d: d.current_url.split("?")[0] == page)
        # Formgrader's script has started, fetched the grades and bound a score box to each graded cell.
        wait.until(lambda d: d.execute_script(FORMGRADER_STARTED))
        source = chromium.page_source
        assert "Sorry, the formgrader encountered an error" not in source, source[-3000:]
        assert "Sorry, you are not authorized" not in source, "the token in the URL must log in"

        notebook = chromium.find_element(By.ID, "notebook-container")
        assert "BROWSER-MARK" in notebook.text, "the page must show the student's written answer"
        assert "<script>document.title" in notebook.text, "the written answer's tags must show as text"
        assert chromium.title != "HOSTILE-SCRIPT" and no_alert(chromium), "the written answer's HTML must not run"

        # Our autograded test cells: each shows under its grade_id, with its score box holding
        # (as placeholder) the autograded score that our grader wrote to the gradebook.
        for grade_id, points in tests.items():
            box = notebook.find_element(By.ID, grade_id)
            cell = box.find_element(By.XPATH, "./ancestor::div[contains(@class, 'nbgrader_cell')]")
            assert grade_id in cell.find_element(By.CLASS_NAME, "panel-heading").text, grade_id
            assert box.get_attribute("placeholder") not in (None, ""), f"{grade_id}: no autograded score on the page"
            assert float(box.get_attribute("placeholder")) == points, (grade_id, box.get_attribute("placeholder"), points)

        # The written question: its score box waits for a manual grade.
        box = notebook.find_element(By.ID, question)
        assert "needs_manual_grade" in box.get_attribute("class").split(), box.get_attribute("class")
        answer = box.find_element(By.XPATH, "./ancestor::div[contains(@class, 'nbgrader_cell')]")
        assert "BROWSER-MARK" in answer.text, "the written question's cell must hold the student's answer"

        # Type the score and leave the box as a user does (formgrader's Escape: defocus and save);
        # the box's change event makes formgrader PUT the grade.
        box.click()
        box.clear()
        box.send_keys(str(MANUAL_SCORE))
        box.send_keys(Keys.ESCAPE)
        assert chromium.switch_to.active_element != box, "Escape must leave the score box"

        deadline = time.monotonic() + SAVE_SECONDS
        while True:
            grades = session.get(f"{base}/formgrader/api/grades", params={"submission_id": submission_id}, timeout=30).json()
            (written,) = [grade for grade in grades if grade["name"] == question]
            if written["manual_score"] is not None:
                break
            assert time.monotonic() < deadline, f"formgrader did not save the typed score within {SAVE_SECONDS} s: {written}"
            time.sleep(0.25)
        assert written["manual_score"] == MANUAL_SCORE and not written["needs_manual_grade"], written
        # The page took the server's answer: the box no longer asks for a grade.
        wait.until(lambda d: "needs_manual_grade" not in box.get_attribute("class").split())

        # Opened again, the page shows the saved score.
        chromium.get(page)
        wait.until(lambda d: d.execute_script(FORMGRADER_STARTED))
        assert float(chromium.find_element(By.ID, question).get_attribute("value")) == MANUAL_SCORE

    nbgrader(course, "export")
    (row,) = csv.DictReader(open(course / "grades.csv"))
    total = sum(tests.values()) + question_points
    assert (row["student_id"], float(row["raw_score"]), float(row["max_score"])) == (
        "alice", sum(tests.values()) + MANUAL_SCORE, total), row
