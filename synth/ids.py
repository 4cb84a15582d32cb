"""公民身份号码 for whole populations at once.

The arithmetic is jiuzhu.idnumber's (same weights, same check characters); this
module only vectorises it, because calling make_id 600,000 times is slow and a
sequence number must be unique within (region, birth date).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from jiuzhu.idnumber import CHECK_CHARS, WEIGHTS

_CHECK = np.array(list(CHECK_CHARS))
_W = np.array(WEIGHTS, dtype=np.int64)


def check_chars(first17: np.ndarray) -> np.ndarray:
    """Check characters for an array of 17-digit strings."""
    digits = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17) - 48
    return _CHECK[(digits.astype(np.int64) @ _W) % 11]


def build_ids(region: np.ndarray, birth: np.ndarray, male: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """18-digit numbers, unique; the sequence's last digit is odd for men, even for women."""
    n = len(region)
    if n == 0:
        return np.array([], dtype=object)
    birth_s = np.datetime_as_string(np.asarray(birth, dtype="datetime64[D]")).astype("U10")
    df = pl.DataFrame(
        {"region": region.astype(str), "birth": birth_s, "male": male.astype(bool), "r0": rng.integers(0, 150, size=n)}
    )
    # rank within (region, birth date, sex); the group's random start keeps sequences from all being 000, 002, ...
    df = df.with_columns(
        rank=pl.int_range(pl.len()).over(["region", "birth", "male"]),
        start=pl.col("r0").first().over(["region", "birth", "male"]),
    )
    seq = (2 * (df["start"] + df["rank"]) + df["male"].cast(pl.Int64)).to_numpy()
    if seq.max() > 999:
        raise ValueError("too many people share one region and birth date")
    first17 = (
        df.select(
            pl.concat_str(
                [
                    pl.col("region"),
                    pl.col("birth").str.replace_all("-", ""),
                    pl.Series(seq).cast(pl.String).str.zfill(3),
                ]
            )
        )
        .to_series()
        .to_numpy()
        .astype("U17")
    )
    return np.char.add(first17, check_chars(first17)).astype(object)
