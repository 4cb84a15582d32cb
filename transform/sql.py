"""Running a layer's .sql files: SQL text is written in only from ``{placeholders}``, and only
identifiers and subqueries (a schema, a feed as it stood on the night: transform.as_of); every
value (dates, the policy's numbers and lists) is a parameter bound by name (``$as_of``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import duckdb

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def run_file(con: duckdb.DuckDBPyConnection, path: Path, names: dict[str, str], params: dict) -> None:
    """Run the statements of the .sql file ``path``, each with the parameters it names."""
    run_sql(con, PLACEHOLDER.sub(lambda m: names[m.group(1)], path.read_text(encoding="utf-8")), params, path.name)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, params: dict, where: str = "a statement") -> None:
    """Run the statements of ``sql``, each with the parameters of ``params`` it names."""
    for statement in duckdb.extract_statements(sql):
        unknown = statement.named_parameters - params.keys()
        if unknown:
            raise KeyError(f"{where} uses ${', $'.join(sorted(unknown))}: not a value its builder binds")
        con.execute(statement, {name: params[name] for name in statement.named_parameters})


def hashed_rows(table: str, keys: Iterable[str], hash_name: str) -> str:
    """A SELECT of each row's ``keys`` and a hash of every column but as_of_date (the night the row was
    built for): a row hashing as the night before is the same row carried over."""
    return (
        f"SELECT {', '.join(f'x.{k}' for k in keys)}, hash(x) AS {hash_name} "
        f"FROM (SELECT COLUMNS(c -> c <> 'as_of_date') FROM {table}) x"
    )


def dates_sql(dates: Iterable[dt.date]) -> str:
    """Dates as SQL literals, for a view or a filter the scan can skip blocks by (NULL: none)."""
    return ", ".join(f"DATE '{d.isoformat()}'" for d in dates) or "NULL"


def policy_number(value):
    """A policy value as a bound parameter: a number as the type its SQL literal would have (1.3 is
    DECIMAL(2,1), not a DOUBLE, so that 1.3 × 850 is exactly 1105 when a 特困 amount is compared with
    it); a pair or a word list (a tuple of jiuzhu.policy.Policy) as a DuckDB list."""
    if isinstance(value, tuple):
        return list(value)
    return Decimal(repr(value)) if isinstance(value, float) else value
