"""Tuning the content/collaborative hybrid on the validation period, logged as one MLflow run.

Per task the hybrid mixes a collaborative signal (next basket: personal top-frequency; completion:
EASE) with description similarity, ``w * z(collab) + (1 - w) * z(content)``; the weight is chosen
on every validation query, including those whose answer is a product new in that period.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assoc_pipeline.core.content.content_recommender import ContentRecommender
from assoc_pipeline.core.content.hybrid import tune_weight
from assoc_pipeline.core.plots import xy_curves
from assoc_pipeline.core.recsys.baseline_tuning import BaselineSettings
from assoc_pipeline.core.recsys.baselines import EASERecommender, PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.recsys.tasks import (
    MAX_HYBRID_VALIDATION_QUERIES,
    Catalogue,
    completion_task,
    on_sale_at_query_time,
    sampled_queries,
    validation_next_basket,
)
from assoc_pipeline.core.rich_values import Image
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.training import Log


def tune_hybrid(
    split: BasketSplit,
    item_vectors: np.ndarray,
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    baselines: BaselineSettings | None = None,
    half_life_days: float = 90.0,
    seed: int = 0,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
    max_completion: int = MAX_HYBRID_VALIDATION_QUERIES,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the tuned weights per task with their validation curves, metadata for people to read)."""
    baselines = baselines or BaselineSettings()
    content = ContentRecommender(item_vectors, half_life_days, aggregate=baselines.content_aggregate)
    train, validation = split.train, split.validation
    # new products can be recommended, but only once they are on sale: never a later one
    catalogue = Catalogue.of(train, validation)
    tasks = {
        NEXT_BASKET: (
            PersonalTopFrequencyRecommender,
            validation_next_basket(train, validation, seed),
            "ndcg",
        ),
        COMPLETION: (
            lambda: EASERecommender(baselines.ease_l2[COMPLETION]),
            sampled_queries(
                completion_task(validation, seed=seed, history=train, drop_cold=False), max_completion, seed
            ),
            "hit_rate",
        ),
    }
    record: dict[str, Any] = {"half_life_days": half_life_days}
    curves = {}
    for task, (make, queries, metric) in tasks.items():
        queries = on_sale_at_query_time(queries, catalogue)
        weight, curve = tune_weight(make, content, train, queries, metric)
        record[task] = {
            "weight": weight,
            "metric": f"{metric}@10",
            "validation": curve,
            "queries": len(queries),
        }
        curves[f"{task} {metric}@10"] = curve
        log(f"hybrid {task}: weight {weight} (validation {metric}@10 {curve[weight]:.4f})")
    picture = artifacts.path("hybrid_model", "weight_curve.png")
    picture.write_bytes(
        xy_curves(curves, "collaborative weight w (0 = content only)", "validation metric", "hybrid weight")
    )
    with tracker.start_run(
        "hybrid", tags={**(run_tags or {}), "model_type": "hybrid", "task": "recommender"}
    ) as run:
        tracker.log_params(
            {f"weight/{t}": record[t]["weight"] for t in tasks} | {"half_life_days": half_life_days}
        )
        for t in tasks:
            for w, v in record[t]["validation"].items():
                tracker.log_metrics({f"validation/{t}/{record[t]['metric']}": v}, step=round(w * 10))
        tracker.log_artifact(picture, artifact_path="plots")
    metadata = {
        **{f"weight/{t}": record[t]["weight"] for t in tasks},
        **{
            f"validation/{t}/{record[t]['metric']}": record[t]["validation"][record[t]["weight"]]
            for t in tasks
        },
        **tracker.run_metadata(run.info.run_id),
        "weight_curve": Image(picture),
    }
    return record, metadata
