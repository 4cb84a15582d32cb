"""Which pieces of some text are names of persons in the roster (for jiuzhu.pii's masking).

Every name ever delivered in the roster counts (raw.mz_members), so a file name is masked
on the first night too, before the roster is standardised. Only candidates found in the
texts are looked up: one semi-join against the roster's distinct names (staging.roster_names,
kept by refresh_roster_names when the roster is loaded), plus the rows of roster files loaded
since, whatever the length of the history.
"""

from __future__ import annotations

import duckdb

from jiuzhu.config import ROSTER_FEED
from jiuzhu.pii import mask_text, name_candidates
from warehouse.resource import table_exists, transaction

ROSTER_RAW = f"raw.{ROSTER_FEED}"
NAMES, UPTO = "staging.roster_names", "staging.roster_names_upto"


def _upto(con: duckdb.DuckDBPyConnection) -> int | None:
    """The newest roster file the names table holds; None: no table (a warehouse opened read-only
    before it was created)."""
    if not table_exists(con, UPTO):
        return None
    return con.execute(f"SELECT coalesce(max(file_id), 0) FROM {UPTO}").fetchall()[0][0]


def refresh_roster_names(con: duckdb.DuckDBPyConnection) -> None:
    """Add the names of the roster files loaded since the last refresh (a writable connection)."""
    upto = _upto(con)
    newest = con.execute(f"SELECT max(file_id) FROM {ROSTER_RAW}").fetchall()[0][0]
    if upto is None or newest is None or newest <= upto:
        return
    with transaction(con):
        con.execute(
            f"""INSERT INTO {NAMES} (name)
                SELECT DISTINCT trim("姓名") FROM {ROSTER_RAW} WHERE "姓名" IS NOT NULL AND file_id > $upto
                EXCEPT SELECT name FROM {NAMES}""",
            {"upto": upto},
        )
        con.execute(f"DELETE FROM {UPTO}")
        con.execute(f"INSERT INTO {UPTO} (file_id) VALUES ($newest)", {"newest": newest})


def roster_names_in(con: duckdb.DuckDBPyConnection, texts) -> frozenset[str]:
    candidates = sorted(name_candidates(texts))
    if not candidates:
        return frozenset()
    upto = _upto(con)
    kept = f"c IN (SELECT name FROM {NAMES}) OR " if upto is not None else ""
    found = con.execute(
        f"""SELECT DISTINCT c FROM unnest($candidates::VARCHAR[]) t(c)
            WHERE {kept}c IN (SELECT trim("姓名") FROM {ROSTER_RAW} WHERE "姓名" IS NOT NULL AND file_id > $upto)""",
        {"candidates": candidates, "upto": upto or 0},
    ).fetchall()
    return frozenset(r[0] for r in found)


def masker(con: duckdb.DuckDBPyConnection, texts, also: frozenset[str] = frozenset()):
    """A function masking ID-like numbers, the roster's names found in ``texts``, and the names ``also``."""
    return names_masker(roster_names_in(con, texts), also)


def names_masker(names: frozenset[str], also: frozenset[str] = frozenset()):
    """A function masking ID-like numbers, ``names`` (looked up already) and the names ``also``."""
    known = names | {n for n in also if len(n) >= 2}
    return lambda text: mask_text(text, known)
