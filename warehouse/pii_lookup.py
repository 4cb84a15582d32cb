"""Which pieces of some text are names of persons in the roster (for jiuzhu.pii's masking).

Every name ever delivered in the roster counts (raw.mz_members), so a file name is masked
on the first night too, before the roster is standardised. Only candidates found in the
texts are looked up: one semi-join, whatever the size of the roster.
"""

from __future__ import annotations

import duckdb

from jiuzhu.pii import mask_text, name_candidates


def roster_names_in(con: duckdb.DuckDBPyConnection, texts) -> frozenset[str]:
    candidates = sorted(name_candidates(texts))
    if not candidates:
        return frozenset()
    found = con.execute(
        """SELECT DISTINCT c FROM unnest(?::VARCHAR[]) t(c)
           WHERE c IN (SELECT trim("姓名") FROM raw.mz_members WHERE "姓名" IS NOT NULL)""",
        [candidates],
    ).fetchall()
    return frozenset(r[0] for r in found)


def masker(con: duckdb.DuckDBPyConnection, texts, also: frozenset[str] = frozenset()):
    """A function masking ID-like numbers, the roster's names found in ``texts``, and the names ``also``."""
    return names_masker(roster_names_in(con, texts), also)


def names_masker(names: frozenset[str], also: frozenset[str] = frozenset()):
    """A function masking ID-like numbers, ``names`` (looked up already) and the names ``also``."""
    known = names | {n for n in also if len(n) >= 2}
    return lambda text: mask_text(text, known)
