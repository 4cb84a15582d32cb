"""`jiuzhu` — the command line (README, "What you can do today").

jiuzhu synth --out DIR [--households N] [--months M] [--as-of DATE] [--seed S]
jiuzhu synth-feedback --exports DIR --landing DIR --until DATE   (townships answer a night's workbooks)
jiuzhu run   --landing DIR --home DIR [--as-of DATE] [--policy FILE]
jiuzhu ui    --home DIR [--port P] [--host ADDR]
jiuzhu daemon --home DIR [--landing DIR]   (runs the 01:30 schedule)
jiuzhu docs [--check]                      (docs/feeds.md and docs/rules.md from the configuration)
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import sys
import threading
from pathlib import Path

from jiuzhu.calendar import night_out_of_range, parse_as_of
from jiuzhu.config import load_county

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
# The commands whose process ends as soon as they have: by then every file and database they wrote is
# closed, and tearing the interpreter down (freeing what Dagster, pandas, scikit-learn and Great
# Expectations built) took 1.2-1.9 s of a night's wall time at the county default, after its last line.
QUICK_EXIT = ("run", "simulate")


def _date(text: str) -> dt.date:
    try:
        return parse_as_of(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jiuzhu", description="昌乐县低收入人口动态监测预警 jiuzhu")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="生成合成的昌乐县数据 (write a synthetic county into a landing zone)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--households", type=int, default=220_000)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD (default: yesterday, Beijing time)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--mess", type=float, default=1.0, help="scale of every mess rate (0 = clean files)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--bulk",
        action="store_true",
        help="一次性交付 the history as a county connecting on --as-of delivers it: today's snapshots and "
        "one extract per other feed with every record",
    )

    p = sub.add_parser("synth-feedback", help="合成镇街反馈 (synthetic townships answer a night's workbooks)")
    p.add_argument("--exports", required=True, type=Path, help="a night's exports folder (<home>/exports/<date>)")
    p.add_argument("--landing", required=True, type=Path)
    p.add_argument("--until", required=True, type=_date, help="the last day an answer may come back, YYYY-MM-DD")
    p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("run", help="夜间运行 (one full nightly run through Dagster)")
    p.add_argument("--landing", required=True, type=Path)
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD (default: yesterday, Beijing time)")
    p.add_argument("--policy", type=Path, default=None, help="policy file to use instead of config/policy")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="全部重新计算 (restandardise every feed from all of raw, add up core's facts and score every "
        "household again, instead of only what is new)",
    )

    p = sub.add_parser("ui", help="打开 Dagster 界面 (the Dagster UI over the same instance)")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--port", type=int, default=3000)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: this machine only; the UI has no login: README)",
    )
    p.add_argument("--landing", type=Path, default=None, help="default: the landing zone of the last run")

    p = sub.add_parser("daemon", help="运行定时任务 (the Dagster daemon: the nightly schedule at 01:30 Beijing time)")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--landing", type=Path, default=None, help="default: the landing zone of the last run")

    p = sub.add_parser(
        "simulate", help="政策测算 (a proposed policy's night beside the policy in force: households, warnings, funds)"
    )
    p.add_argument("--policy", required=True, type=Path, help="the proposal: the policy keys that change (YAML)")
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD, a night that ran (default: the latest)")

    p = sub.add_parser("docs", help="生成参考文档 (write docs/feeds.md and docs/rules.md from the configuration)")
    p.add_argument("--check", action="store_true", help="only say whether the committed documents are current")

    args = parser.parse_args(argv)
    os.umask(0o077)  # what jiuzhu writes (warehouse, exports, instance, synthetic counties) is the owner's only
    return {
        "synth": cmd_synth,
        "synth-feedback": cmd_synth_feedback,
        "run": cmd_run,
        "ui": cmd_ui,
        "daemon": cmd_daemon,
        "simulate": cmd_simulate,
        "docs": cmd_docs,
    }[args.command](args)


def cmd_synth(args: argparse.Namespace) -> int:
    from synth import generate

    summary = generate(
        args.out.resolve(),
        households=args.households,
        months=args.months,
        as_of=args.as_of or parse_as_of(None),
        seed=args.seed,
        mess=args.mess,
        progress=not args.quiet,
        bulk=args.bulk,
    )
    print(
        f"合成县已写入 synthetic county written: {args.out.resolve() / 'landing'}  (truth: {args.out.resolve() / 'truth'})"
    )
    for key in ("households", "persons", "seconds"):
        if key in summary:
            print(f"  {key}: {summary[key]}")
    return EXIT_OK


def cmd_synth_feedback(args: argparse.Namespace) -> int:
    from synth.feedback import answer_workbooks

    if not args.exports.is_dir():
        print(f"错误：导出目录不存在 exports folder not found: {args.exports}", file=sys.stderr)
        return EXIT_USAGE
    planted = answer_workbooks(args.exports.resolve(), args.landing.resolve(), args.until, args.seed)
    mistakes = sum(1 for p in planted if p["mistake"])
    print(
        f"镇街反馈已放入 township answers dropped into {args.landing.resolve() / 'zj_feedback'}: "
        f"{len(planted)} rows answered ({mistakes} with a planted mistake)"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.nightly import run_night

    landing, home = args.landing.resolve(), args.home.resolve()
    if not landing.is_dir():
        print(f"错误：接收目录不存在 landing zone not found: {landing}\n请检查 --landing 参数。", file=sys.stderr)
        return EXIT_USAGE
    if args.policy is not None and not args.policy.is_file():
        print(f"错误：政策文件不存在 policy file not found: {args.policy}", file=sys.stderr)
        return EXIT_USAGE
    as_of = args.as_of or parse_as_of(None)
    if problem := night_out_of_range(as_of, load_county().first_night):
        print(f"错误 error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return run_night(landing, home, as_of, args.policy, args.rebuild)


def cmd_ui(args: argparse.Namespace) -> int:
    from pipelines.instance import open_instance

    home = args.home.resolve()
    open_instance(home, args.landing.resolve() if args.landing else None).dispose()  # storage created once, here
    webserver = Path(sys.executable).parent / "dagster-webserver"
    command = [str(webserver), "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI: http://{args.host}:{args.port}  (instance {os.environ['DAGSTER_HOME']})", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "注意：界面没有登录，请只在县里的身份认证代理之后开放 the UI has no login: serve it only behind "
            "the county's authenticating proxy (README)",
            file=sys.stderr,
            flush=True,
        )
    os.execv(command[0], command)
    return EXIT_OK  # not reached


def cmd_daemon(args: argparse.Namespace) -> int:
    from pipelines.alerts import write_alert
    from pipelines.instance import open_instance
    from pipelines.recovery import recover

    home = args.home.resolve()
    instance = open_instance(home, args.landing.resolve() if args.landing else None)
    if "JIUZHU_LANDING" not in os.environ:
        print("错误：不知道接收目录：请先运行一次 jiuzhu run，或指定 --landing", file=sys.stderr)
        return EXIT_USAGE
    # start-up check: runs a dead daemon or run worker left in progress would hold the warehouse's slot
    # forever (the sensor recover_dead_runs repeats this every minute while the daemon runs)
    live = recover(
        instance,
        home,
        lambda run: print(
            f"已清理 RECOVERED：运行 {run.run_id} 的进程已不存在，已标记失败。告警 alert: {write_alert(instance, run, home)}",
            file=sys.stderr,
        ),
        "found when the daemon started",
    ).live
    if live:
        print(
            f"注意：仍有 {len(live)} 个运行在进行 (still in progress): {', '.join(r.run_id for r in live)}",
            file=sys.stderr,
        )
    daemon = Path(sys.executable).parent / "dagster-daemon"
    command = [str(daemon), "run", "-m", "pipelines.definitions"]
    print(f"Dagster daemon (schedule nightly_0130_beijing), instance {os.environ['DAGSTER_HOME']}", flush=True)
    os.execv(command[0], command)
    return EXIT_OK  # not reached


def cmd_simulate(args: argparse.Namespace) -> int:
    from assets.simulation import latest_night, run_simulation
    from jiuzhu.policy import PolicyError
    from transform.monitoring.simulation import SimulationError
    from warehouse.resource import connect

    home = args.home.resolve()
    if not args.policy.is_file():
        print(f"错误：提案文件不存在 proposal not found: {args.policy}", file=sys.stderr)
        return EXIT_USAGE
    if not (home / "warehouse.duckdb").is_file():
        print(f"错误：{home} 下没有仓库 no warehouse: 先运行 jiuzhu run --home {home}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with connect(home / "warehouse.duckdb") as con:
            as_of = args.as_of or latest_night(con)
            _, report, workbook, figures_path = run_simulation(con, home, args.policy, as_of)
    except (PolicyError, SimulationError, ValueError) as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    f = report.figures
    print(f"政策测算 simulation: 提案 {report.name} ({report.digest}), {as_of}")
    for problem in report.compliance:
        print(f"  提示 warning: {problem}")
    print(
        f"  新增符合条件 newly eligible: {f['newly_eligible']:,} 户; 不再符合 no longer eligible: {f['no_longer_eligible']:,} 户"
    )
    print(f"  预警 warnings: +{f['warnings_added']:,} / -{f['warnings_removed']:,}")
    print(
        f"  月度资金需求 monthly demand: {f['monthly_demand_in_force']:,.0f} -> {f['monthly_demand']:,.0f} 元 "
        f"({f['monthly_demand'] - f['monthly_demand_in_force']:+,.0f}); 年度 annual {f['annual_demand']:,.0f} 元"
    )
    print(f"工作簿 workbook: {workbook}\n数字 figures: {figures_path}")
    return EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    from pipelines.reference_docs import stale_docs, write_docs

    if args.check:
        stale = stale_docs()
        for name in stale:
            print(f"过期 STALE docs/{name}: run `jiuzhu docs` (or `make docs`)", file=sys.stderr)
        return EXIT_RUN_FAILED if stale else EXIT_OK
    for path in write_docs():
        print(f"written: {path}")
    return EXIT_OK


def entry() -> None:
    """The `jiuzhu` command: main(), then the process ends. After a command of QUICK_EXIT, the exit
    handlers run and the output is flushed, but the interpreter is not torn down, unless a thread
    other than this one is still at work (then the exit waits for it, as usual)."""
    code = main()
    alone = all(t is threading.current_thread() or t.daemon for t in threading.enumerate())
    if sys.argv[1:2] and sys.argv[1] in QUICK_EXIT and alone:
        atexit._run_exitfuncs()  # what Python itself runs at exit (logging's flush among them)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
