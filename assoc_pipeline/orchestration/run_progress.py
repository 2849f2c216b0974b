"""Readable progress of a Dagster run while it executes: asset by asset, epoch by epoch.

A watcher thread follows the run's event log in the instance (the same records the UI shows):
it prints one line when an asset starts and one when it finishes (with its time), and the
training loop's "epoch k/n" lines as they arrive; afterwards it holds every asset's wall time.
Nothing here changes what runs; it only reads.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg

POLL_SECONDS = 1.0  # display latency only (times come from the events); each poll opens the SQLite log


@dataclass
class StepTimes:
    """Wall seconds per asset (step), in the order they finished."""

    seconds: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


class RunWatcher:
    """Follows the newest run tagged ``tag=value`` and narrates it to ``out``.

    ``assets`` are the steps counted as "[k/n]"; other steps of the run (asset checks that run as
    their own step) are narrated without a number, so the count never runs past its total.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        tag: tuple[str, str],
        assets: list[str],
        out: TextIO = sys.stdout,
        show_message: Callable[[str], bool] = lambda m: " epoch " in m,
    ) -> None:
        self.instance, self.tag, self.out = instance, tag, out
        self.assets, self.total = set(assets), len(assets)
        self._counted = 0
        self.show_message = show_message
        self.times = StepTimes()
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._cursor: str | None = None
        self._run_id: str | None = None

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()  # the events written after the last poll

    def _find_run(self) -> str | None:
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={self.tag[0]: self.tag[1]}), limit=1)
        return runs[0].run_id if runs else None

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain()
            except Exception as exc:  # narration must never break the run it narrates
                print(f"  (progress display stopped: {type(exc).__name__}: {exc})", file=self.out, flush=True)
                return
            self._stop.wait(POLL_SECONDS)

    def _drain(self) -> None:
        if self._run_id is None:
            self._run_id = self._find_run()
            if self._run_id is None:
                return
        conn = self.instance.event_log_storage.get_records_for_run(
            self._run_id, cursor=self._cursor, limit=1000
        )
        self._cursor = conn.cursor
        for record in conn.records:
            self._show(record.event_log_entry)

    def _show(self, entry: dg.EventLogEntry) -> None:
        step = entry.step_key or ""
        event = entry.dagster_event
        kind = event.event_type_value if event is not None else None
        if kind == "STEP_START":
            self._started[step] = entry.timestamp
            if step in self.assets:
                self._counted += 1
                print(f"[{self._counted:>2}/{self.total}] {step} ...", file=self.out, flush=True)
            else:
                print(f"        check {step} ...", file=self.out, flush=True)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds = entry.timestamp - self._started.get(step, entry.timestamp)
            if kind == "STEP_SUCCESS":
                self.times.seconds[step] = seconds
                print(f"        {step} done in {seconds:.1f} s", file=self.out, flush=True)
            else:
                self.times.failed.append(step)
                print(f"        {step} FAILED after {seconds:.1f} s", file=self.out, flush=True)
        elif event is None and entry.user_message and self.show_message(entry.user_message):
            # named: with steps side by side, two models' epochs interleave
            print(f"        {step} {entry.user_message}".rstrip(), file=self.out, flush=True)
