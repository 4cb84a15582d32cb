"""What goes wrong inside real files, cell by cell (FEEDS.md "What real files look like").

Each kind is applied at its rate from ``MessRates`` (already scaled by ``mess``)
to the cells it applies to, never to a planted (protected) row, at most one
kind per cell. Every spoiled cell is reported (row index, column, kind) so the
truth can say which rows must be normalised and which quarantined.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from jiuzhu.config import FALLBACK_TOWNSHIP, load_townships
from jiuzhu.idnumber import check_digit, to_15

from .rates import MessRates
from .spec import feeds

FULL = str.maketrans({**{chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}, " ": "\u3000"})
UNKNOWN_TOWNSHIPS = ("开发区", "首阳山", "经济开发区", "首阳山旅游度假区")
EXCEL_EPOCH = np.datetime64("1899-12-30")


def _township_forms():
    short, old = {}, {}
    for t in load_townships():
        if t.code == FALLBACK_TOWNSHIP:
            continue
        stem = t.official_name.removesuffix("街道").removesuffix("镇")
        short[t.official_name] = stem if stem in t.aliases else (t.aliases[0] if t.aliases else t.official_name)
        others = [a for a in t.aliases if a != short[t.official_name]]
        if others:
            old[t.official_name] = others
    return short, old


def _id_sci(x: str) -> str:
    return f"{float(x[:17] + ('0' if x[17] in 'Xx' else x[17])):.5E}"


def _bad_birth(x: str, r: float) -> str:
    mmdd = ("1332", "0230", "0431", "0000", "1100")[int(r * 5)]
    first17 = x[:10] + mmdd + x[14:17]
    return first17 + check_digit(first17)


def _wrong_check(x: str) -> str:
    right = x[17].upper()
    return x[:17] + "0123456789X"[("0123456789X".index(right) + 3) % 11]


def _spaced(x: str, r: float) -> str:
    return f"{x[:6]} {x[6:14]} {x[14:]}" if r < 0.5 else f"{x[:9]} {x[9:]}"


def _date_forms(kind: str, iso: str, r: float) -> str:
    y, m, d = iso[:4], iso[5:7], iso[8:10]
    if kind == "DATE_SLASH":
        return f"{y}/{int(m)}/{int(d)}"
    if kind == "DATE_COMPACT":
        return f"{y}{m}{d}"
    if kind == "DATE_CHINESE":
        return f"{y}年{int(m)}月{int(d)}日"
    if kind == "DATE_DOT":
        return f"{y}.{m}.{d}"
    if kind == "DATE_WITH_TIME":
        return (
            f"{iso} 00:00:00"
            if r < 0.5
            else f"{y}/{int(m)}/{int(d)} {int(r * 24) % 24}:{int(r * 1440) % 60:02d}:{int(r * 86400) % 60:02d}"
        )
    raise ValueError(kind)


def apply(feed: str, df: pl.DataFrame, rates: MessRates, rng: np.random.Generator, xlsx: bool):
    """Spoil cells of a canonical text frame. Returns (frame, [(rows, column, kind)], {column: {row: number}})."""
    spec = feeds()[feed]
    n = df.height
    bad: list[tuple[np.ndarray, str, str]] = []
    numeric: dict[str, dict[int, float]] = {}
    if n == 0:
        return df, bad, numeric
    free_rows = ~df["_prot"].to_numpy()
    short, old = _township_forms()
    new_cols = {}
    for c in spec.columns:
        if c.name not in df.columns:
            continue
        col = df[c.name]
        present = (col.fill_null("") != "").to_numpy() & free_rows
        if not present.any():
            continue
        vals = np.array(col.to_list(), dtype=object)
        taken = np.zeros(n, bool)

        def pick(kind, applicable, taken=taken, c=c):  # this column's (called for it only)
            rate = getattr(rates, kind)
            if rate <= 0:
                return np.array([], int), np.array([])
            cand = np.flatnonzero(applicable & ~taken)
            sel = cand[rng.random(len(cand)) < rate]
            taken[sel] = True
            if len(sel):
                bad.append((sel, c.name, kind))
            return sel, rng.random(len(sel))

        if c.type == "id":
            is_x = col.str.ends_with("X").fill_null(False).to_numpy()
            # quarantine kinds first: they are rare and must not be masked by the harmless ones
            for kind, appl in (
                ("ID_PRECISION_LOST", present),
                ("ID_CHECKSUM", present),
                ("ID_BIRTHDATE", present),
                ("ID_LOWERCASE_X", present & is_x),
                ("ID_15_DIGIT", present & df["_born19xx"].to_numpy()),
                ("ID_FULLWIDTH", present),
                ("ID_SPACES", present),
                ("ID_APOSTROPHE", present),
            ):
                sel, r = pick(kind, appl)
                for i, ri in zip(sel, r):
                    x = vals[i]
                    if kind == "ID_PRECISION_LOST":
                        if xlsx:
                            numeric.setdefault(c.name, {})[int(i)] = float(x[:17] + ("0" if x[17] in "Xx" else x[17]))
                        vals[i] = _id_sci(x)
                    elif kind == "ID_CHECKSUM":
                        vals[i] = _wrong_check(x)
                    elif kind == "ID_BIRTHDATE":
                        vals[i] = _bad_birth(x, ri)
                    elif kind == "ID_LOWERCASE_X":
                        vals[i] = x[:17] + "x"
                    elif kind == "ID_15_DIGIT":
                        vals[i] = to_15(x)
                    elif kind == "ID_FULLWIDTH":
                        vals[i] = x.translate(FULL)
                    elif kind == "ID_SPACES":
                        vals[i] = _spaced(x, ri)
                    else:
                        vals[i] = "'" + x
        elif c.type == "date":
            for kind in ("DATE_SERIAL", "DATE_SLASH", "DATE_COMPACT", "DATE_CHINESE", "DATE_DOT", "DATE_WITH_TIME"):
                sel, r = pick(kind, present)
                for i, ri in zip(sel, r):
                    if kind == "DATE_SERIAL":
                        iso: str = vals[i]  # delivered dates are text (YYYY-MM-DD)
                        serial = int((np.datetime64(iso) - EXCEL_EPOCH).astype(int))
                        if xlsx:
                            numeric.setdefault(c.name, {})[int(i)] = float(serial)
                        vals[i] = str(serial)
                    else:
                        vals[i] = _date_forms(kind, vals[i], ri)
        elif c.type == "month":
            for kind in ("MONTH_DASH", "MONTH_CHINESE"):
                sel, _ = pick(kind, present)
                for i in sel:
                    v = vals[i]
                    vals[i] = f"{v[:4]}-{v[4:]}" if kind == "MONTH_DASH" else f"{v[:4]}年{int(v[4:])}月"
        elif c.type == "money":
            num = col.cast(pl.Float64, strict=False).fill_null(0.0).to_numpy()
            for kind, appl in (
                ("MONEY_BLANK", present & (num == 0)),
                ("MONEY_THOUSANDS", present & (np.abs(num) >= 1000)),
                ("MONEY_YUAN", present),
                ("MONEY_FULLWIDTH", present),
            ):
                sel, _ = pick(kind, appl)
                for i in sel:
                    v = vals[i]
                    vals[i] = {
                        "MONEY_BLANK": "",
                        "MONEY_THOUSANDS": f"{float(v):,.2f}",
                        "MONEY_YUAN": f"{v}元",
                        "MONEY_FULLWIDTH": v.translate(FULL),
                    }[kind]
        elif c.type == "township":
            has_old = col.is_in(list(old)).fill_null(False).to_numpy()
            for kind, appl in (
                ("TOWNSHIP_UNKNOWN", present),
                ("TOWNSHIP_OLD", present & has_old),
                ("TOWNSHIP_SHORT", present),
            ):
                sel, r = pick(kind, appl)
                for i, ri in zip(sel, r):
                    v = vals[i]
                    if kind == "TOWNSHIP_UNKNOWN":
                        vals[i] = UNKNOWN_TOWNSHIPS[int(ri * len(UNKNOWN_TOWNSHIPS))]
                    elif kind == "TOWNSHIP_OLD":
                        vals[i] = old[v][int(ri * len(old[v]))]
                    else:
                        vals[i] = short.get(v, v)
        elif c.type == "enum" and c.value_aliases:
            rev: dict[str, list[str]] = {}
            for alias, canon in c.value_aliases.items():
                rev.setdefault(canon, []).append(alias)
            sel, r = pick("ENUM_ALIAS", present & col.is_in(list(rev)).fill_null(False).to_numpy())
            for i, ri in zip(sel, r):
                options = rev[vals[i]]
                vals[i] = options[int(ri * len(options))]
        elif c.type == "text" and c.field in ("name", "address", "village", "facility", "employer"):
            ascii_ = col.str.contains(r"[0-9A-Za-z]").fill_null(False).to_numpy()
            sel, _ = pick("TEXT_FULLWIDTH", present & ascii_)
            for i in sel:
                vals[i] = vals[i].translate(FULL)
            sel, r = pick("TEXT_TRAILING_SPACE", present)
            for i, ri in zip(sel, r):
                vals[i] = vals[i] + (" ", "  ", "\u3000")[int(ri * 3)]
        if taken.any():
            new_cols[c.name] = pl.Series(c.name, vals.tolist(), dtype=pl.String)
    return (df.with_columns(**new_cols) if new_cols else df), bad, numeric
