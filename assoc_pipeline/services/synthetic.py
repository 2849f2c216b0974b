"""The basket GAN and its synthetic baskets: training as an MLflow run, then fidelity, privacy, utility."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from assoc_pipeline.core.data.baskets import BasketSet, fingerprint
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.training import pick_device
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import GAN_MODEL, MLflowResource
from assoc_pipeline.services.training import Log, Trained, epoch_logger, log_trained, torch_version


def train_gan(
    params: GANParams,
    split: BasketSplit,
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
) -> Trained:
    """Fit the GAN on the baskets before the test cutoff; one MLflow run with a registered version."""
    device = pick_device(params.device)
    train: BasketSet = split.train_full
    with tracker.start_run(
        "gan", tags={**(run_tags or {}), "model_type": "gan", "task": "synthetic_baskets"}
    ) as run:
        tracker.log_params(
            {
                **dataclasses.asdict(params),
                "data_version": fingerprint(train),
                "n_items": train.n_items,
                "n_train_baskets": train.n_baskets,
                "device": str(device),
                "torch_version": torch_version(),
            }
        )
        model = BasketGANModel(params).fit(train, on_epoch=epoch_logger(tracker, log, "fit", params.epochs))
        result = model.result
        keys = [k for k in ("critic_loss", "generator_loss", result.monitor) if k in result.history[-1]]
        curves = {k: [h[k] for h in result.history if k in h] for k in keys}
        title = "basket GAN: losses and item-frequency fidelity"
        metadata = log_trained(
            model, result, curves, title, GAN_MODEL, "gan", artifacts, tracker, run.info.run_id, "gan"
        )
    return Trained(
        model, {**metadata, "device": str(device), f"best/{result.monitor}": float(result.best_metric)}
    )


@dataclasses.dataclass(frozen=True)
class SyntheticSettings:
    """How many synthetic baskets to draw and whether to measure their utility (costs two fits)."""

    n_baskets: int = 0  # 0 = as many as the real training baskets
    seed: int = 0
    measure_utility: bool = True
    utility_model: str = "dnn"  # dnn | cf
    utility_epochs: int = 5


def synthetic_report(
    gan: BasketGANModel,
    split: BasketSplit,
    settings: SyntheticSettings,
    tracker: MLflowResource,
    *,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
) -> tuple[BasketSet, dict[str, Any]]:
    """Draw synthetic baskets; measure fidelity, privacy and (optionally) utility; log them to MLflow."""
    from assoc_pipeline.core.privacy.synthetic_quality import (
        fidelity_report,
        privacy_report,
        utility_comparison,
    )
    from assoc_pipeline.core.recsys.model_types import model_type

    real = split.train_full
    synthetic = gan.sample_basket_set(settings.n_baskets or real.n_baskets, seed=settings.seed)
    fidelity = fidelity_report(real, synthetic)
    privacy = privacy_report(synthetic, real, split.test, seed=settings.seed)
    figures = {
        **{f"fidelity/{k}": v for k, v in fidelity.items()},
        **{f"privacy/{k}": v for k, v in privacy.items()},
    }
    if settings.measure_utility:
        if settings.utility_model not in ("dnn", "cf"):
            raise InputError(
                f"synthetic_baskets config utility_model={settings.utility_model!r}: expected dnn or cf"
            )
        kind = model_type(settings.utility_model)
        params = kind.default_params(epochs=settings.utility_epochs, patience=0)
        utility = utility_comparison(
            split.train, split.validation, synthetic, lambda: kind.recommender(params)
        )
        figures.update({f"utility/{k}": v for k, v in utility.items()})
    log("synthetic baskets: " + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    tags = {**(run_tags or {}), "model_type": "gan", "task": "synthetic_baskets"}
    with tracker.start_run("synthetic_baskets", tags=tags) as run:
        tracker.log_params(
            {"n_baskets": synthetic.n_baskets, "seed": settings.seed, "utility_model": settings.utility_model}
        )
        tracker.log_metrics({k: float(v) for k, v in figures.items()})
    metadata = {
        "dagster/row_count": synthetic.n_baskets,
        **{k: float(v) for k, v in figures.items()},
        **tracker.run_metadata(run.info.run_id),
    }
    return synthetic, metadata
