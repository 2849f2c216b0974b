"""Choosing the baselines' settings on the validation period, recorded as one MLflow run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from assoc_pipeline.core.recsys.baseline_tuning import PRIMARY, tune_baselines
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.rich_values import Markdown
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.training import Log


def choose_baselines(
    split: BasketSplit,
    item_vectors: np.ndarray | None,
    tracker: MLflowResource,
    *,
    seed: int = 0,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
    workers: int = 1,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record: the chosen settings, their validation curves and every baseline's validation
    figures; metadata for people to read); ``workers`` grid points scored at a time."""
    settings, curves, validation = tune_baselines(split, item_vectors, seed=seed, log=log, workers=workers)
    record = {"settings": settings.as_dict(), "curves": curves, "validation": validation}
    tags = {**(run_tags or {}), "task": "baseline_tuning"}
    with tracker.start_run("baseline_tuning", tags=tags) as run:
        chosen = settings.as_dict()
        tracker.log_params(
            {
                **{f"ease_l2/{t}": v for t, v in chosen.pop("ease_l2").items()},
                **{k: v for k, v in chosen.items() if k != "chosen_on"},
                "chosen_on": settings.chosen_on[:480],
            }
        )
        for name, curve in curves.items():
            for step, value in enumerate(curve.values()):
                tracker.log_metrics({f"validation/{name}": value}, step=step)
        tracker.log_metrics(
            {
                f"selection/{m}/{t}/{PRIMARY[t]}@10": v
                for m, per_task in validation.items()
                for t, v in per_task.items()
            }
        )
    table = ["| baseline | " + " | ".join(f"{t} {PRIMARY[t]}@10" for t in PRIMARY) + " |", "|---|---|---|"]
    for method, per_task in validation.items():
        table.append(
            f"| {method} | "
            + " | ".join(f"{per_task[t]:.4f}" if t in per_task else "—" for t in PRIMARY)
            + " |"
        )
    curves_md = "\n".join(
        f"- {name}: " + ", ".join(f"{g} → {v:.4f}" for g, v in curve.items())
        for name, curve in curves.items()
    )
    metadata = {
        **{f"ease_l2/{t}": v for t, v in settings.ease_l2.items()},
        "tifu_neighbors": settings.tifu_neighbors,
        "tifu_alpha": settings.tifu_alpha,
        "content_aggregate": settings.content_aggregate,
        "chosen_on": settings.chosen_on,
        "validation_curves": Markdown(curves_md),
        "baselines_on_validation": Markdown("\n".join(table)),
        **tracker.run_metadata(run.info.run_id),
    }
    return record, metadata
