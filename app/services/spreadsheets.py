"""CSV downloads people open in a spreadsheet: one line at a time, every cell defused.

A cell starting with = + - @ TAB or CR is a formula to Excel, LibreOffice and Google
Sheets (CSV injection); a leading apostrophe makes it text. Used by every download that
carries text someone else wrote (partner feed rows, log lines, analytics labels).
"""

from __future__ import annotations

import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_line(cells: list[str]) -> str:
    """One CSV line (with its line ending) for `cells`, written as given."""
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()
