"""Trained recommenders: one asset per registered model type, plus the fine-tuned champion.

The assets are derived from :data:`~assoc_pipeline.core.recsys.model_types.MODEL_TYPES`: each type
gets ``<name>_model`` with its hyper-parameters as Launchpad config, the same inputs, and one
MLflow run per materialization (``services/training.py``).
"""

from collections.abc import Iterable

import dagster as dg

from assoc_pipeline.core.content.embeddings import embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.model_types import ITEM_VECTORS, ModelType
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.orchestration.config import config_for, settings_from_config
from assoc_pipeline.orchestration.lineage import latest_materialization_run
from assoc_pipeline.orchestration.metadata import as_metadata
from assoc_pipeline.orchestration.run_tags import dagster_run_tags
from assoc_pipeline.orchestration.step_priority import priority_tags
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.ease_cache import EaseCacheResource
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.fine_tuning import FineTuneSettings, Skipped, fine_tune
from assoc_pipeline.services.training import Trained, train_recommender

MODEL_KINDS = {"pytorch", "mlflow"}


def model_config(t: ModelType) -> type[dg.Config]:
    """The type's hyper-parameters, plus whether to refit on everything before the test cutoff."""
    refit = (bool, t.refit_on_train_full)
    name = "".join(part.title() for part in t.name.split("_")) + "Config"
    return config_for(t.params, name, {"refit_on_train_full": refit}, defaults=t.param_defaults)


def _output(trained: Trained) -> dg.Output:
    return dg.Output(trained.model, metadata=as_metadata(trained.metadata))


def training_asset(t: ModelType) -> dg.AssetsDefinition:
    """``<name>_model``: fit, early-stop on validation, log to MLflow, register a version."""
    config_cls = model_config(t)
    ins = {"baskets": dg.AssetIn(), "split": dg.AssetIn()}
    if ITEM_VECTORS in t.fit_inputs:
        ins["item_embeddings"] = dg.AssetIn()

    @dg.asset(
        name=t.asset_name,
        ins=ins,
        group_name="models",
        owners=["team:ml"],
        kinds=MODEL_KINDS,
        op_tags=priority_tags(t.asset_name),
        description=f"{t.description} One MLflow run per materialization; a registered version.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: config_cls,  # type: ignore[valid-type]
        mlflow: MLflowResource,
        artifacts: ArtifactStore,
        ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
        **inputs: object,
    ) -> dg.Output:
        baskets: BasketSet = inputs["baskets"]  # type: ignore[assignment]
        fit_inputs = {}
        if "item_embeddings" in inputs:
            fit_inputs[ITEM_VECTORS] = embedding_matrix(inputs["item_embeddings"], baskets.n_items)
        trained = train_recommender(
            t,
            settings_from_config(t.params, config),
            split_from_record(baskets, inputs["split"]),
            mlflow,
            artifacts,
            refit=config.refit_on_train_full,
            run_tags=dagster_run_tags(context),
            log=context.log.info,
            fit_inputs=fit_inputs,
            baskets_run=latest_materialization_run(context.instance, "baskets"),
        )
        return _output(trained)

    return _asset


def training_assets(types: Iterable[ModelType]) -> list[dg.AssetsDefinition]:
    """One training asset per model type (the registry's, or a test's own list)."""
    return [training_asset(t) for t in types]


FineTuneConfig = config_for(FineTuneSettings, "FineTuneConfig")


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds=MODEL_KINDS,
    description="The champion (or, until one is promoted, the newest registered fine-tunable model from "
    "an earlier run) fine-tuned on the latest baskets: weights carried over by item/user id, new items "
    "start fresh. Logged as an MLflow run tagged init=warm_start; compared with the from-scratch "
    "model in the evaluation report. Skipped, with the reason, when there is nothing to start from.",
)
def finetuned_model(
    context: dg.AssetExecutionContext,
    config: FineTuneConfig,  # type: ignore[valid-type]
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
    ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
) -> dg.Output:
    outcome = fine_tune(
        settings_from_config(FineTuneSettings, config),
        split_from_record(baskets, split),
        mlflow,
        artifacts,
        dagster_run_id=context.run.run_id,
        run_tags=dagster_run_tags(context),
        log=context.log.info,
        baskets_run=latest_materialization_run(context.instance, "baskets"),
    )
    if isinstance(outcome, Skipped):
        context.log.info(f"finetuned_model: nothing fine-tuned: {outcome.reason}")
        record = outcome.as_record()
        return dg.Output(record, metadata=record)
    return _output(outcome)
