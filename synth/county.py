"""generate(): population -> history -> planted cases -> deliveries -> files + truth."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from tqdm import tqdm

from jiuzhu.config import load_policy

from . import delivery, history, mess, planted, population, truth, writers
from .rates import QUARANTINE_KINDS, DeliveryRates, HistoryRates, MessRates
from .spec import feeds
from .timeline import Timeline, date_of

BEIJING = ZoneInfo("Asia/Shanghai")

DEFAULT_AS_OF = dt.date(2026, 11, 28)
MIN_HOUSEHOLDS_FOR_BAD_FILES = 200


def generate(
    out: Path,
    households: int = 220_000,
    months: int = 24,
    as_of: dt.date | None = None,
    seed: int = 7,
    mess: float = 1.0,
    progress: bool = True,
    bulk: bool = False,
) -> dict:
    """Write ``<out>/landing/<feed>/<file>`` and ``<out>/truth/*.csv``; return a small summary.

    Deterministic for a seed (same bytes). ``mess`` scales every rate of ``MessRates``
    (0 = clean files). An existing ``landing/`` or ``truth/`` under ``out`` is replaced.
    ``bulk``: the same county's history delivered as a county connecting on ``as_of`` would deliver
    it: today's roster and assistance snapshots, and one extract of today per other feed holding
    every record (no whole-file problems: each feed's history is one file).
    """
    t0 = time.time()
    out = Path(out)
    as_of = as_of or DEFAULT_AS_OF
    landing, truth_dir = out / "landing", out / "truth"
    for d in (landing, truth_dir):  # a re-run replaces what an earlier run wrote, nothing else
        if d.exists():
            shutil.rmtree(d)
    landing.mkdir(parents=True)
    truth_dir.mkdir(parents=True)
    for feed in feeds():  # every feed's folder, the ones nothing is delivered to yet (zj_feedback) too
        (landing / feed).mkdir()

    rng = [np.random.default_rng([seed, k]) for k in range(8)]
    policy = load_policy(as_of)
    tl = Timeline(as_of, months, bulk=bulk)
    hrates, drates, mrates = HistoryRates(), DeliveryRates(), MessRates().scaled(mess)

    cases = planted.design(households)
    pop = population.build(households, tl, rng[0], designed=planted.specs(cases))
    quiet_outsiders = planted.bind(cases, pop, households)
    roster = pop.p_hh >= 0
    prot_p = quiet_outsiders | (roster & pop.h_planted[np.where(roster, pop.p_hh, 0)])
    prot_h = pop.h_planted
    hist = history.simulate(pop, tl, hrates, policy, rng[1], quiet_outsiders, progress)
    rule_cases, near_misses, events = planted.inject(cases, pop, tl, hist, policy, rng[2])
    deliv = delivery.plan(pop, hist, tl, drates, rng[3], prot_p, prot_h)

    want_bad = mrates.bad_files > 0 and households >= MIN_HOUSEHOLDS_FOR_BAD_FILES and not bulk
    roles = _choose_bad_files(deliv.plans, rng[4]) if want_bad else {}
    w = _Writer(landing, pop, tl, mrates, drates, rng[5], prot_p, prot_h)
    plans = sorted(deliv.plans, key=lambda p: (p.feed, p.extract, p.part))
    for p in tqdm(plans, desc="synth files", unit="file", disable=not progress, leave=False):
        w.write_plan(p, roles.get(id(p), set()))
    if want_bad:
        w.write_loose_bad_files(rng[6])

    truth.write(
        truth_dir, pop, hist, tl, w.files, w.bad_rows, rule_cases, near_misses, events, deliv.corrections, cases
    )
    files = pl.DataFrame(w.files)
    per_feed = files.group_by("feed").agg(pl.len().alias("files"), pl.col("data_rows").sum().alias("rows")).sort("feed")
    return {
        "households": int(pop.n_households),
        "persons": int(pop.n_persons),
        "persons_in_roster": int(roster.sum()),
        "files_per_feed": dict(zip(per_feed["feed"], per_feed["files"])),
        "rows_per_feed": dict(zip(per_feed["feed"], per_feed["rows"])),
        "planted_cases": int(rule_cases.height),
        "near_misses": int(near_misses.height),
        "bad_rows": int(sum(b.height for b in w.bad_rows)),
        "seconds": round(time.time() - t0, 1),
    }


def _choose_bad_files(plans, rng) -> dict[int, set[str]]:
    """Which delivered files carry a whole-file problem. Never the only copy of a planted record."""
    roles: dict[int, set[str]] = {}

    def take(cands, role):
        if cands:
            p = cands[int(rng.integers(0, len(cands)))]
            roles.setdefault(id(p), set()).add(role)

    incr = [p for p in plans if feeds()[p.feed].kind == "incremental" and p.monthly and p.n_rows >= 10]
    take(
        [
            p
            for p in incr
            if p.n_rows - p.n_protected >= 1 and p.feed in ("yb_settlements", "rs_employment", "wj_diagnoses")
        ]
        or [p for p in incr if p.n_rows - p.n_protected >= 1],
        "truncated",
    )
    small = [p for p in incr if p.feed not in writers.BIG_FEEDS and p.n_protected == 0 and not roles.get(id(p))]
    take(small or [p for p in incr if p.n_protected == 0 and not roles.get(id(p))], "xlsx_named_csv")
    free = [p for p in incr if not roles.get(id(p))]
    take(free, "duplicate_source")
    take(free, "missing_required_source")
    snaps = [p for p in plans if p.feed == "mz_assistance" and p.extract < max(q.extract for q in plans) and not p.part]
    take(snaps or free, "no_date_source")
    return roles


class _Writer:
    def __init__(self, landing: Path, pop, tl: Timeline, mrates: MessRates, drates: DeliveryRates, rng, prot_p, prot_h):
        self.landing, self.pop, self.tl = landing, pop, tl
        self.m, self.d, self.rng = mrates, drates, rng
        self.prot_p, self.prot_h = prot_p, prot_h
        self.files: list[dict] = []
        self.bad_rows: list[pl.DataFrame] = []
        self.names: dict[str, set[str]] = {}
        # each department's system names its files one way (now and then another)
        self.style = {f: int(rng.integers(0, 4)) for f in feeds()}
        self.last_text: dict[str, tuple[pl.DataFrame, int]] = {}

    def _name(self, feed: str, extract: int, suffix: str, ext: str, stem: str | None = None) -> str:
        style = self.style[feed] if self.rng.random() > 0.1 else int(self.rng.integers(0, 4))
        stem = stem or writers.file_stem(feed, style, extract)
        used = self.names.setdefault(feed, set())
        name, k = f"{stem}{suffix}{ext}", 2
        while name in used:
            name, k = f"{stem}{suffix}_{k}{ext}", k + 1
        used.add(name)
        return name

    def _save(self, feed: str, name: str, data: bytes, extract: int):
        folder = self.landing / feed
        folder.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
        # delivered on the evening of its extract date (Beijing time), as a department's night
        # export would be: a reader never mistakes a generated county for files still being written
        delivered = dt.datetime.combine(date_of(extract), dt.time(20), tzinfo=BEIJING).timestamp()
        os.utime(folder / name, (delivered, delivered))

    def _record(self, feed, name, extract, status, problem, rendered_or_rows, encoding, fmt, header_row=0, sheet=""):
        self.files.append(
            dict(
                feed=feed,
                file_name=name,
                extract_date=date_of(extract).isoformat() if extract else "",
                expected_status=status,
                problem=problem,
                data_rows=int(rendered_or_rows),
                encoding=encoding,
                format=fmt,
                header_row=header_row,
                sheet=sheet,
            )
        )

    def write_plan(self, plan: delivery.FilePlan, roles: set[str]):
        feed, pop, rng = plan.feed, self.pop, self.rng
        typed = plan.build()
        if "_prot" not in typed.columns:
            typed = typed.with_columns(_prot=pl.Series(delivery._protected_rows(typed, self.prot_p, self.prot_h)))
        if "truncated" in roles:  # the row cut short must not be a planted one
            prot = typed["_prot"].to_numpy()
            k = int(np.flatnonzero(~prot)[-1])
            order = np.r_[np.delete(np.arange(typed.height), k), k]
            typed = typed[order]
        text = delivery.to_text(feed, typed, pop)
        n = text.height
        fmt = (
            "csv"
            if "truncated" in roles
            else "xlsx"
            if "xlsx_named_csv" in roles
            else writers.choose_format(feed, n, self.d, rng)
        )
        messed, bad, numeric = mess.apply(feed, text, self.m, rng, xlsx=(fmt == "xlsx"))
        cols = writers.choose_headers(feed, messed, self.m, rng, n)
        suffix = "_补录" if plan.part else ""
        if fmt == "csv":
            enc = writers.choose_encoding(feed, rng)
            fc = np.array([], int)
            free = np.flatnonzero(~text["_prot"].to_numpy())
            if n >= 1000 and len(free) > 10 and rng.random() < self.m.FIELD_COUNT_FILE:
                fc = np.sort(rng.choice(free[:-1], size=int(rng.integers(1, 5)), replace=False))
            r = writers.render_csv(cols, enc, rng.random() < self.d.crlf, rng, fc, truncate="truncated" in roles)
            for_fc = [(fc, "", "FIELD_COUNT")] if len(fc) else []
            if "truncated" in roles:
                for_fc.append((np.array([n - 1]), "", "TRUNCATED_ROW"))
            name = self._name(feed, plan.extract, suffix, ".csv")
        else:
            enc = ""
            r = writers.render_xlsx(cols, feed, plan.extract, self.m, rng, numeric, money_numeric=rng.random() < 0.5)
            for_fc = []
            name = self._name(feed, plan.extract, suffix, ".csv" if "xlsx_named_csv" in roles else ".xlsx")
        self._save(feed, name, r.data, plan.extract)
        problem = (
            "truncated"
            if "truncated" in roles
            else "xlsx_named_csv"
            if "xlsx_named_csv" in roles
            else ("header_only" if n == 0 else "")
        )
        self._record(feed, name, plan.extract, "loaded", problem, n, enc, r.format, r.header_row, r.sheet)
        self._bad(feed, name, r.row_numbers, bad + for_fc)
        if "duplicate_source" in roles:
            dup = self._name(feed, plan.extract, "", "", stem=Path(name).stem + "_重发" + Path(name).suffix)
            self._save(feed, dup, r.data, plan.extract)
            self._record(
                feed, dup, plan.extract, "duplicate", f"duplicate_of:{name}", n, enc, r.format, r.header_row, r.sheet
            )
        if "missing_required_source" in roles and n:
            required = [c for c in feeds()[feed].columns if c.required]
            drop = required[int(rng.integers(0, len(required)))].name
            keep = [
                (h, s)
                for (h, s), c in zip(
                    writers.choose_headers(feed, text, MessRates().scaled(0), rng, n), feeds()[feed].columns
                )
                if c.name != drop
            ]
            rr = writers.render_csv(keep, "utf-8", False, rng)
            nm = self._name(feed, plan.extract, "_补发", ".csv")
            self._save(feed, nm, rr.data, plan.extract)
            self._record(feed, nm, plan.extract, "rejected", "missing_required", n, "utf-8", "csv", 1)
        if "no_date_source" in roles:
            dept, title = writers.file_title(feed)
            clean = writers.choose_headers(feed, text, MessRates().scaled(0), rng, n)
            rr = writers.render_xlsx(clean, feed, plan.extract, MessRates().scaled(0), rng, {}, False)
            nm = self._name(feed, plan.extract, "", "", stem=f"{dept}{title}（最新）.xlsx")
            self._save(feed, nm, rr.data, plan.extract)
            self._record(feed, nm, 0, "rejected", "no_date", n, "", "xlsx", rr.header_row, rr.sheet)

    def write_loose_bad_files(self, rng):
        """Files that carry no records at all: empty, header only, not a workbook."""
        days = [self.tl.as_of_day - k for k in range(1, 6)]
        # an empty file where a daily extract goes
        nm = self._name("xf_petitions", days[1], "_2", ".csv")
        self._save("xf_petitions", nm, b"", days[1])
        self._record("xf_petitions", nm, days[1], "rejected", "empty", 0, "", "csv")
        # a header-only file: a day with nothing to report
        cols = writers.choose_headers(
            "wj_deaths",
            delivery.to_text("wj_deaths", delivery._empty_typed("wj_deaths"), self.pop),
            MessRates().scaled(0),
            rng,
            0,
        )
        r = writers.render_csv(cols, "utf-8-sig", True, rng)
        nm = self._name("wj_deaths", days[2], "_2", ".csv")
        self._save("wj_deaths", nm, r.data, days[2])
        self._record("wj_deaths", nm, days[2], "loaded", "header_only", 0, "utf-8-sig", "csv", 1)
        # a web page saved as .xlsx
        nm = self._name("mz_verification", days[3], "_2", ".xlsx")
        self._save("mz_verification", nm, writers.NOT_A_WORKBOOK, days[3])
        self._record("mz_verification", nm, days[3], "rejected", "not_a_workbook", 0, "", "xlsx")

    def _bad(self, feed, name, row_numbers, bad):
        frames = []
        for rows, col, kind in bad:
            if len(rows) == 0:
                continue
            frames.append(
                pl.DataFrame(
                    {
                        "row_number": row_numbers[rows].astype(np.int64),
                        "column": pl.Series([col] * len(rows), dtype=pl.String),
                        "mess_kind": pl.Series([kind] * len(rows), dtype=pl.String),
                    }
                )
            )
        if frames:
            df = pl.concat(frames).with_columns(
                feed=pl.lit(feed),
                file_name=pl.lit(name),
                expected=pl.when(pl.col("mess_kind").is_in(list(QUARANTINE_KINDS)))
                .then(pl.lit("quarantine"))
                .otherwise(pl.lit("normalise")),
            )
            self.bad_rows.append(
                df.select("feed", "file_name", "row_number", "column", "mess_kind", "expected").sort(
                    "row_number", "column"
                )
            )
