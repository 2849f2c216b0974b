"""The promotion gate as the pipeline runs it: gather the figures, decide, move the alias, record why.

The decision itself is pure (``core/recsys/promotion.py``); this module reads its inputs from the
evaluation report and the MLflow registry, acts on the verdict and tags the candidate's run and
version with it, so the MLflow UI shows why a model was (not) promoted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.promotion import (
    CheckStatus,
    Decision,
    TaskEvidence,
    decide,
    held_tasks,
    pick_candidate,
)
from assoc_pipeline.core.recsys.report import (
    COMPLETION,
    NEXT_BASKET,
    PRIMARY,
    parse_metric,
    report_tasks,
    value,
)
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.rich_values import Markdown
from assoc_pipeline.resources.mlflow_tracking import CHAMPION_ALIAS, RECOMMENDER_MODEL, MLflowResource
from assoc_pipeline.services.model_registry import (
    TASKS_TAG,
    champion_version,
    load_version,
    served_tasks,
    version_type,
)
from assoc_pipeline.services.training import Log


@dataclass(frozen=True)
class GateSettings:
    """The promotion gate (see ``core/recsys/promotion.py``).

    ``metric`` ('<task>/<metric>@<k>'): what the candidate is chosen on (validation) and compared
    with the champion on (test). ``margin``: how much better (relative) than the best baseline the
    candidate must be on each task's primary metric, the report's 5 % bar by default.
    ``champion_margin``: how much better than the current champion. ``min_next_basket_users`` /
    ``min_completion_queries``: below these the test set is too small for a verdict.
    ``per_task``: promote the candidate for the tasks where it beats the baselines (the best
    baseline keeps serving the others); False: only a candidate that holds on every task.
    ``require_baselines=False`` is for tests of the gate's plumbing only.
    """

    metric: str = "next_basket/ndcg@10"
    margin: float = 0.05
    champion_margin: float = 0.0
    min_next_basket_users: int = 200
    min_completion_queries: int = 500
    per_task: bool = True
    require_baselines: bool = True


def task_evidence(report: pd.DataFrame, candidate: str, settings: GateSettings) -> list[TaskEvidence]:
    """The candidate's test figures on each task's primary metric, with the report's intervals."""
    minimum = {NEXT_BASKET: settings.min_next_basket_users, COMPLETION: settings.min_completion_queries}
    out = []
    for task, metric in PRIMARY.items():
        row = report[
            (report["method"] == candidate)
            & (report["task"] == task)
            & (report["metric"] == metric)
            & (report["k"] == 10)
        ]
        if row.empty:
            continue
        r = row.iloc[0]
        base = _text(r["vs_baseline"])
        base_value = value(report, base, task, metric, 10) if base is not None else None
        out.append(
            TaskEvidence(
                task=task,
                metric=metric,
                candidate_value=float(r["value"]),
                n_queries=int(r["n_queries"]),
                min_queries=minimum[task],
                baseline=base,
                baseline_value=base_value,
                diff_low=_float(r["diff_ci_low"]),
                diff_high=_float(r["diff_ci_high"]),
            )
        )
    return out


def run_gate(
    settings: GateSettings,
    report: pd.DataFrame,
    split: BasketSplit,
    checks_of_data: Callable[[str | None], list[CheckStatus]],
    report_check: CheckStatus,
    tracker: MLflowResource,
    *,
    report_seed: int = 0,
    report_max_completion: int = 0,
    dagster_run_id: str = "",
    log: Log = print,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Choose the candidate on validation, confirm it on test, move ``champion`` if it passes.

    ``checks_of_data(baskets_run)`` returns the contract results of the data a model was trained on
    (the run that wrote the baskets it read). Returns (the record the ``champion`` asset stores,
    metadata for people to read). ``report_seed`` / ``report_max_completion``: how the report drew
    its queries, so a champion re-scored here faces the same ones.
    """
    task, metric, k = parse_metric(settings.metric)
    if _rows_at(report, task, metric, k).empty:
        raise InputError(f"champion config metric={settings.metric!r}: not in the evaluation report")
    models = _test_rows(report, task, metric, k)
    picked = pick_candidate(models["validation_value"].astype(float).to_dict())
    candidate = picked[0] if picked else None
    cand_row = models.loc[candidate] if candidate else None
    cand_value = float(cand_row["value"]) if cand_row is not None else None
    cand_version = _text(cand_row["model_version"]) if cand_row is not None else None
    cand_run = _text(cand_row["mlflow_run_id"]) if cand_row is not None else None
    params = tracker.run_params(cand_run) if cand_run else {}
    baskets_run, baskets_version = params.get("baskets_run") or None, params.get("baskets_version")
    upstream = checks_of_data(baskets_run) if candidate else []
    evidence = task_evidence(report, candidate, settings) if candidate else []
    if picked:
        log(f"candidate {candidate}: best on validation {settings.metric} ({picked[1]:.4f})")

    # the champion is compared where both would serve: at the selection metric when that task is
    # one the candidate holds and the champion serves, else at the first such task's primary metric
    held = held_tasks(evidence, settings.margin) if settings.require_baselines else [e.task for e in evidence]
    current = champion_version(tracker)
    shared = [t for t in held if current is None or t in served_tasks(current)] or held
    if shared and task not in shared:
        task, metric, k = shared[0], PRIMARY[shared[0]], 10
        models = _test_rows(report, task, metric, k)
        cand_value = float(models.loc[candidate, "value"])
    compared_on = f"{task}/{metric}@{k}"

    champ_label, champ_value, champ_note = None, None, ""
    if current is not None:
        champ_label = f"version {current.version} ({current.tags.get('model_type', '?')})"
        same_run = models[models["mlflow_run_id"].astype(str) == str(current.run_id)]
        if len(same_run):
            champ_value, champ_note = float(same_run["value"].iloc[0]), "from this report"
        else:
            champ_value, champ_note = rescore_version(
                tracker, current, split, task, metric, k, report_seed, report_max_completion
            )
        log(f"current champion {champ_label}: {compared_on} = {champ_value} ({champ_note})")

    decision = decide(
        metric=settings.metric,
        candidate=candidate,
        candidate_value=cand_value,
        candidate_version=cand_version,
        upstream_checks=upstream,
        report_check=report_check,
        evidence=evidence,
        champion=champ_label,
        champion_value=champ_value,
        candidate_is_champion=current is not None
        and cand_version is not None
        and str(current.version) == cand_version,
        margin=settings.margin,
        champion_margin=settings.champion_margin,
        champion_tasks=served_tasks(current) if current is not None else (),
        champion_metric=compared_on,
        require_baselines=settings.require_baselines,
        per_task=settings.per_task,
    )
    if decision.promoted:
        tracker.tag_version(RECOMMENDER_MODEL, cand_version, {TASKS_TAG: ",".join(decision.tasks)})
        tracker.set_alias(RECOMMENDER_MODEL, cand_version, CHAMPION_ALIAS)
        serving = " and ".join(decision.tasks)
        log(f"promoted {candidate} (version {cand_version}) to {CHAMPION_ALIAS}, serving {serving}")
    else:
        log("promotion refused: " + "; ".join(decision.reasons))
    record_verdict(tracker, decision, compared_on, cand_run, cand_version, cand_value, dagster_run_id)
    after = champion_version(tracker)
    after_type = version_type(after) if after is not None else None
    checks = {c.name: {"passed": c.passed, "detail": c.detail} for c in [*upstream, report_check]}
    record = {
        **decision.as_dict(),
        **asdict(settings),
        "candidate": candidate,
        "candidate_validation_value": picked[1] if picked else None,
        "candidate_value": cand_value,
        "compared_with_champion_on": compared_on,
        "candidate_version": cand_version,
        "candidate_run_id": cand_run,
        "candidate_baskets_run": baskets_run,
        "candidate_baskets_version": baskets_version,
        "evidence": [asdict(e) for e in evidence],
        "previous_champion_version": str(current.version) if current is not None else None,
        "previous_champion_value": champ_value,
        "previous_champion_value_source": champ_note,
        "champion_version": str(after.version) if after is not None else None,
        "champion_model_type": after.tags.get("model_type") if after is not None else None,
        # what it serves; the best baseline serves the other tasks
        "champion_tasks": list(served_tasks(after)) if after is not None else [],
        # whether its user scores read the purchase history (False: learned users only; `recommend`
        # answers those from its stored table only when this says True)
        "champion_reads_history": after_type.recommender.reads_history if after_type is not None else None,
        "checks": checks,
    }
    reasons_md = "\n".join(f"- {r}" for r in decision.reasons) or "- none"
    notes_md = "\n".join(f"- {n}" for n in decision.notes) or "- none"
    metadata = {
        "verdict": decision.verdict,
        "promoted": decision.promoted,
        "candidate": f"{candidate} (version {cand_version})" if candidate else "none",
        "chosen_on": f"validation {settings.metric} = {picked[1]:.4f}" if picked else "none",
        "candidate_value": _num(cand_value),
        "previous_champion": f"version {record['previous_champion_version']}" if current else "none",
        "previous_champion_value": _num(champ_value),
        "evidence": Markdown(_evidence_markdown(evidence)),
        "champion_version_now": record["champion_version"] or "none",
        "champion_serves": ", ".join(record["champion_tasks"]) or "nothing (the best baselines serve)",
        "metric": settings.metric,
        "compared_with_champion_on": compared_on,
        "margin": settings.margin,
        "reasons": Markdown(f"**Refused because**\n{reasons_md}" if decision.reasons else "none"),
        "checked": Markdown(notes_md),
        "checks": checks,
    }
    return record, metadata


def _rows_at(report: pd.DataFrame, task: str, metric: str, k: int) -> pd.DataFrame:
    return report[(report["task"] == task) & (report["metric"] == metric) & (report["k"] == k)]


def _test_rows(report: pd.DataFrame, task: str, metric: str, k: int) -> pd.DataFrame:
    """The trained models' rows of the report at one (task, metric, k), indexed by method."""
    at = _rows_at(report, task, metric, k)
    return at[at["kind"] == "model"].set_index("method")


def _evidence_markdown(evidence: list[TaskEvidence]) -> str:
    if not evidence:
        return "no test figures for a candidate"
    lines = [
        "| task | candidate | best baseline | difference 95 % interval | queries |",
        "|---|---|---|---|---|",
    ]
    for e in evidence:
        base = f"{e.baseline} {e.baseline_value:.4f}" if e.baseline_value is not None else "—"
        interval = f"[{e.diff_low:+.4f}, {e.diff_high:+.4f}]" if e.diff_low is not None else "—"
        lines.append(
            f"| {e.task} {e.metric}@10 | {e.candidate_value:.4f} | {base} | {interval} | {e.n_queries} |"
        )
    return "\n".join(lines)


def rescore_version(
    tracker: MLflowResource,
    version: Any,
    split: BasketSplit,
    task: str,
    metric: str,
    k: int,
    seed: int = 0,
    max_completion: int = 0,
) -> tuple[float | None, str]:
    """A registered version re-scored on this report's test task: the same queries as the candidate
    (built with the report's ``seed``, which draws the hidden completion items, and its sample
    size of completion and cold-start queries)."""
    try:
        model = load_version(tracker, version)
        model.with_history(split.train_full)
        res = evaluate(model, report_tasks(split, seed, max_completion).get(task), ks=(k,))
        val = res[(res["metric"] == metric) & (res["k"] == k)]["value"]
        return float(val.iloc[0]), "re-evaluated on this test set"
    except Exception as exc:  # a broken old version must not stop the gate: it is reported instead
        return None, f"could not re-evaluate: {type(exc).__name__}: {exc}"[:300]


def record_verdict(
    tracker: MLflowResource,
    decision: Decision,
    metric: str,
    run_id: str | None,
    version: str | None,
    value: float | None,
    dagster_run_id: str,
) -> None:
    """Tags on the candidate's training run and model version: the verdict and its reasons."""
    tags = {
        "promotion/decision": decision.verdict,
        "promotion/metric": metric,
        "promotion/reasons": ("; ".join(decision.reasons) or "all conditions held")[:4900],
        "promotion/dagster_run_id": dagster_run_id,
    }
    if value is not None:
        tags["promotion/value"] = f"{value:.6f}"
    if run_id:
        tracker.tag_run(run_id, tags)
    if version:
        tracker.tag_version(RECOMMENDER_MODEL, version, tags)


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else str(v)


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _float(v: object) -> float | None:
    return None if v is None or pd.isna(v) else float(v)
