"""person_key: a keyed hash (HMAC-SHA256) of the normalised 18-digit ID number.

Everything downstream of staging joins on person_key, never on the ID number.
The key comes from the environment (JIUZHU_PERSON_KEY, 64 hex characters or
more). Outside production, a local key is generated into the home on first use,
with a notice. In production (JIUZHU_ENV=production) a missing key is an error.
A key that differs from the one the warehouse was built with is always an
error: every person_key would silently change, and no history would join.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)
ENV_KEY, ENV_MODE = "JIUZHU_PERSON_KEY", "JIUZHU_ENV"
KEY_FILE = Path("secrets") / "person_key.hex"
_PROBE = b"jiuzhu person_key check"


# Each ID number's key, computed once (transform/core/person_ids.sql): valid for the key the warehouse's
# fingerprint stands for, and forgotten when a warehouse takes a key for the first time (a re-keying),
# as is the night's table of persons and keys, brought up to date from night to night (KEYED).
KEY_CACHE_SCHEMA = "restricted"
KEY_CACHE = f"{KEY_CACHE_SCHEMA}.person_keys"
KEYED = (KEY_CACHE, f"{KEY_CACHE_SCHEMA}.person_ids")


class PersonKeyError(RuntimeError):
    """The person key is missing or is not the key this warehouse was built with."""


def load_key(home: Path) -> bytes:
    text = os.environ.get(ENV_KEY)
    if text:
        key = _parse(text, f"environment variable {ENV_KEY}")
    elif os.environ.get(ENV_MODE, "").lower() == "production":
        raise PersonKeyError(
            f"生产环境缺少人员密钥：请设置 {ENV_KEY}（64位十六进制）。Production needs {ENV_KEY}; "
            "use the key this warehouse was built with."
        )
    else:
        path = home / KEY_FILE
        if path.exists():
            key = _parse(path.read_text().strip(), str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            path.write_text(key.hex())
            path.chmod(0o600)
            log.warning(
                "已生成本地人员密钥 generated a local person key at %s (not for production: set %s there)",
                path,
                ENV_KEY,
            )
    return key


def _parse(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise PersonKeyError(f"{where} is not hexadecimal") from exc
    if len(key) < 32:
        raise PersonKeyError(f"{where} is shorter than 32 bytes (64 hex characters)")
    return key


def fingerprint(key: bytes) -> str:
    return hmac.new(key, _PROBE, hashlib.sha256).hexdigest()[:16]


def install(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Check the key against the warehouse and define jz_person_key(id18) for this connection.

    HMAC in SQL: H((K ^ opad) || H((K ^ ipad) || message)), set-based over millions of rows.
    core.key_fingerprint is created with the warehouse (warehouse/ddl/core.sql).
    """
    stored = con.execute("SELECT fingerprint FROM core.key_fingerprint").fetchall()
    mine = fingerprint(key)
    if stored and stored[0][0] != mine:
        raise PersonKeyError(
            "人员密钥与建库时不同：所有 person_key 将无法与历史对应。请恢复原密钥（JIUZHU_PERSON_KEY 或 "
            "<home>/secrets/person_key.hex）。The person key differs from the one this warehouse was built with; "
            "restore it. Re-keying a warehouse is a deliberate migration, never done silently."
        )
    if not stored:
        con.execute("INSERT INTO core.key_fingerprint (fingerprint, created_at) VALUES (?, now()::TIMESTAMP)", [mine])
        for table in KEYED:  # keys of another key, if any: none may be read
            con.execute(f"DROP TABLE IF EXISTS {table}")
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block).hex()
    opad = bytes(b ^ 0x5C for b in block).hex()
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO jz_person_key(id18) AS "
        f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(id18))))"
    )


def person_key(key: bytes, id18: str) -> str:
    """The same hash in Python, for tests and the restricted export lookup."""
    return hmac.new(key, id18.encode(), hashlib.sha256).hexdigest()
