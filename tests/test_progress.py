"""`jiuzhu run` says what it is doing: a line as each step starts and ends, with elapsed time."""

from __future__ import annotations

import io
import re

import dagster as dg

from pipelines.progress import StepPrinter


@dg.asset
def first() -> int:
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


def test_each_step_is_printed_when_it_starts_and_ends():
    instance = dg.DagsterInstance.ephemeral()
    out = io.StringIO()
    printer = StepPrinter(instance, "not-started-yet", out=out)
    printer.poll()  # before the run exists: nothing, no error
    result = dg.materialize([first, second], instance=instance)
    printer.run_id = result.run_id
    printer.poll()
    printer.poll()  # nothing twice
    lines = out.getvalue().splitlines()
    assert [re.sub(r"^\s*\[\d\d:\d\d\] ", "", line).split()[:3] for line in lines] == [
        ["开始", "start", "first"],
        ["完成", "done", "first"],
        ["开始", "start", "second"],
        ["完成", "done", "second"],
    ]
    assert all(re.search(r" \d+\.\d s$", line) for line in lines if "done" in line)
