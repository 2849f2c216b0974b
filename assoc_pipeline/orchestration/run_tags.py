"""Tags that tie an MLflow run to the Dagster run, asset and partition that made it."""

from __future__ import annotations

import dagster as dg


def dagster_run_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    tags = {"dagster_run_id": context.run.run_id, "dagster_asset": context.asset_key.to_user_string()}
    if context.has_partition_key:
        tags["dagster_partition"] = context.partition_key
    return tags
