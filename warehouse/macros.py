"""Installs the standardisation macros of ``ddl/macros.sql`` into a DuckDB connection."""

from __future__ import annotations

from pathlib import Path

import duckdb

SQL = Path(__file__).resolve().parent / "ddl" / "macros.sql"

# U+FF01..U+FF5E are the full-width forms of ASCII ! .. ~; U+3000 is the ideographic space.
FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "


def macro_sql() -> str:
    def esc(text: str) -> str:
        return text.replace("'", "''")

    return SQL.read_text(encoding="utf-8").replace("{FULLWIDTH}", esc(FULLWIDTH)).replace("{HALFWIDTH}", esc(HALFWIDTH))


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Temporary macros: they live with the connection and never touch the warehouse file."""
    con.execute(macro_sql())
