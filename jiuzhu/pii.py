"""Masking personal data in text that leaves the warehouse: file names, quarantined values,
error messages. Pure functions: the names to mask come from the roster (warehouse/pii_lookup.py).

- ID-like numbers: a run of 15 to 18 digits (the last may be X), also written with spaces or
  hyphens between the digits, keeps its first 6 and last 4 characters (OUTPUTS.md's mask).
- Names: a person's name found in the roster keeps its surname, the rest becomes '*'.
"""

from __future__ import annotations

import re

from jiuzhu.idnumber import mask

# 15–18 digits (last may be X) with at most one space or hyphen between any two of them, not
# inside a longer run of digits. Dates (8 digits) and amounts are far shorter.
ID_RUN = re.compile(r"(?<![\dXx])\d(?:[ \u3000\-]?\d){13,16}(?:[ \u3000\-]?[\dXx])(?![\dXx])")
_CJK_RUN = re.compile(r"[\u3400-\u9fff·•]{2,}")
NAME_LENGTHS = range(2, 5)  # Chinese names are 2 to 4 characters; longer ones carry a '·'


def mask_id_runs(text: str) -> str:
    """Every ID-like number in ``text`` masked (spaces and hyphens inside it dropped)."""

    def one(m: re.Match) -> str:
        digits = re.sub(r"[ \u3000\-]", "", m.group(0))
        return mask(digits) if 15 <= len(digits) <= 18 else m.group(0)

    return ID_RUN.sub(one, text)


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the surname is kept so a person can still tell rows apart."""
    return name[:1] + "*" * (len(name) - 1) if name else name


def name_candidates(texts) -> set[str]:
    """Every piece of Chinese text in ``texts`` that could be a name: substrings of 2–4
    characters of each run of Chinese characters, and whole runs holding a '·'."""
    out: set[str] = set()
    for text in texts:
        for run in _CJK_RUN.findall(text or ""):
            if "·" in run or "•" in run:
                out.add(run)
            for n in NAME_LENGTHS:
                out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def mask_known_names(text: str, names: set[str] | frozenset[str]) -> str:
    """Names of ``names`` found in ``text`` masked, the longest first (张三丰 before 张三)."""
    if not text or not names:
        return text
    found = sorted((c for c in name_candidates([text]) if c in names), key=len, reverse=True)
    for name in found:
        text = text.replace(name, mask_name(name))
    return text


def mask_text(text: str | None, names: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Free text fit to leave the warehouse: ID-like numbers and known names masked."""
    if text is None:
        return None
    return mask_known_names(mask_id_runs(text), names)
