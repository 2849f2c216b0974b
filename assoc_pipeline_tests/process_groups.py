"""Stopping a server a test started: its whole process group, SIGTERM first, SIGKILL what is left.

Servers (mlflow models serve, the Dagster webserver, assoc-pipeline serve) start workers of their
own; a loaded machine can take longer than any fixed wait to shut them down gracefully, and a
stop that only waits would fail a test whose assertions all passed. Start the server with
``start_new_session=True`` so that it leads its own group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

STOP_GRACE_S = 20


def group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader, or it stays in its group as a zombie
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(proc: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the whole group (server and its workers), then SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait_s
        while group_alive(proc) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not group_alive(proc):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
