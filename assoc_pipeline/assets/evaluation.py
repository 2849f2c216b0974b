"""Evaluation layer: the leakage-free split and the report of every method on the test period."""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.assets.fine_tuning import MODEL_TYPES
from assoc_pipeline.assets.images import png_metadata
from assoc_pipeline.checks.contracts import contract_check_result, contract_check_spec
from assoc_pipeline.core.content.embeddings import embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.plots import grouped_bars
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.report import (
    COMPLETION,
    NEXT_BASKET,
    MethodSpec,
    bar_markdown,
    bar_standing,
    best_per_task,
    build_report,
    cold_start_markdown,
    content_specs,
    mlflow_metric_name,
    side_by_side,
    side_by_side_markdown,
    summary_table,
)
from assoc_pipeline.core.recsys.split import (
    DEFAULT_TEST_CUTOFF,
    DEFAULT_VALIDATION_CUTOFF,
    BasketSplit,
    resolve_cutoffs,
    split_from_record,
    split_record,
    temporal_split,
)
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource


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


class ReportConfig(dg.Config):
    """K values and the seed of the hidden item of each completion query."""

    ks: list[int] = [5, 10, 20]  # noqa: RUF012 - pydantic copies defaults
    seed: int = 0


def model_lineage(instance: dg.DagsterInstance, asset: str) -> dict[str, str | None]:
    """MLflow run id and registered version of the latest materialization of a training asset."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}

    def text(key: str) -> str | None:
        return str(meta[key].value) if key in meta else None

    return {
        "mlflow_run_id": text("mlflow_run_id"),
        "model_version": text("mlflow_model_version"),
        "dagster_run_id": event.run_id if event else None,
        "train_seconds": text("train_seconds"),
        "best_epoch": text("best_epoch"),
        "warm_start_from_version": text("warm_start_from_version"),
    }


def model_spec(name: str, model: Recommender, lineage: dict, split: BasketSplit) -> MethodSpec:
    """A trained model as a report method; DNN scores from the train_full history (as baselines)."""
    if hasattr(model, "with_history"):
        model.with_history(split.train_full)
    return MethodSpec(
        name,
        "model",
        {NEXT_BASKET: model, COMPLETION: model},
        params=type(model).__name__,
        model_version=lineage.get("model_version"),
        mlflow_run_id=lineage.get("mlflow_run_id"),
    )


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"pandas", "parquet", "mlflow"},
    check_specs=[contract_check_spec("evaluation_report")],
    description="Every baseline and trained model on the same test tasks (next-basket, basket "
    "completion), K = 5/10/20: one long table (method x task x metric x k), bar charts, an MLflow "
    "evaluation run linked to each model's training run, and where each model stands against the bar.",
)
def evaluation_report(
    context: dg.AssetExecutionContext,
    config: ReportConfig,
    baskets: BasketSet,
    split: dict,
    cf_model: Recommender,
    dnn_model: Recommender,
    dnn_text_model: Recommender,
    sequence_model: Recommender,
    finetuned_model,  # a Recommender, or {"status": "skipped", "reason": ...}
    item_embeddings: pd.DataFrame,
    hybrid_model: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> Iterator:
    """Baselines are fitted here on ``train_full``; the rules baseline mines its own pair rules on
    ``train_full`` (the ``association_rules`` asset is mined on every basket, test included).
    A fine-tuned model joins as ``<type>_finetuned`` and is compared with its from-scratch twin;
    ``content`` and ``hybrid`` (description embeddings) are fitted here like the baselines."""
    bs_split = split_from_record(baskets, split)
    ks = tuple(sorted(set(config.ks)))
    models, lineage = {}, {}
    trained = {
        "cf_model": cf_model,
        "dnn_model": dnn_model,
        "dnn_text_model": dnn_text_model,
        "sequence_model": sequence_model,
    }
    for asset, model in trained.items():
        name = asset.removesuffix("_model")
        lineage[name] = model_lineage(context.instance, asset)
        models[name] = model_spec(name, model, lineage[name], bs_split)
    pair = None  # (scratch, fine-tuned) method names
    if isinstance(finetuned_model, Recommender):
        scratch = next(t for t, cls in MODEL_TYPES.items() if isinstance(finetuned_model, cls))
        pair = (scratch, f"{scratch}_finetuned")
        lineage[pair[1]] = model_lineage(context.instance, "finetuned_model")
        models[pair[1]] = model_spec(pair[1], finetuned_model, lineage[pair[1]], bs_split)
    weights = {t: hybrid_model[t]["weight"] for t in (NEXT_BASKET, COMPLETION)}
    vectors = embedding_matrix(item_embeddings, baskets.n_items)
    extra = content_specs(vectors, weights, hybrid_model.get("half_life_days", 90.0))
    started = time.perf_counter()
    report = build_report(bs_split, {**models, **extra}, ks=ks, seed=config.seed, log=context.log.info)
    seconds = time.perf_counter() - started
    summary = summary_table(report)
    standing = bar_standing(report, list(models))
    best = best_per_task(report)
    pngs = {}
    for task, metric in ((NEXT_BASKET, "recall"), (NEXT_BASKET, "ndcg"), (COMPLETION, "hit_rate")):
        sel = report[(report.task == task) & (report.metric == metric)]
        png = grouped_bars(sel, "method", "k", "value", f"test {task}: {metric}@K per method")
        pngs.update(
            png_metadata(png, artifacts.path("evaluation_report", f"{task}_{metric}.png"), f"{task}_{metric}")
        )
    md = _summary_markdown(summary)
    bar_md = bar_markdown(standing)
    text_md = _comparison(report, lineage, "dnn", "dnn_text")
    cold_md = cold_start_markdown(report)
    if pair:
        warm_md = _comparison(report, lineage, *pair)
        warm_md += f"\n- warm start from version {lineage[pair[1]].get('warm_start_from_version')}"
    else:
        reason = finetuned_model.get("reason", "?") if isinstance(finetuned_model, dict) else "?"
        warm_md = f"No fine-tuned model in this report: {reason}."
    with mlflow.start_run("evaluation", context, tags={"task": "evaluation"}) as run:
        import mlflow as mlf

        tags = {}
        for name, spec in models.items():
            if spec.mlflow_run_id:
                tags[f"training_run/{name}"] = spec.mlflow_run_id
                mlflow.client().set_tag(spec.mlflow_run_id, "evaluation_run_id", run.info.run_id)
            if spec.model_version:
                tags[f"model_version/{name}"] = spec.model_version
            tags[f"bar/{name}"] = "meets" if standing[name]["passes"] else "does not meet"
        mlf.set_tags(tags)
        mlf.log_params(
            {**{k: v for k, v in split.items()}, "ks": ",".join(map(str, ks)), "seed": config.seed}
        )
        mlf.log_metrics(
            {
                mlflow_metric_name(r.task, r.metric, int(r.k), r.method): float(r.value)
                for r in report.itertuples()
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            report.to_parquet(Path(tmp) / "evaluation_report.parquet", index=False)
            (Path(tmp) / "evaluation_report.md").write_text(
                f"{md}\n\n## Against the bar\n\n{bar_md}\n\n## Warm start vs from scratch\n\n{warm_md}\n"
                f"\n## DNN without vs with text features\n\n{text_md}\n\n## Cold-start slice\n\n{cold_md}\n"
            )
            mlf.log_artifacts(tmp)
        for key, meta in pngs.items():
            if key.endswith("_png"):
                mlf.log_artifact(meta.value, artifact_path="plots")
    n_nb = int(report.loc[report.task == NEXT_BASKET, "n_queries"].max())
    n_ct = int(report.loc[report.task == COMPLETION, "n_queries"].max())
    yield dg.Output(
        report,
        metadata={
            "dagster/row_count": len(report),
            "methods": dg.MetadataValue.json(sorted(report["method"].unique().tolist())),
            "next_basket_users": n_nb,
            "completion_queries": n_ct,
            "seconds": round(seconds, 1),
            "summary": dg.MetadataValue.md(md),
            "against_the_bar": dg.MetadataValue.md(bar_md),
            "warm_vs_scratch": dg.MetadataValue.md(warm_md),
            "text_features": dg.MetadataValue.md(text_md),
            "cold_start": dg.MetadataValue.md(cold_md),
            "bar": dg.MetadataValue.json(standing),
            **{f"best/{k}": f"{m} ({v:.4f})" for k, (m, v) in best.items()},
            "models": dg.MetadataValue.json(
                {
                    n: {"mlflow_run_id": s.mlflow_run_id, "model_version": s.model_version}
                    for n, s in models.items()
                }
            ),
            **mlflow.run_metadata(run.info.run_id),
            **pngs,
        },
    )
    yield contract_check_result("evaluation_report", report)


def _comparison(report: pd.DataFrame, lineage: dict[str, dict], first: str, second: str) -> str:
    """Two methods side by side, with their training cost from the training assets' metadata."""
    cost = {
        m: {k: lineage[m][k] for k in ("train_seconds", "best_epoch") if lineage[m].get(k)}
        for m in (first, second)
    }
    return side_by_side_markdown(side_by_side(report, first, second), cost)


def _summary_markdown(summary: pd.DataFrame) -> str:
    table = summary.copy()
    for col in table.columns[1:]:
        table[col] = table[col].map(lambda v: "—" if pd.isna(v) else f"{v:.4f}")
    return table.reset_index().to_markdown(index=False)
