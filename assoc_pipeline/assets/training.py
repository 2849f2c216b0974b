"""Models layer: CF, DNN and basket-GAN training assets, each one MLflow run with its weights.

Protocol (README "Evaluation protocol"): fit on the training part with early stopping on the
validation part (next-basket NDCG@10); then the model must know the history the baselines know
(everything before the test cutoff): CF is refit on it for the epochs validation chose (both
phases in one MLflow run), the DNN takes it as input without retraining.
"""

import dataclasses
import platform
import typing

import dagster as dg
import pydantic
import torch

from assoc_pipeline.assets.images import png_metadata
from assoc_pipeline.assets.model_logging import log_model_to_mlflow
from assoc_pipeline.core.data.baskets import BasketSet, fingerprint
from assoc_pipeline.core.plots import line_curves
from assoc_pipeline.core.recsys.models.cf import CFParams, CFRecommender
from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.sequence import SequenceParams, SequenceRecommender
from assoc_pipeline.core.recsys.models.training import pick_device
from assoc_pipeline.core.recsys.split import BasketSplit, split_from_record
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource, metric_key

GAN_MODEL = "assoc-basket-gan"


def config_for(params_cls: type, name: str, extra: dict[str, tuple[type, object]] | None = None) -> type:
    """A dg.Config mirroring a hyper-parameter dataclass, so the Launchpad shows every field."""
    hints = typing.get_type_hints(params_cls)
    fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(params_cls)}
    fields.update(extra or {})
    return pydantic.create_model(name, __base__=dg.Config, __doc__=params_cls.__doc__, **fields)


# CF has user embeddings: it must be refit to know the users' history up to the test cutoff.
# The DNN reads history as input: it scores the test period with train_full history, no refit.
CFConfig = config_for(CFParams, "CFConfig", {"refit_on_train_full": (bool, True)})
DNNConfig = config_for(DNNParams, "DNNConfig", {"refit_on_train_full": (bool, False)})
# The sequence model reads each user's baskets as input too: with_history, no refit.
SequenceConfig = config_for(SequenceParams, "SequenceConfig", {"refit_on_train_full": (bool, False)})
GANConfig = config_for(GANParams, "GANConfig")


def params_from_config(params_cls: type, config: dg.Config) -> typing.Any:
    names = {f.name for f in dataclasses.fields(params_cls)}
    return params_cls(**{k: v for k, v in config.model_dump().items() if k in names})


def _progress(context: dg.AssetExecutionContext, phase: str, mlflow_step_offset: int = 0):
    import mlflow

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "epoch")
        context.log.info(f"{phase} epoch {epoch}: {shown}")
        mlflow.log_metrics(
            {metric_key(f"{phase}/{k}"): float(v) for k, v in metrics.items() if k != "epoch"},
            step=epoch + mlflow_step_offset,
        )

    return on_epoch


def _log_trained(
    model: typing.Any,
    result: typing.Any,
    curves: dict[str, list[float]],
    title: str,
    registered_name: str,
    model_type: str,
    artifacts: ArtifactStore,
    mlflow: MLflowResource,
    run: typing.Any,
    artifact_dir: str | None = None,
) -> dict[str, typing.Any]:
    """Curves PNG, weights and registered version into the active run; the metadata they give."""
    png = line_curves(curves, "epoch", "value", title)
    where = artifacts.path(artifact_dir or model_type, "training_curves.png")
    picture = png_metadata(png, where, "training_curves")
    logged = log_model_to_mlflow(model, picture["training_curves_png"].value, registered_name, model_type)
    return {
        **mlflow.run_metadata(run.info.run_id),
        "mlflow_model": dg.MetadataValue.text(registered_name),
        "mlflow_model_version": dg.MetadataValue.text(str(logged["version"])),
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.wall_time_s, 1),
        **picture,
    }


def train_recommender(
    context: dg.AssetExecutionContext,
    model_type: str,
    model_cls: type,
    params: typing.Any,
    refit: bool,
    split: BasketSplit,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
    init_from: typing.Any = None,
    lineage: dict[str, str] | None = None,
    fit_kwargs: dict[str, typing.Any] | None = None,
) -> dg.Output:
    """Fit (early stopping on validation), optionally refit on train_full, log everything.

    ``init_from``: a trained model of the same class to warm-start from (both phases start from
    it); ``lineage`` says where it came from (logged as params/tags and asset metadata);
    ``fit_kwargs``: extra inputs of the model's ``fit`` (e.g. the DNN's item text vectors).
    """
    fit_kwargs = fit_kwargs or {}
    device = pick_device(params.device)
    init = "warm_start" if init_from is not None else "scratch"
    run_name = f"{model_type}_finetuned" if init_from is not None else model_type
    tags = {"model_type": model_type, "task": "recommender", "init": init, **(lineage or {})}
    with mlflow.start_run(run_name, context, tags=tags) as run:
        import mlflow as mlf

        mlf.log_params(
            {
                **dataclasses.asdict(params),
                "init": init,
                **(lineage or {}),
                "refit_on_train_full": refit,
                "data_version": fingerprint(split.train_full),
                "validation_cutoff": str(split.validation_cutoff),
                "test_cutoff": str(split.test_cutoff),
                "n_items": split.baskets.n_items,
                "n_train_baskets": split.train.n_baskets,
                "device": str(device),
                "torch_version": torch.__version__,
                "python_version": platform.python_version(),
            }
        )
        model = model_cls(params).fit(
            split.train,
            split.validation,
            on_epoch=_progress(context, "fit"),
            init_from=init_from,
            **fit_kwargs,
        )
        if model.warm_start is not None:
            mlf.log_params(model.warm_start.as_params())
            context.log.info(f"{run_name}: warm start {model.warm_start}")
        result = model.result
        validation = {k: float(v) for k, v in result.history[result.best_epoch - 1].items() if k != "epoch"}
        mlf.log_metrics({metric_key(f"best/{k}"): v for k, v in validation.items()})
        mlf.log_metric("best_epoch", result.best_epoch)
        curves = {k: [h[k] for h in result.history if k in h] for k in ("loss", result.monitor)}
        if refit:
            final = dataclasses.replace(params, epochs=max(result.best_epoch, 1), patience=0)
            model = model_cls(final).fit(
                split.train_full, on_epoch=_progress(context, "refit"), init_from=init_from, **fit_kwargs
            )
        elif hasattr(model, "with_history"):
            model.with_history(split.train_full)
        title = f"{run_name}: training loss and {result.monitor}"
        metadata = _log_trained(
            model, result, curves, title, RECOMMENDER_MODEL, model_type, artifacts, mlflow, run, run_name
        )
    context.log.info(
        f"{run_name}: MLflow run {run.info.run_id}, version {metadata['mlflow_model_version'].value}"
    )
    warm = model.warm_start.as_params() if model.warm_start is not None else {}
    return dg.Output(
        model,
        metadata={
            **metadata,
            "model_type": model_type,
            "init": init,
            **{k: str(v) for k, v in (lineage or {}).items()},
            **warm,
            "device": str(device),
            "stopped_early": result.stopped_early,
            **{f"validation/{k}": v for k, v in validation.items()},
        },
    )


def recommender_asset(
    name: str, model_cls: type, params_cls: type, config_cls: type, description: str
) -> dg.AssetsDefinition:
    """One training asset per recommender: same inputs, same logging, its own hyper-parameters."""

    @dg.asset(name=f"{name}_model", group_name="models", owners=["team:ml"], kinds={"pytorch", "mlflow"},
              description=description)  # fmt: skip
    def _asset(
        context: dg.AssetExecutionContext,
        config: config_cls,  # type: ignore[valid-type]
        baskets: BasketSet,
        split: dict,
        mlflow: MLflowResource,
        artifacts: ArtifactStore,
    ) -> dg.Output:
        params = params_from_config(params_cls, config)
        bs_split = split_from_record(baskets, split)
        refit = config.refit_on_train_full
        return train_recommender(context, name, model_cls, params, refit, bs_split, mlflow, artifacts)

    return _asset


cf_model = recommender_asset(
    "cf",
    CFRecommender,
    CFParams,
    CFConfig,
    "Implicit-feedback matrix factorisation (BPR, negative sampling), early stopping on validation "
    "NDCG@10. One MLflow run per materialization; a registered model version.",
)
dnn_model = recommender_asset(
    "dnn",
    DNNRecommender,
    DNNParams,
    DNNConfig,
    "Neural next-basket recommender: learned co-occurrence + gated repeat signal over the user's "
    "time-decayed history; also item-to-item association scores. Logged to MLflow.",
)

sequence_model = recommender_asset(
    "sequence",
    SequenceRecommender,
    SequenceParams,
    SequenceConfig,
    "GRU over each user's chronological baskets (temporal associations: what follows what) on top of a "
    "personal repeat prior; next-basket scores from the whole sequence. Logged to MLflow like the others.",
)


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "mlflow"},
    description="Basket GAN: seed-conditional generator (differentiable top-k) trained by an MMD on item "
    "and pair supports plus a light adversary; optional differential privacy (DP-SGD discriminator, "
    "Gaussian releases). Fitted on the train period only; fidelity and privacy scored on held-out "
    "train-period baskets beside the real-vs-real ceiling, logged as run metrics and version tags.",
)
def gan_model(
    context: dg.AssetExecutionContext,
    config: GANConfig,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> dg.Output[BasketGANModel]:
    from assoc_pipeline.core.privacy.synthetic_report import report_markdown
    from assoc_pipeline.core.recsys.models.gan.protocol import (
        evaluate_gan,
        fit_gan_on_train_period,
        parts_for,
    )

    params = params_from_config(GANParams, config)
    device = pick_device(params.device)
    periods = split_from_record(baskets, split)
    train_period = periods.train  # never the validation period: utility is scored there (issue 12)
    parts = parts_for(train_period, params)
    with mlflow.start_run("gan", context, tags={"model_type": "gan", "task": "synthetic_baskets"}) as run:
        import mlflow as mlf

        mlf.log_params(
            {
                **dataclasses.asdict(params),
                "data_version": fingerprint(train_period),
                "trained_on": f"random fit part of the train period < {periods.validation_cutoff.date()}",
                **parts.summary(),
                "n_items": train_period.n_items,
                "device": str(device),
                "torch_version": torch.__version__,
            }
        )
        model, parts = fit_gan_on_train_period(train_period, params, on_epoch=_progress(context, "fit"))
        result = model.result
        report = evaluate_gan(model, train_period, parts)
        mlf.log_metrics({metric_key(k): float(v) for k, v in report.items() if _finite(v)})
        keys = [
            k
            for k in ("mmd", "discriminator_loss", "val_mmd", "val_pair_cooc_pearson")
            if k in result.history[-1]
        ]
        curves = {k: [h[k] for h in result.history if k in h] for k in keys}
        title = "basket GAN: MMD, discriminator loss, held-out MMD and pair correlation"
        metadata = _log_trained(model, result, curves, title, GAN_MODEL, "gan", artifacts, mlflow, run)
        version = metadata["mlflow_model_version"].value
        client = mlflow.client()
        for key, value in report.items():  # MLflow compares registered GAN versions on these
            if key.startswith(("fidelity/", "privacy/", "dp/")) and _finite(value):
                client.set_model_version_tag(GAN_MODEL, version, key, f"{float(value):.4f}")
    context.log.info(
        "gan: " + ", ".join(f"{k}={v:.3f}" for k, v in report.items() if k.startswith("fidelity/"))
    )
    return dg.Output(
        model,
        metadata={
            **metadata,
            "device": str(device),
            f"best/{result.monitor}": float(result.best_metric),
            **{k: float(v) for k, v in report.items() if _finite(v)},
            "quality": dg.MetadataValue.md(report_markdown(report)),
            "differential_privacy": dg.MetadataValue.text(_dp_sentence(report)),
        },
    )


def _finite(value: typing.Any) -> bool:
    try:
        return bool(abs(float(value)) < float("inf"))
    except (TypeError, ValueError):
        return False


def _dp_sentence(report: dict[str, float]) -> str:
    if "dp/epsilon" not in report:
        return "not private (config dp=false): no formal guarantee; see the empirical privacy figures"
    return (
        f"(epsilon={report['dp/epsilon']:.2f}, delta={report['dp/delta']:g})-DP per basket, RDP accountant "
        f"(Opacus): {report['dp/sgd_steps']:.0f} DP-SGD discriminator steps at noise multiplier "
        f"{report['dp/sgd_noise_multiplier']:.2f}; 3 Gaussian releases at "
        f"{report['dp/release_noise_multiplier']:.2f}"
    )


class SyntheticConfig(dg.Config):
    """How many synthetic baskets to draw and which checks to run on them."""

    n_baskets: int = 0  # 0 = as many as the GAN's real fit baskets
    seed: int = 0
    more_associations: bool = True  # rules real-only vs real + synthetic, checked in the test period
    measure_utility: bool = True  # costs two fits
    utility_model: str = "dnn"  # dnn | cf
    utility_epochs: int = 5


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "parquet"},
    description="Synthetic baskets from the GAN (a dataset to share) with the GAN's fidelity and privacy "
    "tables (vs held-out real baskets, beside the real-vs-real ceiling; epsilon when trained with DP), "
    "the 'more associations' test (do rules that only real + synthetic mining yields hold in the test "
    "period?) and utility (real vs real + synthetic training, scored on the validation period the GAN "
    "never saw).",
)
def synthetic_baskets(
    context: dg.AssetExecutionContext,
    config: SyntheticConfig,
    gan_model: BasketGANModel,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
) -> dg.Output[BasketSet]:
    from assoc_pipeline.core.privacy.more_associations import more_associations
    from assoc_pipeline.core.privacy.synthetic_quality import utility_comparison
    from assoc_pipeline.core.privacy.synthetic_report import report_markdown
    from assoc_pipeline.core.recsys.models.gan.protocol import parts_for

    periods = split_from_record(baskets, split)
    fit = periods.train.subset(parts_for(periods.train, gan_model.params).fit_rows)
    synthetic = gan_model.sample_basket_set(config.n_baskets or fit.n_baskets, seed=config.seed)
    figures = {k: float(v) for k, v in gan_model.evaluation.items()}  # the GAN's own report
    if config.more_associations:
        assoc = more_associations(fit, synthetic, periods.test)
        figures.update({f"associations/{k}": float(v) for k, v in assoc.items()})
    if config.measure_utility:
        if config.utility_model not in ("dnn", "cf"):
            raise ValueError(
                f"synthetic_baskets config utility_model={config.utility_model!r}: expected dnn or cf"
            )
        model_cls, params_cls = (
            (DNNRecommender, DNNParams) if config.utility_model == "dnn" else (CFRecommender, CFParams)
        )
        params = params_cls(epochs=config.utility_epochs, patience=0)
        utility = utility_comparison(periods.train, periods.validation, synthetic, lambda: model_cls(params))
        figures.update({f"utility/{k}": v for k, v in utility.items()})
    context.log.info("synthetic baskets: " + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    with mlflow.start_run(
        "synthetic_baskets", context, tags={"model_type": "gan", "task": "synthetic_baskets"}
    ) as run:
        import mlflow as mlf

        mlf.log_params(
            {"n_baskets": synthetic.n_baskets, "seed": config.seed, "utility_model": config.utility_model}
        )
        mlf.log_metrics({metric_key(k): float(v) for k, v in figures.items() if _finite(v)})
    return dg.Output(
        synthetic,
        metadata={
            "dagster/row_count": synthetic.n_baskets,
            **{k: float(v) for k, v in figures.items() if _finite(v)},
            "quality": dg.MetadataValue.md(report_markdown(figures)),
            "differential_privacy": dg.MetadataValue.text(_dp_sentence(figures)),
            **mlflow.run_metadata(run.info.run_id),
        },
    )
