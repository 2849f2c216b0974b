"""EASE inverses kept on disk, so the step processes of one run (and later runs) share them.

Why: every Dagster step runs in a process of its own, and the same (baskets, lambda) inverse is
computed by several of them: the tuning, the hybrid, both DNNs, the ranker, the report and the
recommendations (9 of the demo's 28 inverses were repeats across steps; at 10k items each costs
~7 s on 2 cores). A computed block is written once, atomically, and read back memory-mapped and
read-only, so processes reading the same block share its pages.

Keys are content hashes of the basket matrix plus lambda (``ease._matrix_key``), so an entry never
goes stale; the oldest entries beyond ``max_bytes`` are deleted after each write.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "ease1"  # part of every file name: a change of the block's layout starts a fresh cache
# a whole run's blocks at 100k items (~19, up to 400 MB each at 10k kept items); the demo's: ~40 MB
# each. Smaller, the ranker's ~14 history cuts push the DNN's blocks out before the fine-tuning
DEFAULT_MAX_MB = 8192


@dataclass(frozen=True)
class EaseDiskCache:
    """``(active items, B block)`` pairs under ``directory``, at most ``max_bytes`` in all."""

    directory: Path
    max_bytes: int = DEFAULT_MAX_MB << 20

    def read(self, key: tuple[str, float], own: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored pair, or None when absent or unreadable. The block is memory-mapped and
        read-only (processes reading it share its pages); ``own=True``: a writable copy in this
        process's memory instead, for a caller that keeps it as its own (a mapped block copied
        would count twice)."""
        block_path, active_path = self._paths(key)
        try:
            block = np.load(block_path) if own else np.asarray(np.load(block_path, mmap_mode="r"))
            active = np.load(active_path)
            os.utime(block_path)  # recently used: evicted last
        except (OSError, ValueError, EOFError):
            return None
        return active, block

    def write(self, key: tuple[str, float], active: np.ndarray, block: np.ndarray) -> None:
        """Store a pair (each file written under a private name, then renamed into place: a reader
        sees a whole file or none); a failed write (disk full, read-only) is skipped, not raised."""
        block_path, active_path = self._paths(key)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for path, array in ((active_path, active), (block_path, block)):  # the block last
                partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
                with open(partial, "wb") as fh:
                    np.save(fh, array)
                os.replace(partial, path)
        except OSError:
            return
        self._evict()

    def _paths(self, key: tuple[str, float]) -> tuple[Path, Path]:
        digest, l2 = key
        stem = f"{FORMAT}-{digest}-{float(l2)!r}"
        return self.directory / f"{stem}.npy", self.directory / f"{stem}.items.npy"

    def _evict(self) -> None:
        """Delete the least recently used blocks (and their item lists) beyond ``max_bytes``."""
        blocks = []
        for path in self.directory.glob(f"{FORMAT}-*.npy"):
            if path.name.endswith(".items.npy"):
                continue
            try:
                stat = path.stat()
            except OSError:  # deleted by another process meanwhile
                continue
            blocks.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in blocks)
        for _, size, path in sorted(blocks)[:-1]:  # never the newest
            if total <= self.max_bytes:
                break
            for victim in (path, path.with_name(path.name.removesuffix(".npy") + ".items.npy")):
                victim.unlink(missing_ok=True)
            total -= size
