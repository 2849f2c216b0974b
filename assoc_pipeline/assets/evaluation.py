"""Evaluation: the leakage-free split and the report of every method on the test period."""

from collections.abc import Iterable, Iterator
from typing import Any

import dagster as dg
import pandas as pd

from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.core.content.embeddings import embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.model_types import ModelType
from assoc_pipeline.core.recsys.split import (
    DEFAULT_TEST_CUTOFF,
    DEFAULT_VALIDATION_CUTOFF,
    resolve_cutoffs,
    split_from_record,
    split_record,
    temporal_split,
)
from assoc_pipeline.core.recsys.tasks import MAX_COMPLETION_QUERIES
from assoc_pipeline.orchestration.metadata import as_metadata
from assoc_pipeline.orchestration.run_tags import dagster_run_tags
from assoc_pipeline.orchestration.step_priority import priority_tags
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.ease_cache import EaseCacheResource
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.baseline_choice import choose_baselines
from assoc_pipeline.services.evaluation import TrainedMethod, evaluate_pipeline


class SplitConfig(dg.Config):
    """Temporal cutoffs (inclusive lower bounds of validation and test). Tune on validation only.

    ``auto_cutoffs``: when the data does not reach across the configured dates (another retailer's
    log, a two-month sample), cut at the 70% / 85% quantiles of basket time instead, and say so in
    the metadata (``cutoffs_source``); set it False to fail instead.
    """

    validation_cutoff: str = DEFAULT_VALIDATION_CUTOFF
    test_cutoff: str = DEFAULT_TEST_CUTOFF
    auto_cutoffs: bool = True


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"python", "json"},
    description="Leakage-free temporal split of the baskets: train < validation cutoff <= validation "
    "< test cutoff <= test. Stored as its cutoffs and sizes (JSON); rebuilt from `baskets` on load.",
)
def split(context: dg.AssetExecutionContext, config: SplitConfig, baskets: BasketSet) -> dg.Output[dict]:
    """The train / validation / test split, persisted as a small JSON dict.

    **How a downstream asset gets a BasketSplit** — take both ``baskets`` and ``split`` as inputs
    and rebuild it (milliseconds; the row positions are recomputed from ``basket_time``)::

        from assoc_pipeline.core.recsys.split import split_from_record

        @dg.asset(group_name="models")
        def cf_model(context, config: CFConfig, baskets: BasketSet, split: dict) -> ...:
            bs_split = split_from_record(baskets, split)   # -> core.split.BasketSplit
            bs_split.train, bs_split.validation             # fit / early-stop (tuning)
            bs_split.train_full, bs_split.test              # final refit / report (test touched once)

    ``split_from_record`` raises if ``baskets`` changed since ``split`` was materialized (its sizes
    are stored and compared). The dict holds ``validation_cutoff``, ``test_cutoff`` (ISO dates, the
    ones actually used: see ``cutoffs_source``),
    ``n_baskets``, ``n_train``, ``n_validation``, ``n_train_full``, ``n_test`` and ``users_<part>``.
    The next-basket and completion tasks come from ``core.recsys.tasks.next_basket_task`` /
    ``completion_task`` on those parts (see core/recsys/split.py for the protocol).
    """
    val_cut, test_cut, source = resolve_cutoffs(
        baskets, config.validation_cutoff, config.test_cutoff, auto=config.auto_cutoffs
    )
    if source != "configured":
        context.log.warning(f"split: {source}")
    bs_split = temporal_split(baskets, val_cut, test_cut)
    record = {**split_record(bs_split), "cutoffs_source": source}
    context.log.info(f"split: {record}")
    return dg.Output(
        record,
        metadata={
            **{k: v for k, v in record.items()},
            "dagster/row_count": record["n_baskets"],
        },
    )


class BaselineTuningConfig(dg.Config):
    """Seed of the validation completion queries (the same draw every model is chosen on)."""

    seed: int = 0
    workers: int = 2  # grid points scored side by side on threads (the figures do not depend on it)


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"python", "mlflow"},
    op_tags=priority_tags("baseline_tuning"),
    description="The baselines' settings chosen on the validation period (EASE lambda per task, "
    "TIFU-KNN neighbours and mixing weight, content aggregation), with every validation curve and "
    "every baseline's validation figures (what a trained candidate is chosen against). One MLflow run.",
)
def baseline_tuning(
    context: dg.AssetExecutionContext,
    config: BaselineTuningConfig,
    baskets: BasketSet,
    split: dict,
    item_embeddings: pd.DataFrame,
    mlflow: MLflowResource,
    ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
) -> dg.Output[dict]:
    record, metadata = choose_baselines(
        split_from_record(baskets, split),
        embedding_matrix(item_embeddings, baskets.n_items),
        mlflow,
        seed=config.seed,
        run_tags=dagster_run_tags(context),
        log=context.log.info,
        workers=config.workers,
    )
    return dg.Output(record, metadata=as_metadata(metadata))


class ReportConfig(dg.Config):
    """K values and the seed of the hidden item of each completion query."""

    ks: list[int] = [5, 10, 20]  # noqa: RUF012 - pydantic copies defaults
    seed: int = 0
    # completion and cold-start queries: a fixed-seed sample above it; 0 = all
    max_completion_queries: int = MAX_COMPLETION_QUERIES
    workers: int = 2  # methods scored side by side on threads (the figures do not depend on it)


def model_lineage(instance: dg.DagsterInstance, asset: str) -> dict[str, str | None]:
    """MLflow run id, registered version and training facts of the latest materialization of a
    training asset (what the report links to and compares)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}

    def text(key: str) -> str | None:
        return str(meta[key].value) if key in meta else None

    return {
        "mlflow_run_id": text("mlflow_run_id"),
        "model_version": text("mlflow_model_version"),
        "model_type": text("model_type"),
        **{key.removeprefix("selection/"): text(key) for key in meta if key.startswith("selection/")},
        "dagster_run_id": event.run_id if event else None,
        "train_seconds": text("train_seconds"),
        "best_epoch": text("best_epoch"),
        "warm_start_from_version": text("warm_start_from_version"),
        "base_saw_validation": text("base_saw_validation"),  # then no figure to be chosen on
    }


REPORT_INPUTS = ("baskets", "split", "finetuned_model", "item_embeddings", "hybrid_model", "baseline_tuning")


def evaluation_report_asset(types: Iterable[ModelType]) -> dg.AssetsDefinition:
    """The report over every trained model of ``types`` (the registry's, or a test's own list)."""
    types = list(types)
    ins = {
        **{t.asset_name: dg.AssetIn() for t in types},
        **{name: dg.AssetIn() for name in REPORT_INPUTS},
    }

    @dg.asset(
        name="evaluation_report",
        ins=ins,
        group_name="evaluation",
        owners=["team:ml-engineering"],
        kinds={"pandas", "parquet", "mlflow"},
        check_specs=[contract_check_spec("evaluation_report")],
        description="Every baseline and trained model on the same test tasks (next-basket, basket "
        "completion, cold start), K = 5/10/20: one long table (method x task x metric x k), bar charts, "
        "an MLflow evaluation run linked to each model's training run, and where each model stands "
        "against the bar.",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: ReportConfig,
        mlflow: MLflowResource,
        artifacts: ArtifactStore,
        ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
        **inputs: Any,
    ) -> Iterator:
        """Baselines are fitted on ``train_full``; the rules baseline mines its own pair rules on
        ``train_full`` (the ``association_rules`` asset is mined on every basket, test included).
        A fine-tuned model joins as ``<type>_finetuned`` and is compared with its from-scratch twin;
        ``content`` and ``hybrid`` (description embeddings) are fitted like the baselines."""
        baskets: BasketSet = inputs["baskets"]
        trained = {
            t.name: TrainedMethod(inputs[t.asset_name], model_lineage(context.instance, t.asset_name))
            for t in types
        }
        finetuned = inputs["finetuned_model"]
        skip_reason = finetuned.get("reason", "?") if isinstance(finetuned, dict) else ""
        finetuned_method = (
            None
            if isinstance(finetuned, dict)
            else TrainedMethod(finetuned, model_lineage(context.instance, "finetuned_model"))
        )
        evaluation = evaluate_pipeline(
            split_from_record(baskets, inputs["split"]),
            trained,
            embedding_matrix(inputs["item_embeddings"], baskets.n_items),
            inputs["hybrid_model"],
            mlflow,
            artifacts,
            finetuned=finetuned_method,
            finetuned_skip_reason=skip_reason,
            split_record=inputs["split"],
            baselines=inputs["baseline_tuning"],
            ks=tuple(sorted(set(config.ks))),
            seed=config.seed,
            run_tags=dagster_run_tags(context),
            log=context.log.info,
            max_completion=config.max_completion_queries,
            workers=config.workers,
        )
        yield dg.Output(evaluation.report, metadata=as_metadata(evaluation.metadata))
        yield contract_check_result("evaluation_report", evaluation.report)

    return _asset
