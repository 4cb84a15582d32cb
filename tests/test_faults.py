"""Faults of the machine or the home end in one console line saying what to do, and an alert,
before the night touches anything: a full disk, a policy number out of range, a damaged,
missing or wrongly keyed warehouse."""

from __future__ import annotations

import pytest
import yaml

from jiuzhu.config import CONFIG_DIR
from jiuzhu.policy import policy_problems
from pipelines import faults, nightly
from pipelines.cli import main
from warehouse.resource import connect

AS_OF = "2026-11-28"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("JIUZHU_WAREHOUSE_KEY", "ab" * 32)
    monkeypatch.setenv("JIUZHU_PERSON_KEY", "cd" * 32)
    (tmp_path / "landing").mkdir()
    return tmp_path / "home"


def run(tmp_path, home, *extra) -> int:
    return main(["run", "--landing", str(tmp_path / "landing"), "--home", str(home), "--as-of", AS_OF, *extra])


def one_alert(home, code: str) -> str:
    [alert] = (home / "alerts").glob(f"*_{code.lower()}.md")
    return alert.read_text(encoding="utf-8")


def test_a_policy_number_out_of_range_is_named_before_any_sql(tmp_path, home, capsys):
    policy = yaml.safe_load((CONFIG_DIR / "policy" / "2021-10-09.yaml").read_text(encoding="utf-8"))
    policy["rules"]["petition_window_days"] = -90
    policy["model"]["m01_threshold"] = 1.5
    bad = tmp_path / "proposed.yaml"
    bad.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    assert run(tmp_path, home, "--policy", str(bad)) == 1
    err = capsys.readouterr().err
    assert (
        "POLICY" in err and "petition_window_days" in err and "-90 不在 1–3660 之间" in err and "m01_threshold" in err
    )
    assert "Traceback" not in err
    assert "petition_window_days" in one_alert(home, "POLICY")
    assert not (home / "warehouse.duckdb").exists()  # nothing ran


def test_every_policy_key_is_required():
    policy = yaml.safe_load((CONFIG_DIR / "policy" / "2021-10-09.yaml").read_text(encoding="utf-8"))
    assert policy_problems(policy) == []
    del policy["episodes"]["response_days"]["红"]
    policy["levels"]["红"].remove("R06")
    problems = policy_problems(policy)
    assert any("response_days.红：缺少" in p for p in problems) and any("R06" in p for p in problems)


def test_a_full_disk_is_said_in_one_line_with_what_to_do(tmp_path, home, capsys, monkeypatch):
    monkeypatch.setattr(nightly, "free_bytes", lambda path: 200 << 20)
    monkeypatch.setattr(faults, "free_bytes", lambda path: 200 << 20)
    assert run(tmp_path, home) == 1
    err = capsys.readouterr().err
    assert "DISK_FULL" in err and "200 MB" in err and "清理磁盘" in err
    assert "DISK_FULL" in one_alert(home, "DISK_FULL")
    # a step that fails on a full disk is diagnosed the same way
    assert (
        faults.diagnose("IOException: IO Error: Could not write file: No space left on device", home).code
        == "DISK_FULL"
    )


@pytest.mark.parametrize("damage", ["zero bytes", "truncated", "a corrupt page"])
def test_a_damaged_warehouse_is_said_in_one_line_and_left_as_it_is(tmp_path, home, capsys, damage):
    with connect(home / "warehouse.duckdb") as con:  # a warehouse whose file register fills most of it
        con.execute("""INSERT INTO audit.files (file_id, feed, file_name, sha256, status, ingested_at)
                       SELECT range, 'wj_deaths', 'd_' || range || '.csv', sha256(range::VARCHAR), 'loaded', now()
                       FROM range(100000)""")
    path = home / "warehouse.duckdb"
    data = bytearray(path.read_bytes())
    if damage == "zero bytes":
        data = bytearray()
    elif damage == "truncated":
        data = data[: len(data) // 3]
    else:
        middle = len(data) // 2
        data[middle : middle + 4096] = bytes(4096)
    path.write_bytes(bytes(data))
    assert run(tmp_path, home) == 1
    err = capsys.readouterr().err
    assert "WAREHOUSE_DAMAGED" in err and "备份" in err and "Traceback" not in err
    assert "WAREHOUSE_DAMAGED" in one_alert(home, "WAREHOUSE_DAMAGED")
    assert path.read_bytes() == bytes(data)  # left as it was found, for inspection


def test_a_missing_warehouse_is_not_silently_replaced(tmp_path, home, capsys):
    with connect(home / "warehouse.duckdb"):
        pass
    (home / "warehouse.duckdb").unlink()
    assert run(tmp_path, home) == 1
    err = capsys.readouterr().err
    assert "WAREHOUSE_MISSING" in err and "state/warehouse.json" in err
    assert not (home / "warehouse.duckdb").exists()


@pytest.mark.slow  # two whole nights through the CLI
def test_a_failed_run_never_prints_an_earlier_nights_figures_as_its_own(tmp_path, home, capsys, monkeypatch):
    from jiuzhu.idnumber import make_id

    people = [make_id("370725", "19500101", 100 + i) for i in range(3)]
    roster = "户编号,身份证号,姓名,与户主关系,户口性质,镇街,村居\n" + "".join(
        f"H{i},{pid},人{i},户主,农村,红河,甲村\n" for i, pid in enumerate(people)
    )
    (tmp_path / "landing" / "mz_members").mkdir()
    (tmp_path / "landing" / "mz_members" / "m_20261128.csv").write_text(roster, encoding="utf-8")
    assert run(tmp_path, home) == 0
    assert "预警 warnings:" in capsys.readouterr().out  # the night's list, printed

    import assets.monitoring

    def broken(*args, **kwargs):
        raise RuntimeError("the rules step failed tonight")

    monkeypatch.setattr(assets.monitoring, "build_warnings", broken)
    assert run(tmp_path, home) == 1  # the same night again: this time the list is not built
    captured = capsys.readouterr()
    assert "预警 warnings:" not in captured.out  # last run's count is not tonight's
    assert "FAILED step" in captured.err and "RuntimeError: the rules step failed tonight" in captured.err
    assert "1 个步骤失败" in captured.err
