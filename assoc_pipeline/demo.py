"""`make demo`: materialize the whole asset graph on the shipped data, then say where to look.

Runs go through the project's embedded Dagster instance (``.dagster_home/``), so every run and
materialization of the demo shows up in ``make ui`` afterwards.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import dagster as dg
import pandas as pd
from tqdm import tqdm

from assoc_pipeline.dagster_home import ensure_dagster_home
from assoc_pipeline.settings import Settings, get_settings

PARTITIONED = ("raw_events", "clean_events")
# Asset logs (progress per epoch, counts) but not Dagster's per-event DEBUG lines.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def source_partitions(settings: Settings) -> list[str]:
    """Monthly partition keys that the configured source has events in."""
    from assoc_pipeline.orchestration.partitions import monthly_partitions
    from assoc_pipeline.resources import build_resources

    events = build_resources(settings)["event_source"].read()
    months = pd.PeriodIndex(events["event_time"], freq="M").unique().sort_values()
    valid = set(monthly_partitions.get_partition_keys())
    keys = [m.start_time.strftime("%Y-%m-%d") for m in months]
    return [k for k in keys if k in valid]


def run_demo(
    partitions: Sequence[str] | None = None,
    settings: Settings | None = None,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    resources: dict | None = None,
) -> dict[str, object]:
    """Materialize every partition of the partitioned assets, then the rest of the graph.

    ``resources`` replaces some of the defaults built from ``settings`` (tests share a text cache)."""
    settings = settings or get_settings()
    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources

    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    resources = {**build_resources(settings), **(resources or {})}
    assets = [*all_assets, *all_checks]
    keys = list(partitions) if partitions is not None else source_partitions(settings)
    started = time.perf_counter()
    dropped: Counter[str] = Counter()
    raw_rows = kept_rows = 0
    checks: dict[str, list[bool]] = {}

    def record_checks(result: dg.ExecuteInProcessResult) -> None:
        for evaluation in result.get_asset_check_evaluations():
            checks.setdefault(evaluation.check_name, []).append(evaluation.passed)

    for key in tqdm(keys, desc="raw_events + clean_events (monthly partitions)", unit="partition"):
        result = dg.materialize(
            assets,
            selection=list(PARTITIONED),
            partition_key=key,
            instance=instance,
            resources=resources,
            run_config=QUIET_LOGS,
        )
        record_checks(result)
        meta = result.asset_materializations_for_node("clean_events")[0].metadata
        raw_rows += meta["raw_rows"].value
        kept_rows += meta["dagster/row_count"].value
        dropped.update({k.split("/", 1)[1]: v.value for k, v in meta.items() if k.startswith("dropped/")})
    rest = [a.key for a in all_assets if a.key.to_user_string() not in PARTITIONED]
    with tqdm(total=1, desc=f"{len(rest)} downstream assets", unit="run") as bar:
        result = dg.materialize(
            assets,
            selection=rest,
            instance=instance,
            resources=resources,
            run_config={**QUIET_LOGS, **(run_config or {})},
        )
        bar.update()
    baskets = result.asset_materializations_for_node("baskets")[0].metadata
    meta = {n: result.asset_materializations_for_node(n) for n in ("frequent_itemsets", "association_rules")}
    report = result.output_for_node("evaluation_report")
    champion = result.output_for_node("champion")
    finetuned = result.asset_materializations_for_node("finetuned_model")[0].metadata
    record_checks(result)
    return {
        "partitions": len(keys),
        "raw_rows": raw_rows,
        "kept_rows": kept_rows,
        "dropped": dict(dropped),
        "baskets": baskets["dagster/row_count"].value,
        "users": baskets["users"].value,
        "items": baskets["items"].value,
        "checks": checks,
        "itemsets": meta["frequent_itemsets"][0].metadata["dagster/row_count"].value,
        "rules": meta["association_rules"][0].metadata["dagster/row_count"].value,
        "leaders": leaders(report),
        "champion": champion,
        "warm_start": warm_start_line(finetuned),
        "seconds": time.perf_counter() - started,
    }


def leaders(report: pd.DataFrame) -> dict[str, str]:
    """Per task: the best method at the headline metric, and the best trained model."""
    out = {}
    for task, metric, label in (
        ("next_basket", "ndcg", "test next-basket NDCG@10"),
        ("completion", "hit_rate", "test completion hit@10"),
        ("cold_start", "hit_rate", "cold-start hit@10"),
    ):
        rows = report[(report["task"] == task) & (report["metric"] == metric) & (report["k"] == 10)]
        if rows.empty:
            continue
        best = rows.loc[rows["value"].idxmax()]
        models = rows[rows["kind"] == "model"]
        model = models.loc[models["value"].idxmax()] if len(models) else None
        text = f"{best['method']} {best['value']:.3f}"
        if model is not None:
            text += f"; best trained model {model['method']} {model['value']:.3f}"
        out[label] = text
    return out


def warm_start_line(meta: dict) -> str:
    """What the warm start did this run (skipped on a fresh store: nothing trained before)."""
    if "reason" in meta:
        return f"skipped — {meta['reason'].value} (run `make demo` again to fine-tune)"
    return (
        f"{meta['model_type'].value} version {meta['warm_start_from_version'].value} "
        f"({meta['warm_start_from'].value}) fine-tuned; compared in the evaluation report"
    )


def format_summary(summary: dict[str, object]) -> str:
    dropped = summary["dropped"]
    lines = [
        "",
        "assoc-pipeline demo — done in {:.0f} s".format(summary["seconds"]),
        f"  partitions materialized : {summary['partitions']}",
        f"  raw events              : {summary['raw_rows']:,}",
        f"  clean events            : {summary['kept_rows']:,}",
        "  dropped by reason       : "
        + ", ".join(f"{k} {v:,}" for k, v in dropped.items() if v)
        + f" (total {sum(dropped.values()):,})",
        f"  baskets / users / items : {summary['baskets']:,} / {summary['users']:,} / {summary['items']:,}",
        "  checks                  : "
        + ", ".join(f"{k} {sum(v)}/{len(v)} passed" for k, v in summary["checks"].items()),
        f"  itemsets / rules        : {summary['itemsets']:,} / {summary['rules']:,}",
        *(f"  {k:<24}: {v}" for k, v in summary["leaders"].items()),
        f"  warm start              : {summary['warm_start']}",
        "  champion                : "
        + (
            f"promoted {summary['champion']['candidate']}"
            if summary["champion"]["promoted"]
            else "not promoted — " + "; ".join(summary["champion"]["reasons"])
        ),
        "",
        "Where to look next:",
        "  make ui      -> Dagster UI on http://127.0.0.1:3000 (asset graph, runs, check results)",
        "  make mlflow  -> MLflow UI on http://127.0.0.1:5000 (training runs, metrics, models)",
    ]
    return "\n".join(lines)
