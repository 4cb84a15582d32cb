"""Faults of the machine or the home, each said in one line: what is wrong and what to do.

`jiuzhu run` checks before a night starts (a full disk, a warehouse that is damaged, missing
or locked with another key, a policy file out of range, another run alive) and after a step
failed (the step's error is read for the same causes). Each fault prints one line to the
console and writes an alert under <home>/alerts/, in Chinese and English.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

ALERTS_DIR = "alerts"
MIN_FREE_BYTES = 1 << 30  # below 1 GiB free, a night (spills, copies, the warehouse growing) may not finish


@dataclass(frozen=True)
class Fault:
    code: str  # DISK_FULL, WAREHOUSE_DAMAGED, WAREHOUSE_MISSING, WAREHOUSE_KEY, WAREHOUSE_LOCKED, POLICY, HOME_BUSY …
    zh: str  # what is wrong and what to do, one line
    en: str

    @property
    def line(self) -> str:
        return f"错误 {self.code}：{self.zh}\n{self.code}: {self.en}"


def free_bytes(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def disk_full(home: Path) -> Fault:
    free = free_bytes(home)
    return Fault(
        "DISK_FULL",
        f"{home} 所在磁盘只剩 {free / (1 << 20):.0f} MB 可用空间。请清理磁盘（例如旧的 exports/ 目录）或扩容后，重新运行同一命令。",
        f"the disk of {home} has only {free / (1 << 20):.0f} MB free. Free some space (old exports/ folders, for "
        "example) or grow the disk, then run the same command again.",
    )


def _mentions(text: str, *needles: str) -> bool:
    lowered = text.lower()
    return any(n in lowered for n in needles)


def diagnose(text: str, home: Path) -> Fault | None:
    """A known cause behind an error message, or None."""
    if _mentions(
        text, "no space left", "disk is full", "database or disk is full", "could not write all bytes", "enospc"
    ) or (_mentions(text, "disk i/o error") and free_bytes(home) < MIN_FREE_BYTES):
        return disk_full(home)
    if _mentions(text, "could not set lock", "conflicting lock"):
        return Fault(
            "WAREHOUSE_LOCKED",
            "仓库正被另一个进程使用（例如 Dagster 守护进程启动的运行，或另一个 jiuzhu run）。请等它结束，或在界面中停止它，再重新运行。",
            "the warehouse is in use by another process (a run the daemon launched, or another jiuzhu run). Wait for it "
            "or stop it from the UI, then run again.",
        )
    # (DuckDB reports a damaged encrypted block as a tag mismatch "are you using the right key?": the key
    # was right, or the warehouse could not have been opened at all)
    if _mentions(
        text,
        "checksum",
        "corrupt",
        "not a valid duckdb",
        "truncated",
        "failed to read database header",
        "invalid database file",
        "io error: could not read",
        "aes tag",
    ):
        return warehouse_damaged(home)
    return None


def warehouse_damaged(home: Path) -> Fault:
    path = home / "warehouse.duckdb"
    return Fault(
        "WAREHOUSE_DAMAGED",
        f"仓库文件 {path} 已损坏（校验失败、被截断或为空）。请停止所有 jiuzhu 进程，把它移走保存以备调查，"
        "从备份恢复 warehouse.duckdb 后重新运行；没有备份时，移走整个仓库文件后重新运行会从接收目录重建（各晚的预警历史需回补）。",
        f"the warehouse {path} is damaged (checksum failure, truncated or empty). Stop every jiuzhu process, move the "
        "file aside for inspection, restore warehouse.duckdb from a backup and run again; without a backup, running "
        "without it rebuilds from the landing zone (backfill the nights whose list history you need).",
    )


def write_alert_file(home: Path, stem: str, lines: list[str]) -> Path:
    """<home>/alerts/<stem>.md, written whole or not at all (for whoever watches the folder)."""
    folder = home / ALERTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.md"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_fault_alert(home: Path, fault: Fault, now: dt.datetime | None = None) -> Path:
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    lines = [
        f"# 运行未能开始或中断 Night could not run: {fault.code}",
        "",
        f"- 时间 time (UTC): {now:%Y-%m-%d %H:%M:%S}",
        f"- 家目录 home: `{home}`",
        "",
        "## 原因与处理 What is wrong and what to do",
        "",
        f"- {fault.zh}",
        f"- {fault.en}",
    ]
    return write_alert_file(home, f"{now:%Y%m%dT%H%M%SZ}_{fault.code.lower()}", lines)
