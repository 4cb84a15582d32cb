"""The calendar of the simulated history and of the deliveries.

Dates are handled as numpy ``datetime64[D]`` and, inside the simulation, as
int day numbers (days since 1970-01-01) so that whole populations can be
compared at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

EPOCH = dt.date(1970, 1, 1)
DAILY_FILES = 7  # incremental feeds: one file per day for the last week before as_of


def day(d: dt.date) -> int:
    return (d - EPOCH).days


def date_of(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def add_months(d: dt.date, k: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + k, 12)
    return dt.date(y, m + 1, 1)


@dataclass(frozen=True)
class Month:
    index: int
    start: int  # day number of the 1st
    last: int  # day number of the last simulated day (month end, or as_of - 1)

    @property
    def end(self) -> int:
        """Calendar month end (may be after as_of for the current month)."""
        s = date_of(self.start)
        return day(add_months(s, 1)) - 1

    @property
    def yyyymm(self) -> int:
        d = date_of(self.start)
        return d.year * 100 + d.month


@dataclass(frozen=True)
class DeliveryWindow:
    """One incremental file: records dated first..last, extracted on ``extract``."""

    first: int
    last: int
    extract: int
    daily: bool


class Timeline:
    """``months`` calendar months ending with the month of the day before as_of."""

    def __init__(self, as_of: dt.date, months: int, bulk: bool = False):
        if months < 2:
            raise ValueError("months must be at least 2")
        self.as_of = as_of
        # a county connecting tonight: today's snapshots, and every feed's history in one extract of today
        self.bulk = bulk
        self.as_of_day = day(as_of)
        last_day = as_of - dt.timedelta(days=1)  # nothing happens on as_of: it is not over yet
        first = add_months(month_start(last_day), -(months - 1))
        self.months: list[Month] = []
        for i in range(months):
            s = add_months(first, i)
            e = min(add_months(s, 1) - dt.timedelta(days=1), last_day)
            self.months.append(Month(i, day(s), day(e)))
        self.start_day = self.months[0].start

    def __len__(self) -> int:
        return len(self.months)

    def random_days(self, rng: np.random.Generator, m: int, n: int) -> np.ndarray:
        mo = self.months[m]
        return rng.integers(mo.start, mo.last + 1, size=n)

    def snapshot_days(self) -> list[int]:
        """Month ends that are over before as_of, then as_of itself."""
        out = [mo.end for mo in self.months if mo.end < self.as_of_day and not self.bulk]
        return out + [self.as_of_day]

    def incremental_windows(self, rng: np.random.Generator) -> list[DeliveryWindow]:
        """Monthly history extracts, then one file per day for the last week (bulk: one extract of today)."""
        if self.bulk:
            return [DeliveryWindow(self.start_day, self.as_of_day - 1, self.as_of_day, False)]
        daily_from = self.as_of_day - DAILY_FILES  # records of the last 7 days go to daily files
        windows = []
        for mo in self.months:
            first, last = mo.start, min(mo.last, daily_from - 1)
            if last < first:
                continue
            extract = min(mo.end + int(rng.integers(1, 6)), daily_from)
            windows.append(DeliveryWindow(first, last, extract, False))
        for d in range(daily_from, self.as_of_day):
            windows.append(DeliveryWindow(d, d, d + 1, True))  # yesterday's records, extracted today
        return windows

    def insurance_extracts(self, rng: np.random.Generator) -> list[tuple[int, int]]:
        """(month index, extract day): each 费款所属期 is extracted around the 10th of the next month."""
        out = []
        for mo in self.months:
            nxt = day(add_months(date_of(mo.start), 1))
            extract = nxt + int(rng.integers(7, 12))
            if extract <= self.as_of_day:  # bulk: the months extracted by today, all in today's extract
                out.append((mo.index, self.as_of_day if self.bulk else extract))
        return out


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day numbers -> (year, month, day) int arrays."""
    d = np.asarray(days, dtype="datetime64[D]")
    y = d.astype("datetime64[Y]").astype(int) + 1970
    m = d.astype("datetime64[M]").astype(int) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(int) + 1
    return y, m, dd


def age_years(birth: np.ndarray, at: int | np.ndarray) -> np.ndarray:
    """Completed years of age on day ``at`` (birthday counts)."""
    by, bm, bd = ymd(birth)
    ay, am, ad = ymd(np.broadcast_to(np.asarray(at), np.shape(birth)))
    return ay - by - ((am < bm) | ((am == bm) & (ad < bd))).astype(int)


def or_none(keep: np.ndarray, values: np.ndarray) -> list:
    """``values`` where ``keep``, None elsewhere, as a list: a nullable column (an open end date, an absent code)."""
    # an object array; numpy's stubs do not accept None as where()'s fill value
    return np.where(keep, values, None).tolist()  # type: ignore[call-overload]
