"""The operator's service, run as the operator runs it (`jiuzhu run` in its own process), on
one generated county with a night's worth of hostile deliveries:

- no file a department can send stops the night, and each has its recorded outcome;
- the same data give the same night, whatever the person key: two fresh homes, each with its
  own person key, hold the same scores (to the last bit), warnings, features, model card and
  workbook cells (no tie is broken by a keyed value);
- a night killed with -9 while a step holds the warehouse's slot leaves nothing that blocks the
  next one: the next run recovers, completes, and gives what an undisturbed night gives;
- SIGTERM ends a run promptly and leaves the instance clean; a second run of a home that is
  busy stops at once instead of waiting;
- what the night writes is the service account's only, and the warehouse is encrypted: no ID
  number or name can be read from its bytes, and a wrong or missing key is refused, never
  answered with a new empty warehouse.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from python_calamine import CalamineWorkbook
from test_hostile_workbooks import deflate_bomb, far_cell_workbook  # the hostile workbooks of that suite

from assets.common import WAREHOUSE_POOL
from pipelines.cli import main
from pipelines.instance import instance_at
from pipelines.recovery import IN_PROGRESS
from warehouse.resource import connect

pytestmark = pytest.mark.slow  # a county, and whole nights in their own processes

AS_OF = "2026-11-28"
KEYS = {"JIUZHU_PERSON_KEY": "5a" * 32, "JIUZHU_WAREHOUSE_KEY": "c3" * 32}
TIMEOUT = 240  # seconds: a run that waits for a slot forever fails the test instead of hanging it
# the smallest county whose model trains (MIN_POSITIVES labelled entries over at least four months of
# history, assets/model.py) and whose list holds M01 warnings: 5 training months, about 30 positives
HOUSEHOLDS, MONTHS = 400, 18


@pytest.fixture(scope="module", autouse=True)
def keys():
    """The keys the runs use, for this process too (it reads the warehouses they write)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in KEYS.items():
            mp.setenv(name, value)
        yield


PETITIONS = "信访件编号,身份证号,姓名,登记日期,问题属地,问题类别,诉求内容\n"
FORMULA = '=HYPERLINK("http://x.example/?q="&A1,"点击")'


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    """A generated county, plus a night's worth of hostile deliveries (issue 11's list)."""
    out = tmp_path_factory.mktemp("ops") / "county"
    assert (
        main(
            [
                "synth",
                "--out",
                str(out),
                "--households",
                str(HOUSEHOLDS),
                "--months",
                str(MONTHS),
                "--as-of",
                AS_OF,
                "--quiet",
            ]
        )
        == 0
    )
    landing = out / "landing"
    person = next(
        r for r in csv.DictReader((out / "truth" / "persons.csv").open(encoding="utf-8")) if r["in_roster"] == "true"
    )
    pid, name = person["id_number"], person["name"]

    def drop(feed: str, file_name: str | bytes, content: bytes | str) -> None:
        folder = os.fsencode(landing / feed)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, file_name if isinstance(file_name, bytes) else os.fsencode(file_name))
        with open(path, "wb") as fh:
            fh.write(content if isinstance(content, bytes) else content.encode("utf-8"))
        os.utime(path, (time.time() - 3600,) * 2)

    drop(
        "wj_diagnoses",
        f"{pid}_{name}_诊断证明_20261127.csv",
        f"登记编号,身份证号,姓名,诊断日期\nZD1,{pid},{name},2026-11-20\n",
    )
    drop("yb_settlements", "医保结算_稀疏_20261127.xlsx", far_cell_workbook("XFD1048576", "A1:XFD1048576"))
    drop("mz_verification", "核对结果_20261127.xlsx", deflate_bomb(64))
    drop(
        "xf_petitions",
        "信访事项_20261127_乙.csv".encode("gbk"),
        PETITIONS + f"XF-G1,{pid},{name},2026-11-26,红河,其他,咨询\n",
    )
    drop("wj_deaths", ".死亡登记_20261127.csv", "身份证号,姓名,死亡日期\n")
    (landing / "rs_employment" / "登记_20261127.csv").symlink_to(out / "truth" / "persons.csv")
    drop("jy_education", "学生资助_20261127.csv", "学号,姓名\n1,张三\n")
    long_text = "困难" * (5 << 20)  # 10 M characters in one value
    drop(
        "xf_petitions",
        "信访事项_20261127_长.csv",
        PETITIONS + "".join(f"XF-L{i},,,2026-11-26,红河,其他,{long_text if i == 3 else '咨询'}\n" for i in range(6)),
    )
    drop(
        "xf_petitions",
        "信访事项_20261127_空.csv",
        PETITIONS + "XF-N1,,,2026-11-26,红河,其\x00他,咨询\nXF-N2,,,2026-11-26,红河,其他,咨询\n",
    )
    # a formula in a row that is quarantined (bad date), and in a rejected file's name; an ID number written
    # with spaces in the free text and in the name column of another quarantined row
    spaced = " ".join([pid[:6], pid[6:10], pid[10:14], pid[14:]])
    drop(
        "xf_petitions",
        "信访事项_20261127_公式.csv",
        PETITIONS
        + f'XF-F1,,,2026-13-45,红河,其他,"{FORMULA.replace(chr(34), chr(34) * 2)}"\n'
        + f"XF-F2,,{spaced},2026-13-46,红河,其他,我是{name}，身份证号 {spaced}，请帮忙\n",
    )
    drop("xf_petitions", "=HYPERLINK(1)_20261127.csv", "")
    return landing


def jiuzhu_run(landing: Path, home: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "run",
            "--landing",
            str(landing),
            "--home",
            str(home),
            "--as-of",
            AS_OF,
        ],
        env={**os.environ, **KEYS, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out + err


def instance_of(home: Path) -> dg.DagsterInstance:
    """The home's instance, as `jiuzhu ui` would open it (its dagster.yaml keeps storage under $DAGSTER_HOME)."""
    return instance_at(home)


def wait_for_a_held_slot(home: Path, after_steps: int) -> None:
    """Until the run has finished ``after_steps`` steps and one of its steps holds the warehouse slot."""
    deadline, instance = time.time() + TIMEOUT, None
    while time.time() < deadline:
        if instance is None and (home / "dagster" / "dagster.yaml").exists():
            instance = instance_of(home)
        if instance is not None:
            try:
                runs = instance.get_runs()
                done = sum(
                    len(instance.get_records_for_run(r.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records)
                    for r in runs
                )
                held = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
                if done >= after_steps and held:
                    return
            except Exception:  # noqa: BLE001 — the other process is still creating the instance's tables
                pass
        time.sleep(0.2)
    raise AssertionError("the run never reached a step holding the warehouse slot")


def freeze_while_holding_a_slot(proc: subprocess.Popen, home: Path, after_steps: int) -> None:
    """Stop the process (SIGSTOP) at a moment one of its steps holds the warehouse slot: a step
    may end between seeing the slot held and the kill, so the slot is checked again while frozen."""
    for _ in range(50):
        wait_for_a_held_slot(home, after_steps)
        proc.send_signal(signal.SIGSTOP)
        try:
            if instance_of(home).event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots:
                return
        except Exception:  # noqa: BLE001 — frozen in the middle of a write: let it go on and try again
            pass
        proc.send_signal(signal.SIGCONT)
    raise AssertionError("the run never stayed in a step holding the warehouse slot")


def night_state(home: Path) -> dict:
    """What a night leaves, without the ids and times that differ between runs."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "files": q(
                "SELECT feed, file_name, sha256, status, reason_code, rows_read, rows_loaded, rows_quarantined "
                "FROM audit.files ORDER BY ALL"
            ),
            "quarantine": q(
                "SELECT feed, file_name, row_number, reason_code, stage FROM audit.quarantine ORDER BY ALL"
            ),
            "raw_rows": q("SELECT count(*) FROM raw.mz_members"),
            "features": q("SELECT * FROM core.household_features ORDER BY household_id"),
            "warnings": q("SELECT * EXCLUDE (warning_id) FROM monitoring.warnings ORDER BY ALL"),
            "scores": q("SELECT * FROM monitoring.household_scores ORDER BY household_id"),
        }


def fresh_night(county: Path, home: Path, env: dict | None = None) -> Path:
    code, output = finish(jiuzhu_run(county, home, env))
    assert code == 0, output
    (home.parent / "console.txt").write_text(output, encoding="utf-8")  # what the operator saw
    return home


@pytest.fixture(scope="module")
def undisturbed(county, tmp_path_factory) -> Path:
    return fresh_night(county, tmp_path_factory.mktemp("undisturbed") / "home")


@pytest.fixture(scope="module")
def homes(county, undisturbed, tmp_path_factory) -> list[Path]:
    """Two fresh homes, the same county, another person key: every person_key differs."""
    another = {"JIUZHU_PERSON_KEY": "6b" * 32}
    return [undisturbed, fresh_night(county, tmp_path_factory.mktemp("second") / "home", another)]


def test_sigterm_kill9_and_a_busy_home_never_block_the_next_night(county, undisturbed, tmp_path):
    home = tmp_path / "home"

    # SIGTERM while a step holds the slot: the run ends promptly, marked failed, nothing held
    first = jiuzhu_run(county, home)
    wait_for_a_held_slot(home, after_steps=3)
    second = jiuzhu_run(county, home)  # the same home, while the first runs: stops at once
    code, output = finish(second)
    assert code == 75 and "HOME_BUSY" in output and f"pid {first.pid}" in output
    first.send_signal(signal.SIGTERM)
    sent = time.time()
    code, output = finish(first)
    assert time.time() - sent < 15, "SIGTERM must end the run promptly"
    assert code == 128 + signal.SIGTERM and "INTERRUPTED" in output
    instance = instance_of(home)
    assert not instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    assert not instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
    assert list((home / "alerts").glob("*.md"))

    # kill -9 later in the night: its run stays STARTED and keeps the slot, as a crash leaves it
    killed = jiuzhu_run(county, home)
    freeze_while_holding_a_slot(killed, home, after_steps=25)
    killed.kill()
    killed.wait()
    instance = instance_of(home)
    assert instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots

    code, output = finish(jiuzhu_run(county, home))  # the next night: recovers and completes
    assert code == 0, output
    assert "RECOVERED" in output
    assert not instance_of(home).get_runs(dg.RunsFilter(statuses=IN_PROGRESS))
    assert not list((home / "tmp").glob("jiuzhu-ingest-*"))  # the dead run's scratch is gone
    assert night_state(home) == night_state(undisturbed)  # nothing lost, nothing twice


def test_only_the_service_account_can_read_the_home(undisturbed):
    assert stat.S_IMODE(undisturbed.stat().st_mode) == 0o700
    opened = [p for p in undisturbed.rglob("*") if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert opened == []
    for must in ("warehouse.duckdb", "dagster/dagster.yaml", f"exports/{AS_OF}/manifest.json"):
        assert (undisturbed / must).exists(), must
    assert list((undisturbed / "dagster").rglob("*.db"))  # the instance's databases are among them


def test_the_warehouse_is_encrypted_and_a_wrong_or_missing_key_is_refused(county, undisturbed, tmp_path):
    with connect(undisturbed / "warehouse.duckdb", read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT DISTINCT id_number FROM staging.mz_members LIMIT 50").fetchall()]
        names = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT name FROM staging.mz_members WHERE length(name) >= 3 LIMIT 50"
            ).fetchall()
        ]
    data = (undisturbed / "warehouse.duckdb").read_bytes()
    assert ids and names
    assert not any(i.encode() in data for i in ids) and not any(n.encode() in data for n in names)

    home = tmp_path / "copy"  # a copy, so the other tests keep theirs
    subprocess.run(["cp", "-a", str(undisturbed), str(home)], check=True)
    before = (home / "warehouse.duckdb").stat()
    code, output = finish(jiuzhu_run(county, home, env={"JIUZHU_WAREHOUSE_KEY": "77" * 32}))
    assert code == 1 and "WAREHOUSE_KEY" in output and "密钥不对" in output
    assert "Traceback" not in output
    key_free = {k: v for k, v in os.environ.items() if k != "JIUZHU_WAREHOUSE_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--landing", str(county), "--home", str(home), "--as-of", AS_OF],
        env={**key_free, "JIUZHU_PERSON_KEY": KEYS["JIUZHU_PERSON_KEY"]},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 1 and "找不到密钥" in proc.stderr  # no key file in the copy's secrets: it was set by env
    after = (home / "warehouse.duckdb").stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)  # never a new warehouse
    assert len(list((home / "alerts").glob("*warehouse_key.md"))) == 2


def test_no_file_a_department_can_send_stops_the_night(county, undisturbed):
    """Each hostile delivery has its recorded outcome, and the night's list went out."""
    with connect(undisturbed / "warehouse.duckdb", read_only=True) as con:
        files = {
            (f, n): (s, c)
            for f, n, s, c in con.execute(
                "SELECT feed, coalesce(display_name, file_name), status, reason_code FROM audit.files"
            ).fetchall()
        }
        quarantined = dict(
            con.execute(
                """SELECT coalesce(f.display_name, q.file_name), list(q.reason_code ORDER BY q.row_number)
               FROM audit.quarantine q JOIN audit.files f USING (file_id)
               WHERE q.feed = 'xf_petitions' AND f.extract_date = DATE '2026-11-27' GROUP BY 1"""
            ).fetchall()
        )
        warnings = con.execute("SELECT count(*) FROM monitoring.warnings WHERE as_of_date = ?", [AS_OF]).fetchall()[0][
            0
        ]
        gbk = "信访事项_20261127_乙.csv".encode("gbk").decode("utf-8", "backslashreplace")
    assert warnings > 0
    assert files[("yb_settlements", "医保结算_稀疏_20261127.xlsx")] == ("rejected", "TOO_LARGE")
    assert files[("mz_verification", "核对结果_20261127.xlsx")] == ("rejected", "TOO_LARGE")
    assert files[("xf_petitions", gbk)] == ("loaded", "NAME_ENCODING")
    assert files[("wj_deaths", ".死亡登记_20261127.csv")] == ("rejected", "HIDDEN_FILE")
    assert files[("rs_employment", "登记_20261127.csv")] == ("rejected", "SYMLINK_OUTSIDE")
    assert files[("jy_education", "学生资助_20261127.csv")] == ("rejected", "UNKNOWN_FEED")
    assert files[("xf_petitions", "=HYPERLINK(1)_20261127.csv")] == ("rejected", "EMPTY")
    assert quarantined["信访事项_20261127_长.csv"] == ["FIELD_TOO_LONG"]
    assert quarantined["信访事项_20261127_空.csv"] == ["NUL_BYTE"]
    assert quarantined["信访事项_20261127_公式.csv"] == ["DATE_INVALID", "DATE_INVALID"]
    diagnosis = next(k for k in files if k[0] == "wj_diagnoses" and "诊断证明" in k[1])
    assert files[diagnosis] == ("loaded", None)

    # the quality workbook sent to 信访: no live formula in a value or a file name
    book = CalamineWorkbook.from_path(str(undisturbed / "exports" / AS_OF / "quality" / "xf_petitions.xlsx"))
    cells = [
        c for sheet in ("隔离的行", "拒收的文件") for row in book.get_sheet_by_name(sheet).to_python() for c in row
    ]
    texts = [c for c in cells if isinstance(c, str)]
    assert "'=HYPERLINK(1)_20261127.csv" in texts and "'" + FORMULA in texts
    assert not [c for c in texts if c.startswith(("=", "+", "@"))]
    # an ID number written with spaces, in free text or in the name column, and the name, are masked
    pid = next((county / "wj_diagnoses").glob("*_诊断证明_20261127.csv")).name.split("_")[0]
    name = next((county / "wj_diagnoses").glob("*_诊断证明_20261127.csv")).name.split("_")[1]
    assert not [t for t in texts if pid in t.replace(" ", "") or name in t]
    assert any(f"我是{name[0]}{'*' * (len(name) - 1)}，身份证号 {pid[:6]}********{pid[-4:]}" in t for t in texts)


def test_a_file_name_holding_an_id_and_a_name_is_masked_everywhere_outside_the_warehouse(county, undisturbed):
    diagnosis = next((county / "wj_diagnoses").glob("*_诊断证明_20261127.csv")).name
    pid, name = diagnosis.split("_")[:2]
    shown = [
        undisturbed / "dagster",
        undisturbed / "alerts",
        undisturbed / "exports" / AS_OF / "quality",
        undisturbed / "exports" / AS_OF / "manifest.json",
        undisturbed.parent / "console.txt",
    ]
    leaked = []
    for root in shown:
        for path in [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]:
            data = path.read_bytes()
            if pid.encode() in data or f"_{name}_".encode() in data:
                leaked.append(path)
    assert leaked == []
    with connect(undisturbed / "warehouse.duckdb", read_only=True) as con:
        masked = con.execute("SELECT display_name FROM audit.files WHERE file_name = ?", [diagnosis]).fetchall()[0][0]
    assert masked == f"{pid[:6]}********{pid[-4:]}_{name[0]}{'*' * (len(name) - 1)}_诊断证明_20261127.csv"


# --- the same inputs, the same night (two fresh homes) ----------------------------------------


def _rows(home: Path, sql: str) -> list[tuple]:
    """Rows as comparable tuples (NaN equal to NaN; floats otherwise compared exactly)."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(sql).fetchall()
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


def _same(homes: list[Path], sql: str, what: str) -> list[tuple]:
    first, second = (_rows(h, sql) for h in homes)
    assert first, f"no {what} to compare"
    differing = sum(a != b for a, b in zip(first, second)) + abs(len(first) - len(second))
    assert first == second, f"{differing} of {len(first)} {what} differ between two runs on the same data"
    return first


def test_the_model_trains_and_is_the_same_in_both_homes(homes):
    cards = []
    for home in homes:
        pointer = home / "models" / "current.json"
        assert pointer.exists(), "the model did not train: the county is too small to test scoring"
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        cards.append(json.loads((home / "models" / version / "card.json").read_text(encoding="utf-8")))
    assert cards[0] == cards[1]


def test_scores_are_identical(homes):
    rows = _same(
        homes,
        """SELECT household_id, risk_score, model_version, top_factors, estimated_income_per_capita
                           FROM monitoring.household_scores ORDER BY as_of_date, household_id""",
        "household scores",
    )
    households = _rows(homes[0], "SELECT count(*) FROM core.households")[0][0]
    assert len(rows) == households


def test_the_warning_list_is_identical_and_holds_m01(homes):
    # subject_id: a person outside the roster is known by their person_key, which differs by design
    _same(homes, "SELECT * EXCLUDE (subject_id) FROM monitoring.warnings ORDER BY as_of_date, warning_id", "warnings")
    m01 = _rows(homes[0], "SELECT count(*) FROM monitoring.warnings WHERE list_contains(rule_codes, 'M01')")[0][0]
    assert m01 > 0, "no M01 warning: the test would not compare the model's part of the list"
    _same(homes, "SELECT * EXCLUDE (subject_id) FROM monitoring.rule_hits ORDER BY ALL", "rule hits")


def test_household_features_are_identical(homes):
    _same(homes, "SELECT * FROM core.household_features ORDER BY household_id", "households' features")
    _same(homes, "SELECT * EXCLUDE (head_person_key) FROM core.households ORDER BY household_id", "households")
    _same(  # the head is the same person, though known by another key
        homes,
        """SELECT h.household_id, k.id_number FROM core.households h
           JOIN restricted.person_ids k ON k.person_key = h.head_person_key ORDER BY ALL""",
        "heads",
    )


def _cells(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def test_workbooks_hold_the_same_cells(homes):
    # the files themselves may differ (xlsx carries its creation time): their cells may not
    exports = [home / "exports" / AS_OF for home in homes]
    names = [sorted(p.relative_to(e).as_posix() for p in e.rglob("*.xlsx")) for e in exports]
    assert names[0] == names[1] and any("_" in n for n in names[0]), names
    differing = [n for n in names[0] if _cells(exports[0] / n) != _cells(exports[1] / n)]
    assert differing == []


def test_each_rules_record_is_the_same_in_both_homes_and_exported(homes):
    rows = _same(
        homes,
        """SELECT rule_code, month_ends, flags, converted, conversion, median_lead_days, entries, found_before,
                  early_discovery, verdict FROM monitoring.rule_backtest ORDER BY ALL""",
        "rule records",
    )
    codes = {r[0] for r in rows}
    assert {"R01", "R03", "R08", "M01", "ALL"} <= codes
    whole = next(r for r in rows if r[0] == "ALL")
    assert whole[2] > 0 and whole[6] > 0, "no flag or no entry: the back-test would judge nothing"
    assert all((home / "exports" / AS_OF / "rule_backtest.xlsx").exists() for home in homes)
