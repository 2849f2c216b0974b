"""The exposure table: one row per answer shown to someone in an experiment, append-only.

Stored as Parquet part files in one folder: each write adds a new file (``part-<ns>-<id>.parquet``,
written to a hidden temp file and renamed into place), nothing is ever rewritten, so a reader
never sees half a batch and a crash loses at most the batch being written. Part names sort by
write time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assoc_pipeline.core.tables import write_atomic

EXPOSURES_DIR = "ab_exposures"  # under the assets folder
SCHEMA = pa.schema(
    [
        ("time", pa.timestamp("us", tz="UTC")),  # when the answer was shown
        ("experiment", pa.string()),  # the salt of the assignment (one experiment, one name)
        ("unit_id", pa.string()),  # what was hashed: the user id, else the basket/session id
        ("user_id", pa.string()),  # null for an anonymous basket
        ("basket_id", pa.string()),  # the basket/session id the client sent, if any
        ("arm", pa.string()),  # champion | challenger
        ("model_name", pa.string()),
        ("model_version", pa.string()),  # null for a baseline standing in as champion
        ("query_kind", pa.string()),  # next_basket | completion | similar
        ("items", pa.list_(pa.string())),  # the item ids shown, in rank order
        ("source", pa.string()),  # live | replay
    ]
)
COLUMNS = tuple(SCHEMA.names)


def exposure_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows (dicts with :data:`COLUMNS`) as a typed frame; an empty frame has the same columns."""
    return pa.Table.from_pylist(list(rows), schema=SCHEMA).to_pandas()


def write_part(rows: Sequence[dict], directory: str | Path) -> Path:
    """Append ``rows`` as one new part file; returns its path."""
    table = pa.Table.from_pylist(list(rows), schema=SCHEMA)
    path = Path(directory) / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))
    return path


def part_files(directory: str | Path) -> list[Path]:
    """The finished part files, oldest write first (hidden temp files are not parts)."""
    directory = Path(directory)
    return sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []


def read_exposures(directory: str | Path) -> pd.DataFrame:
    """Every exposure in ``directory`` (an empty typed frame when there is none)."""
    parts = part_files(directory)
    if not parts:
        return exposure_frame([])
    return pa.concat_tables([pq.read_table(p, schema=SCHEMA) for p in parts]).to_pandas()


def latest_experiment(exposures: pd.DataFrame) -> str | None:
    """The experiment of the most recently written exposure (rows are in write order)."""
    return None if exposures.empty else str(exposures["experiment"].iloc[-1])
