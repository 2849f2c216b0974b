"""Time partitions of the event log.

Monthly, not daily: a retailer's basket log is sparse per day for most items (the shipped
Online Retail file has ~65 invoices a day), monthly slices keep each materialization big enough
for contract checks to mean something and the demo to stay at 13 runs, while backfills by date
range still work (select a range of months in the UI or with ``dagster asset materialize``).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from assoc_pipeline.settings import Settings, get_settings


def partition_range(settings: Settings) -> tuple[str, str | None, int]:
    """(first month, end or None, end offset) of the monthly partitions.

    Configured dates win; otherwise the partitions are the months the source has data in (read
    once per source version, cached in the data dir), so another retailer's log shows its own
    months and no empty ones. ``live``: the open month is a partition too (new events land there).
    """
    start, end = settings.partition_start, settings.partition_end
    if start is None or (end is None and not settings.live):
        from assoc_pipeline.resources import source_resource

        try:
            months = source_resource(settings).months(settings.data_dir / "cache")
        except Exception:  # an unreadable source must not stop the UI from loading: its run says why
            months = []
        if months:
            start = start or months[0]
            if end is None and not settings.live:
                end = (pd.Timestamp(months[-1]) + pd.offsets.MonthBegin(1)).strftime("%Y-%m-%d")
        start = start or pd.Timestamp.now().strftime("%Y-%m-01")
    return start, end, 1 if settings.live else 0


_start, _end, _offset = partition_range(get_settings())

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=_start, end_date=_end, end_offset=_offset)
