"""The warehouse is encrypted at rest with DuckDB's AES-GCM (ID numbers, names, health and
incomes are sensitive personal data under PIPL).

The key is JIUZHU_WAREHOUSE_KEY (64 hex characters), or the file <home>/secrets/warehouse.key
(owner-only). Outside production a key file is generated with the warehouse, with a notice;
in production (JIUZHU_ENV=production) the key must be given. A wrong or missing key is an
error that says so: never a new, empty warehouse beside the old one.

Writing an encrypted file needs DuckDB's httpfs extension (it brings OpenSSL); DuckDB would
download it from its own site, which a county's intranet cannot reach, so it is loaded from
the pinned PyPI package ``duckdb-extension-httpfs``, which matches the pinned DuckDB.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)
ENV_KEY, ENV_MODE = "JIUZHU_WAREHOUSE_KEY", "JIUZHU_ENV"
KEY_FILE = Path("secrets") / "warehouse.key"
MARKER = Path("state") / "warehouse.json"  # written when the warehouse is created: its absence later is a fault


class WarehouseKeyError(RuntimeError):
    """The warehouse key is missing, malformed, or not the key the warehouse was encrypted with."""


class WarehouseMissing(RuntimeError):
    """A warehouse was created in this home and is gone."""


def httpfs_extension() -> Path:
    import duckdb_extension_httpfs

    path = (
        Path(duckdb_extension_httpfs.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    if not path.is_file():
        raise RuntimeError(
            f"duckdb-extension-httpfs does not match DuckDB {duckdb.__version__} (pin both to one version): {path}"
        )
    return path


def _parse(text: str, where: str) -> str:
    key = text.strip()
    try:
        if len(bytes.fromhex(key)) < 32:
            raise ValueError
    except ValueError:
        raise WarehouseKeyError(f"{where} 不是64位十六进制的密钥 is not a key of 64 hex characters") from None
    return key.lower()


def warehouse_key(home: Path, creating: bool) -> str:
    """The key of the warehouse in ``home``; generated (outside production) only when ``creating``."""
    text = os.environ.get(ENV_KEY)
    if text:
        return _parse(text, f"环境变量 {ENV_KEY}")
    path = home / KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a key readable by others is no key
        return _parse(path.read_text(encoding="ascii", errors="replace"), str(path))
    if not creating:
        raise WarehouseKeyError(
            f"仓库已加密，但找不到密钥：请设置 {ENV_KEY}，或恢复 {path}（与仓库一起备份的那个）。"
            f"The warehouse is encrypted and its key is missing: set {ENV_KEY} or restore {path}."
        )
    if os.environ.get(ENV_MODE, "").lower() == "production":
        raise WarehouseKeyError(f"生产环境需要仓库密钥：请设置 {ENV_KEY}（64位十六进制）。Production needs {ENV_KEY}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    log.warning(
        "已生成本地仓库密钥 generated a local warehouse key at %s; back it up with the warehouse (production: set %s)",
        path,
        ENV_KEY,
    )
    return key


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


WAREHOUSE_ALIAS = "warehouse"  # the attached warehouse's name, the default database of every connection


def attach(con: duckdb.DuckDBPyConnection, path: Path, key: str, read_only: bool, alias: str = WAREHOUSE_ALIAS) -> None:
    """ATTACH the encrypted warehouse and make it the default database of ``con``."""
    options = f"ENCRYPTION_KEY {_literal(key)}" + (", READ_ONLY" if read_only else "")
    try:
        con.execute(f"ATTACH {_literal(str(path))} AS {alias} ({options})")
    except duckdb.Error as exc:
        if "wrong encryption key" in str(exc).lower():
            raise WarehouseKeyError(
                f"仓库密钥不对：{path} 不是用这个密钥加密的。请使用建库时的密钥（{ENV_KEY} 或 <home>/{KEY_FILE}）。"
                f"The key is not the one {path} was encrypted with: use the warehouse's own key."
            ) from None
        raise
    con.execute(f"USE {alias}")


def encrypt_in_place(con: duckdb.DuckDBPyConnection, path: Path, key: str) -> None:
    """Copy a plain warehouse into an encrypted one and put it in its place (the plain file is removed)."""
    target = path.with_name(path.name + ".encrypting")
    for leftover in (target, Path(str(target) + ".wal")):
        leftover.unlink(missing_ok=True)
    con.execute(f"ATTACH {_literal(str(path))} AS plain (READ_ONLY)")
    con.execute(f"ATTACH {_literal(str(target))} AS sealed (ENCRYPTION_KEY {_literal(key)})")
    con.execute("COPY FROM DATABASE plain TO sealed")
    con.execute("DETACH sealed")
    con.execute("DETACH plain")
    os.replace(target, path)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    log.warning("仓库已加密 the warehouse %s was not encrypted; it is now (the plain copy is gone)", path)


def mark_created(home: Path) -> None:
    marker = home / MARKER
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}), encoding="utf-8")


def check_not_lost(home: Path, path: Path) -> None:
    """A home whose warehouse was created and is gone must not silently start a new, empty one."""
    if not path.exists() and (home / MARKER).exists():
        raise WarehouseMissing(
            f"仓库文件 {path} 不见了（此前已在这个家目录建过仓库）。请从备份恢复 warehouse.duckdb 后重新运行；"
            f"如确要从接收目录重新建库，删除 {home / MARKER} 后再运行。"
            f"The warehouse {path} is missing (one was built in this home): restore it from a backup; to rebuild from "
            f"the landing zone instead, delete {home / MARKER} and run again."
        )
