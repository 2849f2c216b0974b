"""The basket GAN and its synthetic baskets: training as an MLflow run, then the checks people read.

Protocol (issue "Honest numbers", item 3): the GAN learns from the train period only, split at
random into a fit part, an epoch-choice part and a holdout part; fidelity and privacy are scored
against the holdout (baskets it never trained on nor chose epochs with) beside the real-vs-real
ceiling; utility is scored on the validation period, which the GAN never saw.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from assoc_pipeline.core.data.baskets import BasketSet, fingerprint
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.privacy.synthetic_report import report_markdown
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.training import pick_device
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.rich_values import Markdown
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import GAN_MODEL, MLflowResource
from assoc_pipeline.services.training import Log, Trained, epoch_logger, log_trained, torch_version

GAN_CURVES = ("mmd", "discriminator_loss", "val_mmd", "val_pair_cooc_pearson")


def train_gan(
    params: GANParams,
    split: BasketSplit,
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
) -> Trained:
    """Fit on the train period, score on its holdout; one MLflow run, a version tagged with the figures."""
    from assoc_pipeline.core.recsys.models.gan.protocol import (
        evaluate_gan,
        fit_gan_on_train_period,
        parts_for,
    )

    device = pick_device(params.device)
    train_period = split.train  # never the validation period: utility is scored there
    parts = parts_for(train_period, params)
    tags = {**(run_tags or {}), "model_type": "gan", "task": "synthetic_baskets"}
    with tracker.start_run("gan", tags=tags) as run:
        tracker.log_params(
            {
                **dataclasses.asdict(params),
                "data_version": fingerprint(train_period),
                "trained_on": f"random fit part of the train period < {split.validation_cutoff.date()}",
                **parts.summary(),
                "n_items": train_period.n_items,
                "device": str(device),
                "torch_version": torch_version(),
            }
        )
        model, parts = fit_gan_on_train_period(
            train_period, params, on_epoch=epoch_logger(tracker, log, "fit", params.epochs)
        )
        result = model.result
        report = evaluate_gan(model, train_period, parts)
        tracker.log_metrics({k: float(v) for k, v in report.items() if finite(v)})
        curves = {k: [h[k] for h in result.history if k in h] for k in GAN_CURVES if k in result.history[-1]}
        title = "basket GAN: MMD, discriminator loss, held-out MMD and pair correlation"
        metadata = log_trained(
            model, result, curves, title, GAN_MODEL, "gan", artifacts, tracker, run.info.run_id, "gan"
        )
        tracker.tag_version(  # MLflow compares registered GAN versions on these
            GAN_MODEL,
            metadata["mlflow_model_version"],
            {
                k: f"{float(v):.4f}"
                for k, v in report.items()
                if k.startswith(("fidelity/", "privacy/", "dp/")) and finite(v)
            },
        )
    log("gan: " + ", ".join(f"{k}={v:.3f}" for k, v in report.items() if k.startswith("fidelity/")))
    return Trained(
        model,
        {
            **metadata,
            "device": str(device),
            f"best/{result.monitor}": float(result.best_metric),
            **{k: float(v) for k, v in report.items() if finite(v)},
            "quality": Markdown(report_markdown(report)),
            "differential_privacy": dp_sentence(report),
        },
    )


@dataclasses.dataclass(frozen=True)
class SyntheticSettings:
    """How many synthetic baskets to draw and which checks to run on them."""

    n_baskets: int = 0  # 0 = as many as the GAN's real fit baskets
    seed: int = 0
    more_associations: bool = True  # rules real-only vs real + synthetic, checked in the test period
    measure_utility: bool = False  # opt-in: two recommender fits (real vs real + synthetic)
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
    """Draw synthetic baskets; the GAN's figures, the 'more associations' test and utility."""
    from assoc_pipeline.core.privacy.more_associations import more_associations
    from assoc_pipeline.core.privacy.synthetic_quality import utility_comparison
    from assoc_pipeline.core.recsys.model_types import model_type
    from assoc_pipeline.core.recsys.models.gan.protocol import parts_for

    fit = split.train.subset(parts_for(split.train, gan.params).fit_rows)
    synthetic = gan.sample_basket_set(settings.n_baskets or fit.n_baskets, seed=settings.seed)
    figures = {k: float(v) for k, v in gan.evaluation.items()}  # the GAN's own report
    if settings.more_associations:
        figures.update(
            {f"associations/{k}": float(v) for k, v in more_associations(fit, synthetic, split.test).items()}
        )
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
        tracker.log_metrics({k: float(v) for k, v in figures.items() if finite(v)})
    metadata = {
        "dagster/row_count": synthetic.n_baskets,
        **{k: float(v) for k, v in figures.items() if finite(v)},
        "quality": Markdown(report_markdown(figures)),
        "differential_privacy": dp_sentence(figures),
        **tracker.run_metadata(run.info.run_id),
    }
    return synthetic, metadata


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def dp_sentence(report: Mapping[str, float]) -> str:
    """The formal guarantee in one sentence (or that there is none)."""
    if "dp/epsilon" not in report:
        return "not private (config dp=false): no formal guarantee; see the empirical privacy figures"
    return (
        f"(epsilon={report['dp/epsilon']:.2f}, delta={report['dp/delta']:g})-DP per basket, RDP accountant "
        f"(Opacus): {report['dp/sgd_steps']:.0f} DP-SGD discriminator steps at noise multiplier "
        f"{report['dp/sgd_noise_multiplier']:.2f}; 3 Gaussian releases at "
        f"{report['dp/release_noise_multiplier']:.2f}"
    )
