"""The command line says what is wrong in one line, with exit 2, before anything is touched."""

from __future__ import annotations

import datetime as dt

from assets.common import NIGHTS
from jiuzhu.calendar import COUNTY_TZ, night_out_of_range, yesterday_in_county
from jiuzhu.config import load_county
from pipelines.cli import EXIT_USAGE, main


def test_a_night_that_has_not_ended_is_refused_in_one_line(tmp_path, capsys):
    tomorrow = yesterday_in_county() + dt.timedelta(days=2)
    code = main(["run", "--landing", str(tmp_path), "--home", str(tmp_path / "home"), "--as-of", tomorrow.isoformat()])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and "尚未结束" in err and "Traceback" not in err
    assert not (tmp_path / "home").exists()  # nothing touched


def test_a_night_before_the_countys_first_is_refused(tmp_path, capsys):
    before = load_county().first_night - dt.timedelta(days=1)
    code = main(["run", "--landing", str(tmp_path), "--home", str(tmp_path / "home"), "--as-of", before.isoformat()])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "first_night" in err and len(err.strip().splitlines()) == 1


def test_yesterday_in_beijing_is_the_latest_night():
    # 00:30 on the 30th in Beijing is still the 29th in UTC: yesterday is the 29th, Beijing time
    now = dt.datetime(2026, 11, 30, 0, 30, tzinfo=COUNTY_TZ)
    first = dt.date(2024, 11, 1)
    assert night_out_of_range(dt.date(2026, 11, 29), first, now) is None
    assert night_out_of_range(dt.date(2026, 11, 30), first, now) is not None
    assert night_out_of_range(first, first, now) is None


def test_the_nights_start_at_the_countys_first_delivery():
    assert NIGHTS.get_first_partition_key() == load_county().first_night.isoformat()
