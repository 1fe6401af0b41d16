"""Name each code cell the way a student finds it: by the heading it sits under.

JupyterLab shows no cell numbers, and the grader's numbers count the cells of the clean
notebook it ran (`autograder.intake`), which has cells the student's notebook does not
(test cells put back, the final snapshot) and lacks others (raw cells). So a cell is named
by the last markdown heading above it and its place among the student's code cells under
that heading; a line number inside it is fine, Jupyter can show those.

    >>> cells = [("markdown", "## Your turn, step 4: build and train"), ("code", "model = build_model()"),
    ...          ("code", "history = model.fit(...)")]
    >>> code_cell_names(cells, assignment)[3]
    'the 2nd code cell under “Your turn, step 4: build and train”'
"""

import re
from collections import Counter

from .intake import added_by_grader, cell_text

TOP = "from the top"  # the section of the code cells above the first heading
MAX_HEADING = 80  # characters of a heading quoted in a message: enough to recognize it, not a page of it

# A heading as Jupyter's Markdown renders it (CommonMark's ATX heading): at most three spaces,
# one to six `#`, then a space or the end of the line. "#hashtag" is a paragraph.
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t](.*))?$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t])#+[ \t]*$")  # "## Step 4 ##" shows as "Step 4"
# A fenced code block opens with three backticks or tildes; inside it, "# x" is code, not a heading.
_FENCE = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})")


def headings(markdown) -> list[str]:
    """The non-empty headings of one markdown cell, in order, as the student reads them."""
    found, fence = [], ""
    for line in cell_text(markdown).splitlines():
        opened = _FENCE.match(line)
        if fence:
            # Only a bare fence of the same character, at least as long, closes the block.
            if opened and opened[1][0] == fence[0] and len(opened[1]) >= len(fence) and not line[opened.end():].strip():
                fence = ""
        elif opened:
            fence = opened[1]
        elif heading := _HEADING.match(line):
            text = " ".join(_CLOSING_HASHES.sub("", heading[1] or "").split())
            if text:
                found.append(text if len(text) <= MAX_HEADING else text[:MAX_HEADING - 1].rstrip() + "…")
    return found


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def code_cell_names(cells, assignment) -> dict[int, str]:
    """{cell number: name} of every code cell of `cells`, (cell_type, source) pairs of the clean
    notebook of a submission of `assignment`, numbered from 1.

    A student's cell: "the code cell under “H”" when it is the only one under its heading,
    "the 2nd code cell under “H”" when there are several, "under the 2nd heading “H”" when
    the notebook has that heading twice, "the 3rd code cell from the top" above any heading.
    A cell the grader added (see intake.added_by_grader) is named after the student's code
    cell before it, which the student can find: "the grader's own cell after ...".
    """
    found = [headings(source) if kind == "markdown" else [] for kind, source in cells]
    times = Counter(text for texts in found for text in texts)
    seen = Counter()
    # Each heading gets a section of its own words (a repeated one carries its ordinal), so the
    # words tell the sections apart.
    section, position = TOP, 0
    sections, added = [], []  # (number, section, position) of each student code cell; (number, cells before) of the grader's
    for number, ((kind, source), texts) in enumerate(zip(cells, found), start=1):
        seen.update(texts)
        if texts:
            last = texts[-1]
            section = f"under “{last}”" if times[last] == 1 else f"under the {ordinal(seen[last])} heading “{last}”"
            position = 0
        if kind != "code":
            continue
        if added_by_grader(source, assignment):
            added.append((number, len(sections)))  # after the student's code cells counted so far
            continue
        position += 1
        sections.append((number, section, position))
    sizes = Counter(section for _, section, _ in sections)
    names = {number: (f"the code cell {section}" if sizes[section] == 1 and section != TOP
                      else f"the {ordinal(position)} code cell {section}")
             for number, section, position in sections}
    for number, before in added:
        names[number] = (f"the grader's own cell after {names[sections[before - 1][0]]}" if before
                         else "the grader's own cell, before any code cell of the notebook")
    return names
