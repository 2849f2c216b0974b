"""The exposure log: requests hand rows over in memory; a background thread writes them in batches.

A request only appends a dict to a list under a lock (microseconds, no disk I/O). The writer
thread wakes every ``flush_seconds`` (or as soon as ``batch_rows`` are waiting), takes the whole
buffer and appends it as one new part file (``core/experiments/exposure_table.py``). A write that
fails puts its rows back in front of the buffer for the next try, so a full disk delays rows but
does not drop them; :meth:`close` (the app's lifespan stop) stops the thread and writes what is
left, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from assoc_pipeline.core.experiments.exposure_table import write_part

log = logging.getLogger("assoc_pipeline.serving")


@dataclass
class LogStatus:
    """What /health reports about the log."""

    recorded: int = 0
    written: int = 0
    parts: int = 0
    write_failures: int = 0
    last_error: str | None = None


class ExposureLog:
    """Buffered, append-only writer of exposure rows into ``directory``."""

    def __init__(self, directory: str | Path, flush_seconds: float = 2.0, batch_rows: int = 5_000) -> None:
        self.directory = Path(directory)
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.status = LogStatus()
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer at a time (the thread, or close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, row: dict) -> None:
        """Queue one exposure (never touches the disk)."""
        with self._lock:
            self._rows.append(row)
            self.status.recorded += 1
            full = len(self._rows) >= self.batch_rows
        if full:
            self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def flush(self) -> int:
        """Write every queued row as one part file now; the number written (0 on a failed write)."""
        with self._write_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                write_part(rows, self.directory)
            except Exception as exc:  # keep the rows: the next flush tries again
                with self._lock:
                    self._rows[:0] = rows
                self.status.write_failures += 1
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.error("writing %d exposures to %s failed (kept, retrying): %s",
                          len(rows), self.directory, exc)  # fmt: skip
                return 0
            self.status.written += len(rows)
            self.status.parts += 1
            return len(rows)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="exposure-log", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the writer and write what is left (a failure here is logged with the rows' count)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
        if self.pending:
            log.error("%d exposures could not be written to %s at shutdown", self.pending, self.directory)
