"""Training a registered model type: one MLflow run with its params, curves, weights and version.

Protocol (docs/evaluation.md): fit on the training part with early stopping on the validation
part; then the model must know the history the baselines know (everything before the test
cutoff): a model with learned per-user state is refit on it for the epochs validation chose (the
ranker: its steps; both phases in one MLflow run), a model that reads history as input takes it
without retraining.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from assoc_pipeline.core.data.baskets import BasketSet, fingerprint
from assoc_pipeline.core.plots import line_curves
from assoc_pipeline.core.recsys.baseline_tuning import PRIMARY, model_validation, validation_tasks
from assoc_pipeline.core.recsys.item_pruning import ItemPruning, unwrapped
from assoc_pipeline.core.recsys.model_types import ITEM_VECTORS, ModelType
from assoc_pipeline.core.recsys.models.trained import TrainedRecommender
from assoc_pipeline.core.recsys.models.training import LoopParams, TrainingResult, pick_device
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.rich_values import Image
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource

Log = Callable[[str], None]


@dataclass
class Trained:
    """A fitted model and what a person wants to see about its training run (plain values)."""

    model: Any
    metadata: dict[str, Any]


def epoch_logger(
    tracker: MLflowResource, log: Log, phase: str, total: int | None = None
) -> Callable[[int, dict[str, float]], None]:
    """``on_epoch`` for the training loop: a readable line per epoch ("fit epoch 3/8: ...") and
    the epoch's metrics in the active MLflow run. A second network trained in the same phase
    (the ranker's completion head: ``completion_*`` metrics) has an epoch count of its own, so
    its lines show no total."""

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "epoch")
        own = total and not any(k.startswith("completion_") for k in metrics)
        log(f"{phase} epoch {epoch}{f'/{total}' if own else ''}: {shown}")
        tracker.log_metrics({f"{phase}/{k}": v for k, v in metrics.items() if k != "epoch"}, step=epoch)

    return on_epoch


def log_trained(
    model: Any,
    result: TrainingResult,
    curves: Mapping[str, list[float]],
    title: str,
    registered_name: str,
    model_type: str,
    artifacts: ArtifactStore,
    tracker: MLflowResource,
    run_id: str,
    artifact_dir: str,
    serving_baskets: BasketSet | None = None,
) -> dict[str, Any]:
    """Curves PNG, weights and a registered version into the active run; the metadata they give.

    ``serving_baskets``: a recommender's version is an MLflow pyfunc model answering from them."""
    picture = artifacts.path(artifact_dir, "training_curves.png")
    picture.write_bytes(line_curves(dict(curves), "epoch", "value", title))
    logged = tracker.log_model(
        model, registered_name, model_type, {"training_curves": str(picture)}, serving_baskets
    )
    return {
        **tracker.run_metadata(run_id),
        "mlflow_model": registered_name,
        "mlflow_model_version": str(logged["version"]),
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.wall_time_s, 1),
        "training_curves": Image(picture),
    }


def train_recommender(
    model_type: ModelType,
    params: LoopParams,
    split: BasketSplit,
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    refit: bool | None = None,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
    init_from: TrainedRecommender | None = None,
    lineage: Mapping[str, str] | None = None,
    fit_inputs: Mapping[str, Any] | None = None,
    baskets_run: str | None = None,
) -> Trained:
    """Fit with early stopping on validation, then refit on train_full or take its history; log it all.

    ``refit`` defaults to the type's own need (:attr:`ModelType.refit_on_train_full`).
    ``init_from``: a trained model of the same class to warm-start from (both phases start from
    it); ``lineage`` says where it came from (logged as params/tags and metadata);
    ``fit_inputs``: the extra inputs the type's ``fit`` takes (e.g. ``item_vectors``).
    ``baskets_run``: the run that wrote the baskets read (the gate checks that data's contracts).
    """
    name = model_type.name
    refit = model_type.refit_on_train_full if refit is None else refit
    fit_inputs = dict(fit_inputs or {})
    missing = [k for k in model_type.fit_inputs if fit_inputs.get(k) is None]
    if missing:
        raise ValueError(f"{name}: fit needs {', '.join(missing)}")
    device = pick_device(params.device)
    init = "warm_start" if init_from is not None else "scratch"
    run_name = f"{name}_finetuned" if init_from is not None else name
    tags = {**(run_tags or {}), "model_type": name, "task": "recommender", "init": init, **(lineage or {})}
    with tracker.start_run(run_name, tags=tags) as run:
        tracker.log_params(
            {
                **dataclasses.asdict(params),
                "init": init,
                **(lineage or {}),
                "refit_on_train_full": refit,
                "data_version": fingerprint(split.train_full),
                "baskets_version": fingerprint(split.baskets),
                "baskets_run": baskets_run or "",
                "validation_cutoff": str(split.validation_cutoff),
                "test_cutoff": str(split.test_cutoff),
                "n_items": split.baskets.n_items,
                "n_train_baskets": split.train.n_baskets,
                "device": str(device),
                "torch_version": torch_version(),
                "python_version": platform.python_version(),
            }
        )
        init_from = unwrapped(init_from)
        item_ids = split.baskets.vocabulary["item_id"].astype(str).tolist()

        def fit_on(phase_params: LoopParams, phase: str, train: BasketSet, *validation: BasketSet) -> Any:
            """Fit on the items bought in at least ``min_item_baskets`` baskets of the period this
            phase learns from (validation never decides what the model keeps); scored over the
            whole catalogue, pruned items last, so they count as misses (core/recsys/item_pruning.py)."""
            pruning = ItemPruning.of(train, getattr(phase_params, "min_item_baskets", 1))
            inputs = dict(fit_inputs)
            if pruning is not None:
                train, validation = pruning.baskets(train), tuple(map(pruning.baskets, validation))
                if ITEM_VECTORS in inputs:  # one row per item: the kept items' rows
                    inputs[ITEM_VECTORS] = inputs[ITEM_VECTORS][pruning.kept]
                tracker.log_params({f"{phase}/items_kept": len(pruning.kept)})
                log(f"{run_name}: {phase} on {len(pruning.kept):,} of {pruning.n_items:,} items")
            fitted = model_type.recommender(phase_params).fit(
                train,
                *validation,
                on_epoch=epoch_logger(tracker, log, phase, phase_params.planned_epochs),
                init_from=init_from,
                **inputs,
            )
            extra = fitted.result.extra if fitted.result is not None else {}
            if extra:  # what the fit says of itself, e.g. the ranker's list counts and completion head
                tracker.log_params({f"{phase}/{k}": v for k, v in extra.items()})
                log(f"{run_name}: {phase} " + ", ".join(f"{k}={v}" for k, v in extra.items()))
            return pruning.wrap(fitted, item_ids) if pruning is not None else fitted

        model = fit_on(params, "fit", split.train, split.validation)
        if model.warm_start is not None:
            tracker.log_params(model.warm_start.as_params())
            log(f"{run_name}: warm start {model.warm_start}")
        result = model.result
        validation = {k: float(v) for k, v in result.history[result.best_epoch - 1].items() if k != "epoch"}
        tracker.log_metrics({f"best/{k}": v for k, v in validation.items()})
        tracker.log_metrics({"best_epoch": result.best_epoch})
        # the figures a candidate is chosen on: the same validation queries the baselines face
        selection = {
            f"selection/{task}/{PRIMARY[task]}@10": v
            for task, v in model_validation(model, validation_tasks(split)).items()
        }
        tracker.log_metrics(selection)
        log(
            f"{run_name}: validation "
            + ", ".join(f"{k.split('/', 1)[1]}={v:.4f}" for k, v in selection.items())
        )
        curves = {k: [h[k] for h in result.history if k in h] for k in ("loss", result.monitor)}
        if refit:
            final = unwrapped(model).refit_params(params)
            del model  # the fit's model and what it keeps for scoring (GBs at 100k items) go first
            model = fit_on(final, "refit", split.train_full)
        else:
            model.with_history(split.train_full)
        title = f"{run_name}: training loss and {result.monitor}"
        metadata = log_trained(
            model,
            result,
            curves,
            title,
            RECOMMENDER_MODEL,
            name,
            artifacts,
            tracker,
            run.info.run_id,
            run_name,
            serving_baskets=split.baskets,
        )
    log(f"{run_name}: MLflow run {run.info.run_id}, version {metadata['mlflow_model_version']}")
    warm = model.warm_start.as_params() if model.warm_start is not None else {}
    return Trained(
        model,
        {
            **metadata,
            "model_type": name,
            "baskets_version": fingerprint(split.baskets),
            "baskets_run": baskets_run or "",
            "init": init,
            **{k: str(v) for k, v in (lineage or {}).items()},
            **warm,
            "device": str(device),
            "stopped_early": result.stopped_early,
            "stopped_by": result.stopped_by or "every epoch ran",
            "time_budget_s": params.time_budget_s,
            **{f"validation/{k}": v for k, v in validation.items()},
            **selection,
        },
    )


def torch_version() -> str:
    import torch

    return torch.__version__
