"""The single Dagster Definitions of the project: assets, checks, jobs, resources."""

from __future__ import annotations

import dagster as dg

from assoc_pipeline.assets import clean, ingest
from assoc_pipeline.checks.baskets_checks import baskets_contract
from assoc_pipeline.resources import build_resources
from assoc_pipeline.settings import get_settings

all_assets = [ingest.raw_events, clean.clean_events, clean.item_catalog, clean.baskets]
all_checks = [baskets_contract]

# In-process: every step re-importing torch/mlflow/GX costs 8-14 s; one machine gains nothing.
defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    resources=build_resources(get_settings()),
    executor=dg.in_process_executor,
)
