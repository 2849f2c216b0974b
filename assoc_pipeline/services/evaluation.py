"""The evaluation report of the pipeline: every trained model beside every baseline, logged to MLflow.

Protocol and figures are ``core/recsys/report.py``'s; this module assembles the methods from
what the pipeline trained (with their MLflow lineage), draws the charts and writes the markdown
sections people read, and records the whole report as one MLflow evaluation run linked to each
model's training run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from assoc_pipeline.core.plots import grouped_bars
from assoc_pipeline.core.recsys.baseline_tuning import PRIMARY, BaselineSettings
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.report import (
    COMPLETION,
    NEXT_BASKET,
    MethodSpec,
    TestTasks,
    bar_markdown,
    bar_standing,
    best_per_task,
    build_report,
    cold_start_markdown,
    content_specs,
    mlflow_metric_name,
    report_tasks,
    side_by_side,
    side_by_side_markdown,
    summary_table,
)
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.rich_values import Image, Markdown
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.training import Log

CHARTS = ((NEXT_BASKET, "recall"), (NEXT_BASKET, "ndcg"), (COMPLETION, "hit_rate"))


@dataclass
class TrainedMethod:
    """A trained model as the report sees it: the model and where it came from in MLflow/Dagster."""

    model: Recommender
    lineage: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Evaluation:
    report: pd.DataFrame
    metadata: dict[str, Any]


def model_spec(name: str, method: TrainedMethod, split: BasketSplit) -> MethodSpec:
    """A trained model as a report method; it scores from the train_full history, as baselines do.
    Its validation figures (what it is chosen on) come from its training run."""
    method.model.with_history(split.train_full)
    validation, notes = selection_figures(method.lineage)
    return MethodSpec(
        name,
        "model",
        {NEXT_BASKET: method.model, COMPLETION: method.model},
        params=type(method.model).__name__,
        model_version=method.lineage.get("model_version"),
        mlflow_run_id=method.lineage.get("mlflow_run_id"),
        notes=notes,
        validation=validation,
    )


def selection_figures(lineage: Mapping[str, Any]) -> tuple[dict[str, float], list[str]]:
    """(task -> validation figure, notes): what the gate may choose a model on. None for a
    fine-tune whose base trained on the validation months: its figure there is not a fair one."""
    from assoc_pipeline.services.fine_tuning import BASE_SAW_VALIDATION

    if str(lineage.get(BASE_SAW_VALIDATION)) == "True":
        base = lineage.get("warm_start_from_version", "?")
        return {}, [f"not a candidate: its base (version {base}) trained on the validation months"]
    validation = {}
    for task, metric in PRIMARY.items():
        value = lineage.get(f"{task}/{metric}@10")
        if value is not None:
            validation[task] = float(value)
    return validation, []


def evaluate_pipeline(
    split: BasketSplit,
    trained: Mapping[str, TrainedMethod],
    item_vectors: np.ndarray,
    hybrid: Mapping[str, Any],
    tracker: MLflowResource,
    artifacts: ArtifactStore,
    *,
    finetuned: TrainedMethod | None = None,
    finetuned_skip_reason: str = "",
    split_record: Mapping[str, Any] | None = None,
    baselines: Mapping[str, Any] | None = None,
    ks: tuple[int, ...] = (5, 10, 20),
    seed: int = 0,
    run_tags: Mapping[str, str] | None = None,
    log: Log = print,
    max_completion: int = 0,
    workers: int = 1,
) -> Evaluation:
    """Score every baseline, content method and trained model on the same test queries.

    ``trained``: report name -> model (registry types by name); ``finetuned``: the warm-started
    model (its lineage names its ``model_type``), compared with its from-scratch twin; ``workers``
    methods are scored at a time (threads; the same figures).
    """
    import time

    models = {name: model_spec(name, m, split) for name, m in trained.items()}
    lineage = {name: dict(m.lineage) for name, m in trained.items()}
    pair = None  # (scratch, fine-tuned) method names
    if finetuned is not None:
        from assoc_pipeline.core.recsys.model_types import registered_name

        scratch = str(finetuned.lineage.get("model_type") or registered_name(finetuned.model))
        pair = (scratch, f"{scratch}_finetuned")
        lineage[pair[1]] = dict(finetuned.lineage)
        models[pair[1]] = model_spec(pair[1], finetuned, split)
    settings = BaselineSettings.from_dict(baselines["settings"]) if baselines else BaselineSettings()
    weights = {t: hybrid[t]["weight"] for t in (NEXT_BASKET, COMPLETION)}
    extra = content_specs(item_vectors, weights, hybrid.get("half_life_days", 90.0), settings)
    started = time.perf_counter()
    tasks = report_tasks(split, seed, max_completion)
    report = build_report(
        split,
        {**models, **extra},
        ks=ks,
        seed=seed,
        log=log,
        baselines=settings,
        baseline_validation=(baselines or {}).get("validation"),
        tasks=tasks,
        workers=workers,
    )
    report.attrs.pop("per_query", None)  # per-query arrays: used for the intervals, not stored
    reading = _ranker_reading(trained, tasks, seed, log)
    seconds = time.perf_counter() - started
    standing = bar_standing(report, list(models))
    sections = _sections(report, standing, lineage, pair, finetuned_skip_reason)
    if reading:
        sections[READING_TITLE] = Markdown(reading)
    charts = {}
    for task, metric in CHARTS:
        sel = report[(report.task == task) & (report.metric == metric)]
        path = artifacts.path("evaluation_report", f"{task}_{metric}.png")
        path.write_bytes(grouped_bars(sel, "method", "k", "value", f"test {task}: {metric}@K per method"))
        charts[f"{task}_{metric}"] = Image(path)
    with tracker.start_run("evaluation", tags={**(run_tags or {}), "task": "evaluation"}) as run:
        tags = {}
        for name, spec in models.items():
            if spec.mlflow_run_id:
                tags[f"training_run/{name}"] = spec.mlflow_run_id
                tracker.tag_run(spec.mlflow_run_id, {"evaluation_run_id": run.info.run_id})
            if spec.model_version:
                tags[f"model_version/{name}"] = spec.model_version
            tags[f"bar/{name}"] = "meets" if standing[name]["passes"] else "does not meet"
        tracker.set_tags(tags)
        tracker.log_params(
            {
                **(split_record or {}),
                "ks": ",".join(map(str, ks)),
                "seed": seed,
                "max_completion_queries": max_completion,
            }
        )
        tracker.log_metrics(
            {
                mlflow_metric_name(r.task, r.metric, int(r.k), r.method): float(r.value)
                for r in report.itertuples()
            }
        )
        document = "\n\n".join(f"## {title}\n\n{body}" for title, body in sections.items())
        tracker.log_files({"evaluation_report.md": document, "evaluation_report.parquet": _parquet(report)})
        for path in charts.values():
            tracker.log_artifact(path, artifact_path="plots")
    best = best_per_task(report)
    metadata = {
        "dagster/row_count": len(report),
        "methods": sorted(report["method"].unique().tolist()),
        "next_basket_users": int(report.loc[report.task == NEXT_BASKET, "n_queries"].max()),
        "completion_queries": int(report.loc[report.task == COMPLETION, "n_queries"].max()),
        "seconds": round(seconds, 1),
        "seed": seed,
        "max_completion_queries": max_completion,  # the champion re-scores on the same sample
        "summary": sections["Summary"],
        "against_the_bar": sections["Against the bar"],
        "warm_vs_scratch": sections["Warm start vs from scratch"],
        "cold_start": sections["Cold-start slice"],
        **({"ranker_reading": sections[READING_TITLE]} if reading else {}),
        "bar": standing,
        **{f"best/{k}": f"{m} ({v:.4f})" for k, (m, v) in best.items()},
        "models": {
            n: {"mlflow_run_id": s.mlflow_run_id, "model_version": s.model_version} for n, s in models.items()
        },
        **tracker.run_metadata(run.info.run_id),
        **charts,
    }
    return Evaluation(report, metadata)


READING_TITLE = "What the ranker reads (feature groups held at their mean)"


def _ranker_reading(trained: Mapping[str, TrainedMethod], tasks: TestTasks, seed: int, log: Log) -> str:
    """Each trained ranker's test figures with one feature group (or its item embedding) held at
    its training mean, next basket and completion (``core/recsys/ranker_reading.py``); "" if none."""
    from assoc_pipeline.core.recsys import ranker_reading as reading
    from assoc_pipeline.core.recsys.models.ranker import RankerRecommender

    parts = []
    next_basket, completion = tasks.get(NEXT_BASKET), tasks.get(COMPLETION)
    for name, method in trained.items():
        model = method.model
        if not isinstance(model, RankerRecommender) or not len(next_basket):
            continue
        log(f"{name}: test figures with each feature group held at its mean ...")
        try:  # a reading, not a figure the gate uses: its failure is reported, not fatal
            table = reading.next_basket_reading(model, next_basket, seed=seed)
            rules = "" if model.params.rule_features else " No rules among its inputs (`rule_features` off)."
            parts.append(
                f"**{name}, next basket** ({table.attrs['n_queries']} test users). Each row holds one part "
                "of the trained network's input at its training mean (the item embedding: every item reads "
                "the mean of the embedding table), no retraining; groups overlap, so the retrained "
                "ablation (validation, `python benchmarks/ranker.py --ablation`) is the stricter "
                f"test.{rules}\n\n{reading.reading_markdown(table)}"
            )
            table = reading.completion_reading(model, completion, seed=seed) if len(completion) else None
            if table is not None:
                parts.append(
                    f"**{name}, completion head** ({table.attrs['n_queries']} test queries)\n\n"
                    f"{reading.reading_markdown(table)}"
                )
        except Exception as exc:
            log(f"{name}: the feature reading failed: {type(exc).__name__}: {exc}")
            parts.append(f"**{name}**: the feature reading failed ({type(exc).__name__}: {exc}).")
    return "\n\n".join(parts)


def _sections(
    report: pd.DataFrame,
    standing: dict[str, dict],
    lineage: Mapping[str, Mapping[str, Any]],
    pair: tuple[str, str] | None,
    skip_reason: str,
) -> dict[str, Markdown]:
    """The report's readable parts, in the order of the markdown document."""
    if pair:
        warm = _comparison(report, lineage, *pair)
        warm += f"\n- warm start from version {lineage[pair[1]].get('warm_start_from_version')}"
    else:
        warm = f"No fine-tuned model in this report: {skip_reason or '?'}."
    return {
        "Summary": Markdown(_summary_markdown(summary_table(report))),
        "Against the bar": Markdown(bar_markdown(standing)),
        "Warm start vs from scratch": Markdown(warm),
        "Cold-start slice": Markdown(cold_start_markdown(report)),
    }


def _comparison(
    report: pd.DataFrame, lineage: Mapping[str, Mapping[str, Any]], first: str, second: str
) -> str:
    """Two methods side by side, with their training cost from the training steps' metadata."""
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


def _parquet(report: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    report.to_parquet(buffer, index=False)
    return buffer.getvalue()
