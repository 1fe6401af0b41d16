"""Make text that students control (names, statuses, messages) harmless where it is shown.

HTML is escaped by the templates; these cover the other two places: the instructor's
terminal and the grade sheet that a spreadsheet opens.
"""

import re
import unicodedata

# CSI and OSC sequences first (their parameters would otherwise show as text), then any other escape.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.?)", re.DOTALL)
# Leading characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) run a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def terminal(text) -> str:
    """`text` on one line with nothing a terminal acts on: no escapes, no control or format characters.

    Why: a name holding a newline forges a row of the printed grade table, and ANSI escapes
    can recolour, hide or rewrite what the instructor sees.
    """
    text = _ANSI.sub("", str(text))
    return "".join(c if unicodedata.category(c)[0] != "C" else "?" for c in text)


def spreadsheet(cell):
    """A CSV cell that a spreadsheet shows as text: a leading formula character gets a `'` before it.

    Numbers are left alone (scores are numbers, and `-1` typed as a number is no formula).
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell
