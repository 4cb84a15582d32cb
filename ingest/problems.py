"""Whole-file problems: the file is recorded as rejected with this code and reason."""

from __future__ import annotations

import re

from jiuzhu.pii import mask_id_runs


class FileProblem(Exception):
    """A file that cannot be loaded as a whole (OUTPUTS.md: recorded, the run goes on)."""

    def __init__(self, code: str, reason: str, rows_read: int | None = None):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.rows_read = rows_read


_LONG_DIGITS = re.compile(r"\d{6,}[\dXx]*")


def safe_message(exc: BaseException, limit: int = 160) -> str:
    """An exception's message fit for logs and audit tables: no row content, no ID numbers.

    Parsers quote the offending line after markers like 'Original Line'; that
    line may hold a name or an ID number, so everything from the marker on goes.
    """
    text = str(exc).split("\n")[0]
    for marker in ("Original Line", "original line", "csv_line", "Line:"):
        text = text.split(marker)[0]
    text = mask_id_runs(_LONG_DIGITS.sub("<数字>", text))  # and ID numbers written with spaces
    return f"{type(exc).__name__}: {text.strip()}"[:limit]
