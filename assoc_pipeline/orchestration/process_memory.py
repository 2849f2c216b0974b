"""Peak resident memory of this process and all its descendants, sampled while work runs.

``ru_maxrss`` sees only this process (and children it has reaped): once steps run in their own
processes, forked from a forkserver, the demo's own peak says nothing about the machine. On Linux
a thread sums ``VmRSS`` over the process tree every half second; elsewhere the peak falls back to
``ru_maxrss`` of this process and its reaped children.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path

PROC = Path("/proc")
SAMPLE_SECONDS = 0.5


def tree_rss_mb(root: int | None = None) -> float:
    """Resident MB of ``root`` (default: this process) and every descendant, from /proc."""
    root = root or os.getpid()
    parents: dict[int, int] = {}
    rss: dict[int, float] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:  # gone since the listing
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = float(fields.get("VmRSS", "0 kB").split()[0]) / 1024.0
    tree, frontier = {root}, [root]
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0.0) for pid in tree)


def own_peak_mb() -> float:
    """``ru_maxrss`` of this process and its reaped children, in MB (Linux reports KiB)."""
    return (
        max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        / 1024.0
    )


class PeakMemory:
    """Context manager: ``peak_mb`` is the largest tree-wide resident size seen while inside.

    ``tree=False`` (the work runs in this process): no sampling thread, only ``ru_maxrss``, which
    is exact where sampling can miss a short peak, and takes no time from the work (scanning
    /proc every half second cost the one-lane demo ~2 s of CPU and the GIL)."""

    def __init__(self, every_seconds: float = SAMPLE_SECONDS, tree: bool = True) -> None:
        self.every_seconds = every_seconds
        self.peak_mb = 0.0
        self._sampling = tree and PROC.is_dir()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        if self._sampling:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampling:
            self._stop.set()
            self._thread.join(timeout=5)
        self.peak_mb = max(self.peak_mb, own_peak_mb())

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, tree_rss_mb())
            except OSError:  # /proc unreadable: keep the fallback
                return
            self._stop.wait(self.every_seconds)
