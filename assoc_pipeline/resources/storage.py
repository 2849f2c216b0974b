"""Parquet storage for assets: atomic writes, partition-aware reads.

Every table asset is a Parquet file under ``base_dir`` (``<asset>/<partition>.parquet`` for
partitioned assets); a :class:`BasketSet` is a directory of two Parquet files. Writes go to a
temporary file and are renamed into place, so a crash or a rejected input never leaves a half
written table and the last good materialization stays readable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.core.baskets import BASKETS_FILE, BasketSet, load_basket_set, save_basket_set


def write_parquet_atomic(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores DataFrames as Parquet and BasketSets as Parquet directories under ``base_dir``."""

    base_dir: str

    def _path(self, asset_key: dg.AssetKey, partition_key: str | None) -> Path:
        base = Path(self.base_dir).joinpath(*asset_key.path)
        return base / f"{partition_key}.parquet" if partition_key else base.with_suffix(".parquet")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        partition = context.partition_key if context.has_partition_key else None
        path = self._path(context.asset_key, partition)
        if isinstance(obj, BasketSet):
            save_basket_set(obj, path.with_suffix(""))
        elif isinstance(obj, pd.DataFrame):
            write_parquet_atomic(obj, path)
        else:
            raise TypeError(
                f"{context.asset_key.to_user_string()}: cannot store {type(obj).__name__} as Parquet"
            )
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> object:
        key = context.asset_key
        if context.has_asset_partitions:
            partitions = context.asset_partition_keys
            paths = [self._path(key, p) for p in partitions]
            existing = [p for p in paths if p.exists()]
            if not existing:
                raise FileNotFoundError(
                    f"{key.to_user_string()}: no materialized partition among {len(partitions)} requested "
                    f"under {self._path(key, 'x').parent}; materialize it first"
                )
            if len(partitions) == 1:
                return pd.read_parquet(existing[0])
            context.log.info(
                f"{key.to_user_string()}: reading {len(existing)} of {len(partitions)} partitions"
            )
            return pd.concat([pd.read_parquet(p) for p in existing], ignore_index=True)
        path = self._path(key, None)
        if (path.with_suffix("") / BASKETS_FILE).exists():
            return load_basket_set(path.with_suffix(""))
        if not path.exists():
            raise FileNotFoundError(f"{key.to_user_string()}: not materialized yet (no {path})")
        return pd.read_parquet(path)
