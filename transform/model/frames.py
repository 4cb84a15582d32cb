"""Household features as the risk model reads them, from DuckDB into pandas.

DECIMAL columns (money) arrive in pandas as Python Decimal objects: several times the
memory of floats and slow to convert. The model wants floats, and never reads the
text columns below, so they stay in the warehouse; nor the ``*_detail`` columns, which name
members for the warnings' reasons (core/household_features.sql) and are no features."""

from __future__ import annotations

import duckdb
import pandas as pd

UNUSED = {"petition_categories", "village", "verification_result", "township_code"}
DETAIL = "_detail"  # the suffix of the columns that name members (never a feature)


# Training reads millions of household-months: its numbers in 4 bytes, not 8 (counts fit an INTEGER,
# and the model bins every value into one of 255 bins anyway).
NARROW = {"DOUBLE": "FLOAT", "BIGINT": "INTEGER", "HUGEINT": "INTEGER"}
CHUNK_VECTORS = 200  # DuckDB vectors of 2,048 rows per piece read into pandas


def model_frame(
    con: duckdb.DuckDBPyConnection, table: str, order_by: str | None = None, narrow: bool = False
) -> pd.DataFrame:
    """The table as pandas, money as floats (``narrow``: every number in 4 bytes)."""
    columns = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
    select = [
        f'"{name}"::{to} AS "{name}"' if (to := _read_as(kind, narrow)) else f'"{name}"'
        for name, kind in columns
        if name not in UNUSED and not name.endswith(DETAIL)
    ]
    result = con.sql(f"SELECT {', '.join(select)} FROM {table}" + (f" ORDER BY {order_by}" if order_by else ""))
    # a piece at a time: .df() of the whole training history held about 2.7 GB beside the 0.7 GB frame
    # (peak 3.6 GiB at the county default; in pieces 1.8 GiB), the same frame
    pieces = [result.fetch_df_chunk(CHUNK_VECTORS)]
    while len(pieces[-1]):
        pieces.append(result.fetch_df_chunk(CHUNK_VECTORS))
    pieces = pieces[:-1] or pieces  # the last piece is empty (all of an empty result: its columns)
    return pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)


def _read_as(kind: str, narrow: bool) -> str | None:
    """The type a column of type ``kind`` is read as, or None: as it is."""
    wide = "DOUBLE" if kind.startswith("DECIMAL") else kind
    to = NARROW.get(wide, wide) if narrow else wide
    return to if to != kind else None
