"""Parquet round-trips for our tables, keeping what plain Parquet loses.

Columns of tuples (itemsets, rule sides) are stored as ``list<int>`` and restored as tuples;
:class:`FrequentItemsets` keeps its threshold and basket count in the file's schema metadata.
Writes go to a temp file renamed into place, so readers never see half a table.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assoc_pipeline.core.mining import FrequentItemsets
from assoc_pipeline.core.tuple_columns import list_array, tuple_values

TUPLE_COLUMNS_KEY = b"assoc_pipeline.tuple_columns"
ITEMSETS_KEY = b"assoc_pipeline.itemsets"
BORDER_KEY = b"assoc_pipeline.border_token"


def _tuple_columns(df: pd.DataFrame) -> list[str]:
    return [
        str(c) for c in df.columns if df[c].dtype == object and len(df) and isinstance(df[c].iloc[0], tuple)
    ]


STALE_TEMP_SECONDS = 3600  # a temp file without a readable owner pid is stale after this long


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the hidden temp files a killed write of ``path`` left behind: those whose writer
    (the pid in the name) is gone, or without a pid and older than :data:`STALE_TEMP_SECONDS`.
    A temp of a write still running (its process alive) is kept. Returns what was removed."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        owner = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        try:
            stale = (
                not _pid_alive(int(owner))
                if owner.isdigit()
                else (time.time() - tmp.stat().st_mtime > STALE_TEMP_SECONDS)
            )
        except FileNotFoundError:
            continue  # its writer just renamed it into place
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Run ``write(tmp_path)`` then rename the temp file over ``path``: all or nothing. Temp files
    of earlier killed writes of ``path`` are removed first (the pid in the name says whose)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(table: pa.Table, path: Path) -> None:
    write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def write_json(obj: dict, path: str | os.PathLike) -> None:
    write_atomic(Path(path), lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, default=str)))


def to_arrow(df: pd.DataFrame, extra: dict[bytes, bytes] | None = None) -> pa.Table:
    cols = _tuple_columns(df)
    table = pa.Table.from_pandas(df.drop(columns=cols), preserve_index=False)
    for c in cols:
        table = table.add_column(df.columns.get_loc(c), c, list_array(df[c]))
    meta = dict(table.schema.metadata or {})
    meta[TUPLE_COLUMNS_KEY] = json.dumps(cols).encode()
    meta.update(extra or {})
    return table.replace_schema_metadata(meta)


def border_path(path: str | os.PathLike) -> Path:
    """Where the negative border of the itemsets at ``path`` lives: ``<stem>.border.parquet``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.border{path.suffix}")


def write_table(obj: pd.DataFrame | FrequentItemsets, path: str | os.PathLike) -> None:
    """Atomically write a DataFrame or FrequentItemsets as one Parquet file.

    The negative border of a FrequentItemsets (when it has one) goes to :func:`border_path`,
    written first; both files carry the same random token, so a border left over from another
    write (a crash between the two renames) is recognised and ignored.
    """
    path = Path(path)
    if isinstance(obj, FrequentItemsets):
        info: dict = {
            "n_baskets": obj.n_baskets,
            "min_count": obj.min_count,
            "target": obj.target,
            "min_len": obj.min_len,
            "max_len": obj.max_len,
        }
        if obj.provenance is not None:
            info["provenance"] = obj.provenance
        extra: dict[bytes, bytes] = {}
        if obj.border is not None:
            token = uuid.uuid4().hex
            _write(to_arrow(obj.border, {BORDER_KEY: token.encode()}), border_path(path))
            extra[BORDER_KEY] = token.encode()
        else:
            border_path(path).unlink(missing_ok=True)
        _write(to_arrow(obj.table, {ITEMSETS_KEY: json.dumps(info).encode(), **extra}), path)
    else:
        _write(to_arrow(obj), path)


def _from_arrow(table: pa.Table) -> pd.DataFrame:
    meta = table.schema.metadata or {}
    cols = json.loads(meta.get(TUPLE_COLUMNS_KEY, b"[]"))
    df = table.drop_columns(cols).to_pandas()
    for c in cols:
        df.insert(table.column_names.index(c), c, pd.Series(tuple_values(table.column(c)), dtype=object))
    return df


def read_table(path: str | os.PathLike) -> pd.DataFrame | FrequentItemsets:
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    df = _from_arrow(table)
    if ITEMSETS_KEY in meta:
        fi = FrequentItemsets(df, **json.loads(meta[ITEMSETS_KEY]))
        token = meta.get(BORDER_KEY)
        side = border_path(path)
        if token is not None and side.exists():
            border = pq.read_table(side)
            if (border.schema.metadata or {}).get(BORDER_KEY) == token:
                fi = fi.with_border(_from_arrow(border))
        return fi
    return df
