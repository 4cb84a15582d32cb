"""Every value-level normalisation of FEEDS.md: ID numbers, dates, months, money, text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from jiuzhu.idnumber import make_id, to_15
from warehouse.macros import install_macros

ID = make_id("370725", "19800101", 123)
AS_OF = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    install_macros(c)
    yield c
    c.close()


def _one(con, sql, *params):
    return con.execute(f"SELECT {sql}", list(params)).fetchall()[0][0]


@pytest.mark.parametrize(
    "delivered",
    [
        ID,
        f" {ID[:6]} {ID[6:14]} {ID[14:]} ",
        f"'{ID}",
        f"’{ID}",
        "".join(chr(ord(ch) + 0xFEE0) for ch in ID),
        to_15(ID),
        f"{to_15(ID)}.0",
        f"{ID[:6]}\u3000{ID[6:]}",
    ],
)
def test_usable_id_forms_normalise_to_the_same_18_digits(con, delivered):
    assert con.execute("SELECT jz_id18(?), jz_id_problem(?, ?)", [delivered, delivered, AS_OF]).fetchall() == [
        (ID, None)
    ]


def test_lowercase_x_becomes_upper_case(con):
    x_id = next(make_id("370725", "19900101", n) for n in range(1000) if make_id("370725", "19900101", n).endswith("X"))
    assert con.execute("SELECT jz_id18(?), jz_id_problem(?, ?)", [x_id.lower(), x_id.lower(), AS_OF]).fetchall() == [
        (x_id, None)
    ]


@pytest.mark.parametrize(
    ("delivered", "problem"),
    [
        ("3.70725E+17", "ID_PRECISION_LOST"),
        ("3.707251980010113e+17", "ID_PRECISION_LOST"),
        (ID[:15] + "000", "ID_PRECISION_LOST"),  # Excel printed the rounded number in full
        (ID[:17] + ("0" if ID[17] != "0" else "1"), "ID_CHECKSUM"),
        (make_id("370725", "19801301", 123), "ID_BIRTHDATE"),  # month 13
        (make_id("370725", "20270101", 123), "ID_BIRTHDATE"),  # born after the as-of date
        (make_id("370725", "18991231", 123), "ID_BIRTHDATE"),
        ("37072519800101", "ID_FORMAT"),
        ("身份证", "ID_FORMAT"),
        ("", "ID_MISSING"),
        (None, "ID_MISSING"),
    ],
)
def test_unusable_ids_get_their_own_reason(con, delivered, problem):
    assert _one(con, "jz_id_problem(?, ?)", delivered, AS_OF) == problem


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("2026-11-27", dt.date(2026, 11, 27)),
        ("2026/11/7", dt.date(2026, 11, 7)),
        ("20261127", dt.date(2026, 11, 27)),
        ("2026年11月27日", dt.date(2026, 11, 27)),
        ("2026.11.27", dt.date(2026, 11, 27)),
        ("46024", dt.date(2026, 1, 2)),  # Excel serial number
        ("46024.75", dt.date(2026, 1, 2)),
        ("2026-11-27 10:30:00", dt.date(2026, 11, 27)),
        ("2026/11/27 8:05", dt.date(2026, 11, 27)),
        ("２０２６－１１－２７", dt.date(2026, 11, 27)),
        (" 2026-11-27 ", dt.date(2026, 11, 27)),
        ("2026-02-30", None),
        ("不详", None),
        (None, None),
    ],
)
def test_dates_in_every_delivered_form(con, delivered, expected):
    assert _one(con, "jz_date(?)", delivered) == expected


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("202610", dt.date(2026, 10, 1)),
        ("2026-10", dt.date(2026, 10, 1)),
        ("2026年10月", dt.date(2026, 10, 1)),
        ("2026/1", dt.date(2026, 1, 1)),
        ("202613", None),
        ("", None),
    ],
)
def test_contribution_months(con, delivered, expected):
    assert _one(con, "jz_month(?)", delivered) == expected


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        ("1234.5", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("1234.5元", Decimal("1234.50")),
        ("１２３４．５", Decimal("1234.50")),
        ("￥88", Decimal("88.00")),
        ("-12.5", Decimal("-12.50")),
        ("", None),
        (None, None),
        ("约100", None),
    ],
)
def test_money_in_every_delivered_form(con, delivered, expected):
    assert _one(con, "jz_money(?)", delivered) == expected


def test_text_full_width_and_trailing_blanks(con):
    assert _one(con, "jz_text(?)", "ＡＢＣ　张三 ") == "ABC 张三"
    assert _one(con, "jz_text(?)", "   ") is None
    assert _one(con, "jz_text(?)", "买买提·艾力") == "买买提·艾力"
