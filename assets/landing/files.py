"""Which files are in the landing zone, what date they carry, and their fingerprint."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

# The first 8-digit run that is a real calendar date (FEEDS.md: "the first
# 8-digit date in its name"); digits around it would make it a longer number.
_DATE_RUN = re.compile(r"(?<!\d)(\d{8})(?!\d)")
DATA_SUFFIXES = {".csv", ".xlsx", ".xls", ".txt"}


def extract_date_from_name(name: str) -> dt.date | None:
    for m in _DATE_RUN.finditer(name):
        try:
            return dt.datetime.strptime(m.group(1), "%Y%m%d").date()
        except ValueError:
            continue
    return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class LandedFile:
    feed: str
    path: Path
    file_name: str  # relative to <landing>/<feed>/, as auditors see it
    extract_date: dt.date | None
    size_bytes: int


def list_feed_files(landing: Path, feed: str) -> list[LandedFile]:
    """Files of one feed, oldest extract first, so an original precedes its re-delivery."""
    folder = landing / feed
    if not folder.is_dir():
        return []
    files = []
    for p in folder.rglob("*"):
        if not p.is_file() or p.name.startswith((".", "~$")):  # hidden files, Excel lock files
            continue
        rel = p.relative_to(folder).as_posix()
        files.append(LandedFile(feed, p, rel, extract_date_from_name(p.name), p.stat().st_size))
    files.sort(key=lambda f: (f.extract_date or dt.date.min, f.file_name))
    return files


def unknown_feed_folders(landing: Path, known: set[str]) -> list[str]:
    if not landing.is_dir():
        return []
    return sorted(p.name for p in landing.iterdir() if p.is_dir() and p.name not in known and not p.name.startswith("."))
