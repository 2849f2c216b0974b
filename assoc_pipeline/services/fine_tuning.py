"""Warm start: fine-tune the champion (or the latest registered model) on the latest baskets.

Why a step of its own: the evaluation report then compares, on the same test queries, a model
retrained from scratch with the previous model fine-tuned on the new data, and the promotion gate
can pick either. Both are MLflow runs of one experiment, tagged ``init=scratch`` /
``init=warm_start``, so the MLflow UI compares them side by side.

The base model is read from the MLflow registry: it is whatever the gate promoted before. A base
trained in this same Dagster run is never used (that would only be more epochs of the scratch
model), nor one that saw baskets after this split's test cutoff (fine-tuning it would leak the
test period into the report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.item_pruning import unwrapped
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.model_registry import (
    champion_version,
    latest_version_from_another_run,
    load_version,
    version_type,
)
from assoc_pipeline.services.training import Log, Trained, train_recommender

START_FROM = ("champion_else_latest", "champion", "latest", "none")


@dataclass(frozen=True)
class FineTuneSettings:
    """Where the warm start comes from and how long it fine-tunes (see ``FineTuneConfig``)."""

    start_from: str = "champion_else_latest"
    epochs: int = 5
    patience: int = 2
    lr_scale: float = 0.5
    device: str = "auto"


BASE_SAW_VALIDATION = "base_saw_validation"  # lineage key: "True" / "False"


@dataclass
class Skipped:
    """Nothing was fine-tuned, and why (stored by the asset instead of a model)."""

    reason: str

    def as_record(self) -> dict[str, str]:
        return {"status": "skipped", "reason": self.reason}


def pick_base(tracker: MLflowResource, start_from: str, dagster_run_id: str) -> tuple[Any | None, str]:
    """(model version, how it was chosen) or (None, why there is nothing to start from)."""
    if start_from not in START_FROM:
        raise InputError(f"finetuned_model config start_from={start_from!r}: expected one of {START_FROM}")
    if start_from == "none":
        return None, "warm start switched off (start_from=none)"
    why_not_champion = ""
    if start_from in ("champion", "champion_else_latest"):
        champ = champion_version(tracker)
        kind = version_type(champ) if champ is not None else None
        if kind is not None and kind.fine_tunable:
            return champ, "champion"
        if start_from == "champion":
            return None, "no fine-tunable champion promoted yet"
        why_not_champion = (
            " (no champion yet)"
            if champ is None
            else f" (the champion, version {champ.version}, is a {champ.tags.get('model_type', '?')}: "
            "not fine-tunable)"
        )
    latest = latest_version_from_another_run(tracker, dagster_run_id)
    if latest is None:
        return None, "no fine-tunable model registered by an earlier run (first training)"
    return latest, f"latest registered{why_not_champion}"


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


def fine_tune(
    settings: FineTuneSettings,
    split: BasketSplit,
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    dagster_run_id: str,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
    baskets_run: str | None = None,
) -> Trained | Skipped:
    """Fine-tune the chosen base version on ``split`` (same protocol as from scratch), or say why not."""
    if settings.epochs < 1 or settings.lr_scale <= 0:
        raise InputError(
            f"finetuned_model config: epochs={settings.epochs} must be >= 1 "
            f"and lr_scale={settings.lr_scale} > 0"
        )
    version, how = pick_base(tracker, settings.start_from, dagster_run_id)
    if version is None:
        return Skipped(how)
    kind = version_type(version)
    base_params = tracker.run_params(version.run_id)
    leak = leak_reason(base_params.get("test_cutoff"), str(split.test_cutoff.date()))
    if leak:
        return Skipped(f"version {version.version} not used: {leak}")
    base = load_version(tracker, version)
    if getattr(base.params, "text_features", False):
        return Skipped(f"version {version.version} uses text features (fine-tuning reads no embeddings)")
    if getattr(base, "item_ids", None) is None:
        return Skipped(f"version {version.version} was saved without item ids (before warm-start support)")
    source = unwrapped(base).as_warm_start_source()  # held through the fine-tuning: weights and ids
    params = source.fine_tuning_params(
        dataclasses.replace(
            base.params,
            epochs=settings.epochs,
            patience=settings.patience,
            lr=base.params.lr * settings.lr_scale,
            device=settings.device,
        )
    )
    refit = base_params.get("refit_on_train_full", "False") == "True"
    # what the base's weights learned from: everything before its test cutoff where it was refit,
    # else its training period; past this split's validation cutoff, the fine-tune's validation
    # figure cannot choose it (services/evaluation.py)
    seen_until = base_params["test_cutoff"] if refit else base_params.get("validation_cutoff", "")
    lineage = {
        "warm_start_from_version": str(version.version),
        "warm_start_from": how,
        BASE_SAW_VALIDATION: str(not seen_until or pd.Timestamp(seen_until) > split.validation_cutoff),
    }
    log(f"finetuned_model: fine-tuning {kind.name} version {version.version} ({how})")
    return train_recommender(
        kind, params, split, tracker, artifacts,
        refit=refit, run_tags=run_tags, log=log, init_from=base, lineage=lineage, baskets_run=baskets_run,
    )  # fmt: skip
