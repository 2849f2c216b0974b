"""Where raw events come from: a file (or a folder of files) in any supported format."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assoc_pipeline.core.data import schema
from assoc_pipeline.core.data.schema import FORMATS, detect_format, read_events
from assoc_pipeline.core.errors import InputError

EVENT_FILE_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".parquet", ".xlsx", ".xls")


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
        # a file the source would skip is refused, not skipped: a month saved as .tsv or .bak
        # vanished from the partitions, and nothing looked missing
        others = sorted(
            p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".") and p not in found
        )
        if others:
            raise InputError(
                f"event source {root}: {len(others)} file(s) that are not event files: "
                f"{', '.join(others[:5])}{' ...' if len(others) > 5 else ''} (event files end with "
                f"{', '.join(EVENT_FILE_SUFFIXES)}): convert them, or move them out of the folder"
            )
        return found

    def source_format(self) -> str:
        """The source's format, ``auto`` resolved from its files (cleaning picks its rules by it).

        The inbox's landed files are canonical copies of files in the source's own format, so
        only the source files count; files of different formats in one folder are an error.
        """
        if self.format != "auto":
            return self.format
        found = {f.name: detect_format(f) for f in self.files()}
        formats = sorted(set(found.values()))
        if len(formats) > 1:
            raise InputError(
                f"event source {self.path}: files of different formats ({found}); set the format "
                "(setting format / ASSOC_SOURCE_FORMAT) or split the folder"
            )
        return formats[0]

    def landed_files(self) -> list[Path]:
        landing = Path(self.landing_dir) if self.landing_dir else None
        return event_files(landing) if landing and landing.is_dir() else []

    def read(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """The whole log, or with ``start``/``end`` only the events with ``start <= event_time < end``.

        With a window, Parquet event files are read partition-pruned: row groups whose
        ``event_time`` statistics lie outside the window (whole files, when all of theirs do) are
        never decoded. Other formats are parsed whole (cached per file version) and filtered.
        The window bounds are naive timestamps, like the canonical ``event_time``.
        """
        if self.format not in FORMATS:
            raise InputError(
                f"event source setting format={self.format!r}: expected one of {', '.join(FORMATS)}"
            )
        if start is not None or end is not None:
            return self._read_window(start, end)
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

    def _read_window(self, start: datetime | None, end: datetime | None) -> pd.DataFrame:
        lo = pd.Timestamp(start) if start is not None else None
        hi = pd.Timestamp(end) if end is not None else None
        mapping = dict(self.column_mapping)
        sources = [(f, self.format, mapping) for f in self.files()]
        sources += [(f, "events", {}) for f in self.landed_files()]
        frames = []
        for f, fmt, fmap in sources:
            if _is_parquet_events(f, fmt):
                part = read_parquet_events_window(f, lo, hi, fmap)
            else:
                st = f.stat()
                key = tuple(sorted(fmap.items()))
                events = _read_cached(str(f), fmt, key, (st.st_mtime_ns, st.st_size))
                if events["event_time"].isna().all():
                    raise InputError(
                        f"event source {f}: has no event timestamps (a one-basket-per-line file?); "
                        "time-partitioned ingestion needs an event log — use `assoc-pipeline mine` for "
                        "basket files"
                    )
                part = events.loc[_in_window(events["event_time"], lo, hi)]
            if len(part):
                frames.append(part)
        if not frames:
            return _empty_events()
        return frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def months(self, cache_dir: Path | None = None) -> list[str]:
        """The months the source has events in ("YYYY-MM-01", sorted), cached per source version
        in ``cache_dir`` so loading the Definitions does not parse a large log every time."""
        import json

        version = self.version()
        cache = Path(cache_dir) / "source_months.json" if cache_dir else None
        if cache is not None and cache.exists():
            stored = json.loads(cache.read_text())
            if stored.get("version") == version and stored.get("path") == self.path:
                return list(stored["months"])
        events = self.read()
        months = pd.PeriodIndex(events["event_time"].dropna(), freq="M").unique().sort_values()
        found = [m.start_time.strftime("%Y-%m-%d") for m in months]
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"path": self.path, "version": version, "months": found}))
        return found

    def version(self) -> str:
        """Content fingerprint of the source files (name, size, mtime): the data version."""
        h = hashlib.sha256()
        for f in [*self.files(), *self.landed_files()]:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]


def _is_parquet_events(path: Path, fmt: str) -> bool:
    return path.name.lower().endswith(".parquet") and fmt in ("auto", "events")


def _in_window(times: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> np.ndarray:
    keep = np.ones(len(times), dtype=bool)
    if lo is not None:
        keep &= (times >= lo).to_numpy()
    if hi is not None:
        keep &= (times < hi).to_numpy()
    return keep


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.CANONICAL_COLUMNS.items()})


def _stat_timestamp(value: object) -> pd.Timestamp | None:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return None if ts is pd.NaT or ts.tzinfo is not None else ts


def parquet_row_groups_in_window(
    path: str | Path, time_column: str, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[list[int], int]:
    """Row groups of a Parquet file that may hold ``start <= time_column < end``, and how many it has.

    Decided from the footer's min/max statistics alone. A row group is kept (conservatively) when
    the column is not a naive timestamp or has no statistics; only provably disjoint ones are cut.
    """
    meta = pq.ParquetFile(path).metadata
    arrow_schema = pq.read_schema(path)
    n = meta.num_row_groups
    if time_column not in arrow_schema.names:
        return list(range(n)), n
    field_type = arrow_schema.field(time_column).type
    if not pa.types.is_timestamp(field_type) or field_type.tz is not None:
        return list(range(n)), n
    col = meta.schema.names.index(time_column) if time_column in meta.schema.names else None
    keep = []
    for i in range(n):
        chunk = meta.row_group(i).column(col) if col is not None else None
        stats = chunk.statistics if chunk is not None and chunk.path_in_schema == time_column else None
        if stats is None or not stats.has_min_max:
            keep.append(i)
            continue
        lo, hi = _stat_timestamp(stats.min), _stat_timestamp(stats.max)
        unknown = lo is None or hi is None
        if unknown or ((end is None or lo < end) and (start is None or hi >= start)):
            keep.append(i)
    return keep, n


def read_parquet_events_window(
    path: str | Path,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    column_mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Canonical events of one Parquet file with ``start <= event_time < end``, partition-pruned.

    Only the row groups :func:`parquet_row_groups_in_window` keeps are decoded (none for a file
    outside the window); they are mapped to the canonical schema exactly as ``read_events`` does
    (format ``events``), then cut to the window row by row.
    """
    path = Path(path)
    mapping = dict(column_mapping or {})
    time_column = mapping.get("event_time", "event_time")
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        groups, _ = parquet_row_groups_in_window(path, time_column, start, end)
        if not groups:
            return _empty_events()
        raw = pq.ParquetFile(path).read_row_groups(groups).to_pandas(**schema.PARQUET_TO_PANDAS)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: could not be read as a table: {type(exc).__name__}: {exc}") from exc
    if raw.empty:
        return _empty_events()
    events = schema.canonical_from_frame(path, raw, mapping)
    return events.loc[_in_window(events["event_time"], start, end)].reset_index(drop=True)
