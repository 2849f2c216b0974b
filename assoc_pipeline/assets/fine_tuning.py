"""Warm start: fine-tune the champion (or the latest registered model) on the latest baskets.

Why an asset of its own: the evaluation report then compares, on the same test queries, a model
retrained from scratch (`cf_model` / `dnn_model`) with the previous model fine-tuned on the new
data — and the promotion gate can pick either. Both are MLflow runs of one experiment, tagged
``init=scratch`` / ``init=warm_start``, so the MLflow UI compares them side by side.

The base model is read from the MLflow registry (not a Dagster input): it is whatever the gate
promoted before this run. A base trained in this same Dagster run is never used (that would only
be more epochs of the scratch model), nor one that saw baskets after this split's test cutoff
(fine-tuning it would leak the test period into the report).
"""

import dataclasses
from typing import Any

import dagster as dg
import pandas as pd

from assoc_pipeline.assets.promotion import champion_version, load_registered_model
from assoc_pipeline.assets.training import train_recommender
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.cf import CFRecommender
from assoc_pipeline.core.recsys.models.dnn import DNNRecommender
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource

MODEL_TYPES: dict[str, type] = {"cf": CFRecommender, "dnn": DNNRecommender}
START_FROM = ("champion_else_latest", "champion", "latest", "none")


class FineTuneConfig(dg.Config):
    """Where the warm start comes from and how long it fine-tunes.

    ``start_from``: ``champion_else_latest`` (default: the champion, or while none is promoted the
    newest registered CF/DNN version from an earlier run), ``champion``, ``latest``, or ``none``
    (skip). The base keeps its own hyper-parameters; ``lr_scale`` multiplies its learning rate.
    """

    start_from: str = "champion_else_latest"
    epochs: int = 5
    patience: int = 2
    lr_scale: float = 0.5
    device: str = "auto"


def _latest_earlier_version(mlflow: MLflowResource, dagster_run_id: str) -> Any | None:
    """Newest CF/DNN version of the registered model whose training ran in another Dagster run."""
    client = mlflow.client()
    versions = client.search_model_versions(f"name='{RECOMMENDER_MODEL}'")
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        if v.tags.get("model_type") not in MODEL_TYPES:
            continue
        if client.get_run(v.run_id).data.tags.get("dagster_run_id") != dagster_run_id:
            return v
    return None


def pick_base(mlflow: MLflowResource, start_from: str, dagster_run_id: str) -> tuple[Any | None, str]:
    """(model version, how it was chosen) or (None, why there is nothing to start from)."""
    if start_from not in START_FROM:
        raise ValueError(f"finetuned_model config start_from={start_from!r}: expected one of {START_FROM}")
    if start_from == "none":
        return None, "warm start switched off (start_from=none)"
    if start_from in ("champion", "champion_else_latest"):
        champ = champion_version(mlflow)
        if champ is not None and champ.tags.get("model_type") in MODEL_TYPES:
            return champ, "champion"
        if start_from == "champion":
            return None, "no CF/DNN champion promoted yet"
    latest = _latest_earlier_version(mlflow, dagster_run_id)
    if latest is None:
        return None, "no CF/DNN model registered by an earlier run (first training)"
    return latest, "latest registered (no champion yet)" if start_from != "latest" else "latest registered"


def leak_reason(base_test_cutoff: str | None, test_cutoff: str) -> str | None:
    """Why a base model may not be fine-tuned for this split, or None when it may."""
    if base_test_cutoff is None:
        return "its training run records no test_cutoff, so what it saw cannot be checked"
    if pd.Timestamp(base_test_cutoff) > pd.Timestamp(test_cutoff):
        return (
            f"it saw baskets up to {base_test_cutoff}, after this split's test cutoff {test_cutoff}: "
            "fine-tuning it would leak the test period"
        )
    return None


def _skipped(context: dg.AssetExecutionContext, reason: str) -> dg.Output[dict]:
    context.log.info(f"finetuned_model: nothing fine-tuned: {reason}")
    return dg.Output(
        {"status": "skipped", "reason": reason}, metadata={"status": "skipped", "reason": reason}
    )


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "mlflow"},
    description="The champion (or, until one is promoted, the newest registered CF/DNN model from an "
    "earlier run) fine-tuned on the latest baskets: weights carried over by item/user id, new items "
    "start fresh. Logged as an MLflow run tagged init=warm_start; compared with the from-scratch "
    "model in the evaluation report. Skipped, with the reason, when there is nothing to start from.",
)
def finetuned_model(
    context: dg.AssetExecutionContext,
    config: FineTuneConfig,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> dg.Output:
    if config.epochs < 1 or config.lr_scale <= 0:
        raise ValueError(
            f"finetuned_model config: epochs={config.epochs} must be >= 1 and lr_scale={config.lr_scale} > 0"
        )
    version, how = pick_base(mlflow, config.start_from, context.run.run_id)
    if version is None:
        return _skipped(context, how)
    model_type = version.tags["model_type"]
    base_params = mlflow.client().get_run(version.run_id).data.params
    leak = leak_reason(base_params.get("test_cutoff"), split["test_cutoff"])
    if leak:
        return _skipped(context, f"version {version.version} not used: {leak}")
    base = load_registered_model(mlflow, version)
    if getattr(base, "item_ids", None) is None:
        return _skipped(
            context, f"version {version.version} was saved without item ids (before warm-start support)"
        )
    params = dataclasses.replace(
        base.params,
        epochs=config.epochs,
        patience=config.patience,
        lr=base.params.lr * config.lr_scale,
        device=config.device,
    )
    refit = base_params.get("refit_on_train_full", "False") == "True"
    lineage = {"warm_start_from_version": str(version.version), "warm_start_from": how}
    context.log.info(f"finetuned_model: fine-tuning {model_type} version {version.version} ({how})")
    bs_split = split_from_record(baskets, split)
    return train_recommender(
        context, model_type, MODEL_TYPES[model_type], params, refit, bs_split, mlflow, artifacts,
        init_from=base, lineage=lineage,
    )  # fmt: skip
