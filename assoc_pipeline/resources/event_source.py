"""Where raw events come from: a file (or a folder of files) in any supported format."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.schema import FORMATS, read_events

EVENT_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".xlsx")


def event_files(folder: Path) -> list[Path]:
    """Event files of a folder, in name order (hidden and temporary files ignored)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(EVENT_FILE_SUFFIXES)
    )


@lru_cache(maxsize=4)
def _read_cached(
    path: str, fmt: str, mapping: tuple[tuple[str, str], ...], stamp: tuple[int, int]
) -> pd.DataFrame:
    """One parse per file version per process: monthly partitions of one file reuse it."""
    return read_events(path, fmt, dict(mapping))


class EventSourceResource(dg.ConfigurableResource):
    """An event log in the canonical schema, read through the format adapters of core.schema.

    ``path`` is a file, or a folder whose event files are all read. ``landing_dir`` holds the
    files the inbox sensor validated (canonical Parquet); they are read too when present.
    ``column_mapping`` maps canonical column names to the source's names (format ``events``).
    """

    path: str
    format: str = "auto"
    column_mapping: dict[str, str] = {}  # noqa: RUF012 - pydantic copies field defaults
    landing_dir: str = ""

    def files(self) -> list[Path]:
        root = Path(self.path)
        if not root.exists():
            raise InputError(
                f"event source {root}: file or folder not found (setting ASSOC_SOURCE / resource path)"
            )
        if root.is_file():
            return [root]
        found = event_files(root)
        if not found:
            raise InputError(
                f"event source {root}: folder holds no event files ({', '.join(EVENT_FILE_SUFFIXES)})"
            )
        return found

    def landed_files(self) -> list[Path]:
        landing = Path(self.landing_dir) if self.landing_dir else None
        return event_files(landing) if landing and landing.is_dir() else []

    def read(self) -> pd.DataFrame:
        if self.format not in FORMATS:
            raise InputError(
                f"event source setting format={self.format!r}: expected one of {', '.join(FORMATS)}"
            )
        frames = []
        mapping = tuple(sorted(self.column_mapping.items()))
        for f in self.files():
            st = f.stat()
            frames.append(_read_cached(str(f), self.format, mapping, (st.st_mtime_ns, st.st_size)))
        for f in self.landed_files():  # already canonical (written by the inbox sensor)
            st = f.stat()
            frames.append(_read_cached(str(f), "events", (), (st.st_mtime_ns, st.st_size)))
        events = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        if events["event_time"].isna().all():
            raise InputError(
                f"event source {self.path}: has no event timestamps (a one-basket-per-line file?); "
                "time-partitioned ingestion needs an event log — use `assoc-pipeline mine` for basket files"
            )
        return events

    def version(self) -> str:
        """Content fingerprint of the source files (name, size, mtime): the data version."""
        h = hashlib.sha256()
        for f in [*self.files(), *self.landed_files()]:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]
