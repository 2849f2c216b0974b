"""The single Dagster Definitions of the project: assets by domain, checks, jobs, resources.

Model training assets come from the model registry (``core/recsys/model_types.py``), so a new model
type appears here, in the evaluation report and in the retrain job without editing this file.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from assoc_pipeline import automation
from assoc_pipeline.assets import baskets, content, evaluation, ingest, mining, models, promotion, synthetic
from assoc_pipeline.assets.experiments import ab_report
from assoc_pipeline.checks.baskets_checks import baskets_contract
from assoc_pipeline.checks.rules_checks import rules_sanity
from assoc_pipeline.core.recsys.model_types import MODEL_TYPES, ModelType
from assoc_pipeline.resources import build_resources
from assoc_pipeline.settings import get_settings


def assets_for(model_types: Iterable[ModelType]) -> list[dg.AssetsDefinition]:
    """The whole asset graph with one training asset per model type (the registry's by default)."""
    model_types = list(model_types)
    return [
        ingest.raw_events,
        ingest.clean_events,
        baskets.item_catalog,
        baskets.baskets,
        baskets.data_drift,
        mining.frequent_itemsets,
        mining.association_rules,
        mining.category_rules,
        evaluation.split,
        evaluation.baseline_tuning,
        *models.training_assets(model_types),
        models.finetuned_model,
        synthetic.gan_model,
        synthetic.synthetic_baskets,
        content.item_embeddings,
        content.hybrid_model,
        evaluation.evaluation_report_asset(model_types),
        promotion.champion,
        promotion.recommendations,
        ab_report,
    ]


all_assets = assets_for(MODEL_TYPES.values())
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
