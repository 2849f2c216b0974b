"""`make demo`: materialize the whole asset graph on the shipped data, then say where to look.

Runs go through the project's embedded Dagster instance (``.dagster_home/``), so every run and
materialization of the demo shows up in ``make ui`` afterwards.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.dagster_home import ensure_dagster_home
from assoc_pipeline.demo.step_job import reconstructable_downstream, threads_per_worker
from assoc_pipeline.orchestration.process_memory import PeakMemory
from assoc_pipeline.orchestration.run_progress import RunWatcher
from assoc_pipeline.settings import Settings, get_settings

PARTITIONED = ("raw_events", "clean_events")
# Dagster's own console lines only for warnings: the progress lines below say what runs
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
DEMO_TAG = "assoc/demo"
# downstream steps side by side; 1 here: on 2 cores two lanes of one thread each took 331 s against
# 323 s for one lane that lets torch and BLAS use both cores (benchmarks/RESULTS.md, 2026-12-03)
DEFAULT_WORKERS = 1


def source_partitions(settings: Settings) -> list[str]:
    """Monthly partition keys that the configured source has events in."""
    from assoc_pipeline.orchestration.partitions import monthly_partitions
    from assoc_pipeline.resources import source_resource

    valid = set(monthly_partitions.get_partition_keys())
    return [k for k in source_resource(settings).months(settings.data_dir / "cache") if k in valid]


def run_demo(
    partitions: Sequence[str] | None = None,
    settings: Settings | None = None,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    text_cache: Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> dict[str, object]:
    """Materialize every partition of the partitioned assets, then the rest of the graph.

    ``workers`` steps of the downstream run go side by side (1: all in this process, as on an
    ephemeral instance, which step processes cannot reach); ``text_cache`` replaces the
    description-embedding cache (tests share one per session)."""
    settings = settings or get_settings()
    if workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.resources.text_encoder import TextEncoderResource

    if instance is None:
        ensure_dagster_home()
        instance = dg.DagsterInstance.get()
    resources = build_resources(settings)
    if text_cache is not None:
        resources["text_encoder"] = TextEncoderResource(cache_path=str(text_cache))
    assets = [*all_assets, *all_checks]
    keys = list(partitions) if partitions is not None else source_partitions(settings)
    started = time.perf_counter()
    dropped: Counter[str] = Counter()
    raw_rows = kept_rows = 0
    checks: dict[str, list[bool]] = {}

    def record_checks(result: dg.ExecuteInProcessResult) -> None:
        for evaluation in result.get_asset_check_evaluations():
            checks.setdefault(evaluation.check_name, []).append(evaluation.passed)

    ingest_seconds = []
    for n, key in enumerate(keys, start=1):
        t0 = time.perf_counter()
        result = dg.materialize(
            assets,
            selection=list(PARTITIONED),
            partition_key=key,
            instance=instance,
            resources=resources,
            run_config=ingest_run_config(settings),
            raise_on_error=False,  # a failed blocking check is said in one line below
        )
        record_checks(result)
        stop_on_failed_checks(result, key)
        raise_step_error(result)
        meta = result.asset_materializations_for_node("clean_events")[0].metadata
        raw_rows += meta["raw_rows"].value
        kept_rows += meta["dagster/row_count"].value
        dropped.update({k.split("/", 1)[1]: v.value for k, v in meta.items() if k.startswith("dropped/")})
        ingest_seconds.append(time.perf_counter() - t0)
        print(
            f"[{n:>2}/{len(keys)}] raw_events + clean_events {key}: {meta['raw_rows'].value:,} raw, "
            f"{meta['dagster/row_count'].value:,} kept ({ingest_seconds[-1]:.1f} s)",
            flush=True,
        )
    rest = [a.key for a in all_assets if a.key.to_user_string() not in PARTITIONED]
    lanes = workers if side_by_side(instance, workers) else 1
    print(
        f"{len(rest)} downstream assets in one run, {lanes} step(s) at a time (Dagster UI: make ui):",
        flush=True,
    )
    token = uuid.uuid4().hex
    downstream = {"run_config": {**QUIET_LOGS, **(run_config or {})}, "tags": {DEMO_TAG: token}}
    with (
        RunWatcher(instance, (DEMO_TAG, token), [k.to_python_identifier() for k in rest]) as watcher,
        PeakMemory(tree=lanes > 1) as memory,  # one lane: every step runs in this process
        ExitStack() as stack,
    ):
        if lanes > 1:
            stack.enter_context(threads_per_worker(lanes))
            job = reconstructable_downstream(settings, [k.to_user_string() for k in rest], lanes, text_cache)
            result = stack.enter_context(dg.execute_job(job, instance=instance, **downstream))
            raise_step_error(result)
        else:
            result = dg.materialize(
                assets, selection=rest, instance=instance, resources=resources, **downstream
            )
        summary = downstream_summary(result)
        record_checks(result)
    with dg.Definitions(assets=all_assets, resources=resources).get_asset_value_loader(instance) as stored:
        report = stored.load_asset_value("evaluation_report")
        summary |= {"leaders": leaders(report), "champion": stored.load_asset_value("champion")}
    return {
        "partitions": len(keys),
        "raw_rows": raw_rows,
        "kept_rows": kept_rows,
        "dropped": dict(dropped),
        "checks": checks,
        **summary,
        "seconds": time.perf_counter() - started,
        "step_seconds": {
            "raw_events + clean_events (all partitions)": sum(ingest_seconds),
            **watcher.times.seconds,
        },
        "workers": lanes,
        "peak_memory_mb": memory.peak_mb,
    }


def side_by_side(instance: dg.DagsterInstance, workers: int) -> bool:
    """Whether steps can run in processes of their own: more than one lane asked for, an instance
    they can reach (not an ephemeral one) and a platform with a forkserver (not Windows)."""
    return workers > 1 and not instance.is_ephemeral and sys.platform != "win32"


def downstream_summary(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult) -> dict[str, object]:
    """What the summary shows of the downstream run's materializations (metadata only)."""
    baskets = result.asset_materializations_for_node("baskets")[0].metadata
    meta = {n: result.asset_materializations_for_node(n) for n in ("frequent_itemsets", "association_rules")}
    finetuned = result.asset_materializations_for_node("finetuned_model")[0].metadata
    return {
        "baskets": baskets["dagster/row_count"].value,
        "users": baskets["users"].value,
        "items": baskets["items"].value,
        "itemsets": meta["frequent_itemsets"][0].metadata["dagster/row_count"].value,
        "rules": meta["association_rules"][0].metadata["dagster/row_count"].value,
        "warm_start": warm_start_line(finetuned),
        "budgets": training_budgets(result),
    }


def ingest_run_config(settings: Settings) -> dict:
    """The ingest runs' config: the settings' [cleaning] values for ``clean_events`` (the same
    values are the config's defaults when the settings come from the environment)."""
    if not settings.cleaning:
        return QUIET_LOGS
    return {**QUIET_LOGS, "ops": {"clean_events": {"config": dict(settings.cleaning)}}}


def stop_on_failed_checks(result: dg.ExecuteInProcessResult, partition: str) -> None:
    """A failed blocking check stops the demo here, saying why: the downstream run reads the
    stored partitions, so going on would train on data its own checks refused."""
    failed = [e for e in result.get_asset_check_evaluations() if e.blocking and not e.passed]
    if failed:
        raise InputError(
            f"partition {partition}: blocking check(s) failed, nothing downstream runs: "
            + "; ".join(f"{e.check_name}: {e.description or 'see its metadata (make ui)'}" for e in failed)
        )


def input_error_names() -> set[str]:
    """Names of :class:`InputError` and its subclasses (``ItemsetExplosion``, ...): a user's
    mistake, said in one line, whichever process raised it."""
    names, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def raise_step_error(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult) -> None:
    """A failed step's error as ``raise_on_error`` would raise it: an InputError keeps its one
    line (the CLI prints it), anything else keeps its trace."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        error = event.step_failure_data.error
        cause = error
        user_errors = input_error_names()  # a step process sends class names, not classes
        while cause is not None and cause.cls_name not in user_errors:
            cause = cause.cause
        if cause is not None:
            raise InputError(cause.message.split(": ", 1)[-1].strip())
        raise RuntimeError(error.to_string())
    if not result.success:  # the run failed outside any step (e.g. a step process never started)
        errors = [e.event_specific_data.error for e in result.all_events if e.is_run_failure]
        detail = errors[0].to_string() if errors and errors[0] is not None else "see its events in make ui"
        raise RuntimeError(f"run {result.run_id} failed outside its steps: {detail}")


def training_budgets(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Per training asset: its time budget and how training ended (from the asset metadata)."""
    out = {}
    for mat in result.get_asset_materialization_events():
        meta = mat.materialization.metadata
        if "time_budget_s" in meta:
            budget = meta["time_budget_s"].value
            ended = meta["stopped_by"].value if "stopped_by" in meta else "?"
            limit = f"{budget:g} s" if budget else "no limit"
            out[mat.materialization.asset_key.to_user_string()] = f"budget {limit}, {ended}"
    return out


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
        f"  champion                : {champion_line(summary['champion'])}",
        "",
        "Training budgets (full settings: Launchpad config, e.g. time_budget_s=0 and more epochs):",
        *(f"  {asset:<24}: {text}" for asset, text in summary["budgets"].items()),
        "",
        f"Time per asset ({summary['workers']} step(s) at a time; the evaluation report scores every "
        "method on every task):",
        *(f"  {step:<44} {seconds:7.1f} s" for step, seconds in summary["step_seconds"].items()),
        f"  peak memory: {summary['peak_memory_mb']:,.0f} MB",
        "",
        "Where to look next:",
        "  make ui      -> Dagster UI on http://127.0.0.1:3000 (asset graph, runs, check results)",
        "  make mlflow  -> MLflow UI on http://127.0.0.1:5000 (training runs, metrics, models)",
    ]
    return "\n".join(lines)


def champion_line(gate: dict) -> str:
    """The gate's verdict in one line: what was promoted for which tasks, or why nothing was."""
    if not gate["promoted"]:
        return "not promoted — " + "; ".join(gate["reasons"])
    stays = [n for n in gate["notes"] if "stays with the best baseline" in n]
    serving = " and ".join(gate.get("tasks") or ["every task"])
    return "; ".join(
        [f"promoted {gate['candidate']} (version {gate['candidate_version']}), serving {serving}", *stays]
    )
