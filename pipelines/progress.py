"""What `jiuzhu run` prints while the night runs: a line as each step starts and ends, with the
time since the run began and the step's own duration (a county night takes many minutes; a
silent terminal looks hung). Read from the run's event log, so it shows what Dagster did."""

from __future__ import annotations

import sys
import time

import dagster as dg

STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}
ENDED = {
    dg.DagsterEventType.STEP_SUCCESS: "完成 done",
    dg.DagsterEventType.STEP_FAILURE: "失败 FAILED",
    dg.DagsterEventType.STEP_SKIPPED: "跳过 skipped",
}


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:02d}:{seconds:02d}"


class StepPrinter:
    """``poll()`` prints the steps that started or ended since the last call (none before the run exists)."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, out=None):
        self.instance, self.run_id, self.out = instance, run_id, out or sys.stdout
        self.cursor: str | None = None
        self.began = time.time()
        self.started: dict[str, float] = {}

    def poll(self) -> None:
        found = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, of_type=STEP_EVENTS)
        for record in found.records:
            event = record.event_log_entry.dagster_event
            if event is None or event.step_key is None:
                continue
            at = record.event_log_entry.timestamp
            if event.event_type == dg.DagsterEventType.STEP_START:
                self.started[event.step_key] = at
                print(f"  [{_clock(at - self.began)}] {'开始 start':<10} {event.step_key}", file=self.out, flush=True)
            else:
                took = at - self.started.get(event.step_key, at)
                print(
                    f"  [{_clock(at - self.began)}] {ENDED[event.event_type]:<10} {event.step_key}  {took:.1f} s",
                    file=self.out,
                    flush=True,
                )
        self.cursor = found.cursor or self.cursor
