"""Time partitions of the event log.

Monthly, not daily: a retailer's basket log is sparse per day for most items (the shipped
Online Retail file has ~65 invoices a day), monthly slices keep each materialization big enough
for contract checks to mean something and the demo to stay at 13 runs, while backfills by date
range still work (select a range of months in the UI or with ``dagster asset materialize``).
"""

from __future__ import annotations

import dagster as dg

from assoc_pipeline.settings import get_settings

_settings = get_settings()

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=_settings.partition_start,
    end_date=_settings.partition_end,
    end_offset=1,  # the current, still open month is a partition too: new events land there
)
