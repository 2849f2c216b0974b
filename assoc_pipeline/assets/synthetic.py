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
    description="Basket GAN: seed-conditional generator (differentiable top-k) trained by an MMD on item "
    "and pair supports plus a light adversary; optional differential privacy (DP-SGD discriminator, "
    "Gaussian releases). Fitted on the train period only; fidelity and privacy scored on held-out "
    "train-period baskets beside the real-vs-real ceiling, logged as run metrics and version tags.",
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
    description="Synthetic baskets from the GAN (a dataset to share) with the GAN's fidelity and privacy "
    "tables (vs held-out real baskets, beside the real-vs-real ceiling; epsilon when trained with DP), "
    "the 'more associations' test (do rules that only real + synthetic mining yields hold in the test "
    "period?) and utility (real vs real + synthetic training, scored on the validation period the GAN "
    "never saw).",
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
