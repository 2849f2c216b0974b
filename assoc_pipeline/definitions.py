"""The single Dagster Definitions of the project: assets, checks, jobs, resources."""

from __future__ import annotations

import dagster as dg

from assoc_pipeline import automation
from assoc_pipeline.assets import clean, content, fine_tuning, ingest, mining, training
from assoc_pipeline.assets import evaluation as evaluation_assets
from assoc_pipeline.assets import promotion as promotion_assets
from assoc_pipeline.checks.baskets_checks import baskets_contract
from assoc_pipeline.checks.rules_checks import rules_sanity
from assoc_pipeline.resources import build_resources
from assoc_pipeline.settings import get_settings

all_assets = [
    ingest.raw_events,
    clean.clean_events,
    clean.item_catalog,
    clean.baskets,
    clean.data_drift,
    mining.frequent_itemsets,
    mining.association_rules,
]
all_assets += [evaluation_assets.split]
all_assets += [training.cf_model, training.dnn_model, training.sequence_model]
all_assets += [training.gan_model, training.synthetic_baskets]
all_assets += [fine_tuning.finetuned_model]
all_assets += [content.item_embeddings, content.hybrid_model, content.dnn_text_model, content.category_rules]
all_assets += [evaluation_assets.evaluation_report]
all_assets += [promotion_assets.champion, promotion_assets.recommendations]
all_checks = [baskets_contract, rules_sanity]

# In-process: every step re-importing torch/mlflow/GX costs 8-14 s; one machine gains nothing.
defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=automation.jobs,
    schedules=automation.schedules,
    sensors=automation.sensors,
    resources=build_resources(get_settings()),
    executor=dg.in_process_executor,
)
