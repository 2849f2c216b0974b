"""Synthetic baskets: the basket GAN, and the baskets it draws with their fidelity and privacy."""

import dagster as dg

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.orchestration.config import config_for, settings_from_config
from assoc_pipeline.orchestration.metadata import as_metadata
from assoc_pipeline.orchestration.run_tags import dagster_run_tags
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.synthetic import SyntheticSettings, synthetic_report, train_gan

GANConfig = config_for(GANParams, "GANConfig")
SyntheticConfig = config_for(SyntheticSettings, "SyntheticConfig")


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "mlflow"},
    description="WGAN-GP over multi-hot baskets (straight-through top-k generator): a source of "
    "privacy-safe synthetic baskets. Keeps the epoch whose samples best match item frequencies.",
)
def gan_model(
    context: dg.AssetExecutionContext,
    config: GANConfig,  # type: ignore[valid-type]
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> dg.Output[BasketGANModel]:
    trained = train_gan(
        settings_from_config(GANParams, config),
        split_from_record(baskets, split),
        mlflow,
        artifacts,
        run_tags=dagster_run_tags(context),
        log=context.log.info,
    )
    return dg.Output(trained.model, metadata=as_metadata(trained.metadata))


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "parquet"},
    description="Synthetic baskets from the GAN — a privacy-safe dataset to share — with fidelity "
    "(item/pair frequency correlation, basket-size distance, rule overlap), privacy (exact copies, "
    "distance to closest record vs a real holdout) and utility (real vs real+synthetic training).",
)
def synthetic_baskets(
    context: dg.AssetExecutionContext,
    config: SyntheticConfig,  # type: ignore[valid-type]
    gan_model: BasketGANModel,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
) -> dg.Output[BasketSet]:
    synthetic, metadata = synthetic_report(
        gan_model,
        split_from_record(baskets, split),
        settings_from_config(SyntheticSettings, config),
        mlflow,
        run_tags=dagster_run_tags(context),
        log=context.log.info,
    )
    return dg.Output(synthetic, metadata=as_metadata(metadata))
