"""Parquet storage for assets: atomic writes, partition-aware reads.

Every table asset is a Parquet file under ``base_dir`` (``<asset>/<partition>.parquet`` for
partitioned assets); a :class:`BasketSet` is a directory of two Parquet files. Writes go to a
temporary file and are renamed into place, so a crash or a rejected input never leaves a half
written table and the last good materialization stays readable.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.core.data.baskets import BASKETS_FILE, BasketSet, load_basket_set, save_basket_set
from assoc_pipeline.core.mining import FrequentItemsets
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model, save_model
from assoc_pipeline.core.tables import read_table, write_json, write_table


class ParquetIOManager(dg.ConfigurableIOManager):
    """Stores DataFrames and itemsets as Parquet files, BasketSets as Parquet directories,
    trained models as torch checkpoints (``.pt``) and small dicts as JSON."""

    base_dir: str

    def _path(self, asset_key: dg.AssetKey, partition_key: str | None) -> Path:
        base = Path(self.base_dir).joinpath(*asset_key.path)
        return base / f"{partition_key}.parquet" if partition_key else base.with_suffix(".parquet")

    def stored_path(self, asset_key: dg.AssetKey | str, partition_key: str | None = None) -> Path:
        """Where the table of ``asset_key`` (one partition of it) is stored; it may not exist yet."""
        key = asset_key if isinstance(asset_key, dg.AssetKey) else dg.AssetKey(asset_key)
        return self._path(key, partition_key)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        if isinstance(obj, BasketSet):
            save_basket_set(obj, path.with_suffix(""))
        elif isinstance(obj, pd.DataFrame | FrequentItemsets):
            write_table(obj, path)
        elif hasattr(obj, "to_checkpoint"):
            path = path.with_suffix(".pt")
            save_model(obj, path)
            path.with_suffix(".json").unlink(missing_ok=True)  # one stored form per asset
        elif isinstance(obj, dict):
            path = path.with_suffix(".json")
            write_json(obj, path)
            path.with_suffix(".pt").unlink(missing_ok=True)  # e.g. "skipped" replaces a stale model
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
                return read_table(existing[0])
            context.log.info(
                f"{key.to_user_string()}: reading {len(existing)} of {len(partitions)} partitions"
            )
            return pd.concat([read_table(p) for p in existing], ignore_index=True)
        path = self._path(key, None)
        if path.with_suffix(".pt").exists():
            return load_model(path.with_suffix(".pt"))
        if path.with_suffix(".json").exists():
            return json.loads(path.with_suffix(".json").read_text())
        if (path.with_suffix("") / BASKETS_FILE).exists():
            return load_basket_set(path.with_suffix(""))
        if not path.exists():
            raise FileNotFoundError(f"{key.to_user_string()}: not materialized yet (no {path})")
        return read_table(path)
