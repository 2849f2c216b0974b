"""Which materialization a table was built from, recorded so the gate can check that exact data.

A table built from stored files (``baskets`` reads the ``clean_events`` partitions from disk, and
each ``clean_events`` partition reads its ``raw_events`` partition) records the Dagster runs of
the materializations it read; a data-contract result is tied to the run that wrote the data it
checked. Together they answer "did every contract pass on the data this model was trained on?".
"""

from __future__ import annotations

import dagster as dg


def latest_materialization_run(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> str | None:
    """The run id of the newest materialization of ``asset`` (one partition of it), or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    return records[0].event_log_entry.run_id if records else None
