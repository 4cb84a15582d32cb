"""Cells that are safe to hand to someone who opens them in a spreadsheet.

A text that starts like a formula (``=HYPERLINK(…)``, a DDE payload ``=cmd|' /C calc'!A0``,
``+``, ``-``, ``@``, or a tab or carriage return before one) would run when the cell is edited
or the sheet is saved as CSV and opened again: it gets a leading apostrophe, and every writer
stores text as text (xlsxwriter's conversion of strings to formulas, numbers or links is off).
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# xlsxwriter options for every workbook jiuzhu writes: text stays text
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}


def neutralise(value):
    """A text cell that starts like a formula gets a leading apostrophe, so no spreadsheet runs it."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
