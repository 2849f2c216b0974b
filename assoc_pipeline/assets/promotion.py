"""Promotion and serving: the `champion` gate (MLflow registry alias) and `recommendations`.

The decision is pure (core/recsys/promotion.py) and run by ``services/promotion.py``; this module
reads the contract results from the Dagster instance and hands them over.
"""

import dagster as dg
import pandas as pd

from assoc_pipeline.checks.contract_status import contracts_of_baskets_run, report_contract
from assoc_pipeline.core.content.embeddings import embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baseline_tuning import BaselineSettings
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.orchestration.config import config_for, settings_from_config
from assoc_pipeline.orchestration.metadata import as_metadata, preview
from assoc_pipeline.resources.ease_cache import EaseCacheResource
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.promotion import GateSettings, run_gate
from assoc_pipeline.services.recommendations import recommendation_table

ChampionConfig = config_for(GateSettings, "ChampionConfig")


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"mlflow"},
    description="The promotion gate: the trained model best on validation is the candidate; the MLflow "
    "alias `champion` moves to it only if every data contract passed on the exact data it was trained "
    "on, the report's contract passed, and on the test set it beats the best baseline by the margin "
    "with an interval that excludes zero, on a big enough test set, and beats the current champion. "
    "It serves the tasks (next basket, completion) where it beats the baselines (per_task; the best "
    "baseline serves the others); otherwise the refusal records why.",
)
def champion(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,  # type: ignore[valid-type]
    evaluation_report: pd.DataFrame,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
) -> dg.Output[dict]:
    instance = context.instance
    report_event = instance.get_latest_materialization_event(dg.AssetKey("evaluation_report"))
    report_meta = report_event.asset_materialization.metadata if report_event else {}
    record, metadata = run_gate(
        settings_from_config(GateSettings, config),
        evaluation_report,
        split_from_record(baskets, split),
        lambda baskets_run: contracts_of_baskets_run(instance, baskets_run),
        report_contract(instance),
        mlflow,
        report_seed=int(report_meta["seed"].value) if "seed" in report_meta else 0,
        report_max_completion=(
            int(report_meta["max_completion_queries"].value) if "max_completion_queries" in report_meta else 0
        ),
        dagster_run_id=context.run.run_id,
        log=context.log.info,
    )
    return dg.Output(record, metadata=as_metadata(metadata))


# ------------------------------------------------------------------------------ recommendations
class RecommendationsConfig(dg.Config):
    k: int = 10
    max_users: int = 0  # 0 = every user with a purchase history
    # a ranker's first N items per user and per item get feature contributions (0 = none); 10, as
    # `recommend` and the server explain, so the command can answer from this table
    explain_top: int = 10


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"pandas", "parquet"},
    description="Top-K next-basket items per user and top-K completions per item from the champion "
    "for the tasks it serves (else the best baseline — labelled), with association-rule explanations; "
    "plus top-K similar products per item by description (scope item_content), new products included.",
)
def recommendations(
    context: dg.AssetExecutionContext,
    config: RecommendationsConfig,
    champion: dict,
    evaluation_report: pd.DataFrame,
    baskets: BasketSet,
    association_rules: pd.DataFrame,
    item_embeddings: pd.DataFrame,
    baseline_tuning: dict,
    mlflow: MLflowResource,
    ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
) -> dg.Output[pd.DataFrame]:
    table, facts = recommendation_table(
        mlflow,
        baskets,
        evaluation_report,
        association_rules,
        embedding_matrix(item_embeddings, baskets.n_items),
        k=config.k,
        max_users=config.max_users,
        explain_top=config.explain_top,
        baselines=BaselineSettings.from_dict(baseline_tuning["settings"]),
    )
    if facts["champion_serves_users"] and facts["champion_serves_items"]:
        status = f"served by the champion, {facts['source_users'].removeprefix('champion: ')}"
    elif facts["from_champion"]:
        status = f"users: {facts['source_users']}; items: {facts['source_items']}"
    else:
        status = (
            "NO CHAMPION PROMOTED YET: serving the best baselines instead "
            f"(users: {facts['source_users']}; items: {facts['source_items']}). Last gate verdict: "
            f"{champion.get('verdict')} — " + ("; ".join(champion.get("reasons", [])) or "n/a")
        )
        context.log.warning(status)
    per_user = table[table["scope"] == "user"]
    sample_user = per_user["query"].iloc[0] if len(per_user) else None
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "status": status,
            **facts,
            "sample_user": preview(per_user[per_user["query"] == sample_user]) if sample_user else "none",
            "sample_explained": preview(table[table["explanation"] != ""].head(10)),
            "sample_contributions": preview(table[table["contributions"] != ""].head(10)),
        },
    )
