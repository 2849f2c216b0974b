"""Promotion and serving: the `champion` gate (MLflow registry alias) and `recommendations`.

The decision itself is pure (core/recsys/promotion.py); this module gathers its inputs from the Dagster
instance (check results), the report and the MLflow registry, and acts on the verdict.
"""

import math
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.assets.metadata import preview
from assoc_pipeline.core.content.content_recommender import ContentRecommender
from assoc_pipeline.core.content.embeddings import embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.rules import RuleIndex
from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.promotion import CheckStatus, Decision, decide, pick_candidate
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets, recommend_for_users
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.report import (
    COMPLETION,
    NEXT_BASKET,
    baseline_recommender,
    parse_metric,
    report_tasks,
)
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.resources.mlflow_tracking import CHAMPION_ALIAS, RECOMMENDER_MODEL, MLflowResource
from assoc_pipeline.settings import redact_uri

# (asset, check) of every blocking data contract upstream of the trained models
UPSTREAM_CONTRACTS = (
    ("raw_events", "raw_events_contract"),
    ("clean_events", "clean_events_contract"),
    ("baskets", "baskets_contract"),
)
REPORT_CONTRACT = ("evaluation_report", "evaluation_report_contract")
CHECKPOINT_FILE = "model.pt"  # what assets/model_logging.py logs at the root of a training run


# ------------------------------------------------------------------------------ check statuses
def contract_status(instance: dg.DagsterInstance, asset: str, check: str) -> CheckStatus:
    """Did ``check`` pass on the materialization(s) of ``asset`` now in use?

    Unpartitioned: the check result of the latest materialization's run. Partitioned: the same for
    every materialized partition (a check that did not run with that materialization counts as
    missing). Any failure or gap makes the status not-passed, naming the partitions.
    """
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as S

    key = dg.AssetKey(asset)
    check_key = dg.AssetCheckKey(key, check)
    history = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10_000)
    by_run: dict[str, bool] = {}
    for rec in history:  # newest first
        if rec.status in (S.SUCCEEDED, S.FAILED) and rec.run_id not in by_run:
            by_run[rec.run_id] = rec.status == S.SUCCEEDED
    partitions = sorted(instance.get_materialized_partitions(key))
    if partitions:
        runs = {}
        for p in partitions:
            res = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[p]), limit=1
            )
            runs[p] = res.records[0].event_log_entry.run_id if res.records else None
    else:
        event = instance.get_latest_materialization_event(key)
        if event is None:
            return CheckStatus(check, None, f"{asset} was never materialized")
        runs = {None: event.run_id}
    failed = [p for p, r in runs.items() if by_run.get(r) is False]
    missing = [p for p, r in runs.items() if r not in by_run]
    label = (lambda ps: ", ".join(ps)) if partitions else (lambda ps: "latest materialization")
    if failed:
        return CheckStatus(check, False, f"failed on {label(failed)}")
    if missing:
        return CheckStatus(check, None, f"no check result for {label(missing)}")
    what = f"{len(partitions)} partition(s)" if partitions else "latest materialization"
    return CheckStatus(check, True, what)


# ------------------------------------------------------------------------------ registry models
def load_registered_model(mlflow: MLflowResource, version: Any) -> Recommender:
    """The Recommender of a registered model version: its run's ``model.pt`` checkpoint."""
    import mlflow as mlf

    from assoc_pipeline.core.recsys.models.checkpoint_files import load_model

    name = (
        version.tags.get("checkpoint", CHECKPOINT_FILE) if getattr(version, "tags", None) else CHECKPOINT_FILE
    )
    mlflow.client()  # sets the tracking URI
    with tempfile.TemporaryDirectory() as tmp:
        path = mlf.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=name, dst_path=tmp, tracking_uri=mlflow.tracking_uri
        )
        return load_model(Path(path))


def champion_version(mlflow: MLflowResource) -> Any | None:
    return mlflow.alias_version(RECOMMENDER_MODEL, CHAMPION_ALIAS)


# ------------------------------------------------------------------------------ champion
class ChampionConfig(dg.Config):
    """The promotion gate. ``metric`` = '<task>/<metric>@<k>' of the report; ``margin`` is absolute
    (metric units) and applies to both comparisons; ``require_baselines`` makes beating the best
    baseline a condition (otherwise it is reported only)."""

    metric: str = "next_basket/ndcg@10"
    margin: float = 0.0
    require_baselines: bool = True


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"mlflow"},
    description="The promotion gate: moves the MLflow alias `champion` of the registered model to the best "
    "trained model only if every upstream data contract and the report's contract passed and it beats the "
    "current champion and the best baseline on the primary metric by the margin; otherwise records why not.",
)
def champion(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,
    evaluation_report: pd.DataFrame,
    baskets: BasketSet,
    split: dict,
    mlflow: MLflowResource,
) -> dg.Output[dict]:
    task, metric, k = parse_metric(config.metric)
    at = evaluation_report[
        (evaluation_report["task"] == task)
        & (evaluation_report["metric"] == metric)
        & (evaluation_report["k"] == k)
    ]
    if at.empty:
        raise ValueError(f"champion config metric={config.metric!r}: not in the evaluation report")
    models = at[at["kind"] == "model"].set_index("method")
    baselines = at[at["kind"] == "baseline"].set_index("method")["value"]
    picked = pick_candidate(models["value"].to_dict())
    candidate, cand_value = picked if picked else (None, None)
    cand_row = models.loc[candidate] if candidate else None
    cand_version = _text(cand_row["model_version"]) if cand_row is not None else None
    cand_run = _text(cand_row["mlflow_run_id"]) if cand_row is not None else None
    best_baseline = (str(baselines.idxmax()), float(baselines.max())) if len(baselines) else None

    upstream = [contract_status(context.instance, a, c) for a, c in UPSTREAM_CONTRACTS]
    report_check = contract_status(context.instance, *REPORT_CONTRACT)

    current = champion_version(mlflow)
    champ_label, champ_value, champ_note = None, None, ""
    if current is not None:
        champ_label = f"version {current.version} ({current.tags.get('model_type', '?')})"
        same_run = models[models["mlflow_run_id"].astype(str) == str(current.run_id)]
        if len(same_run):
            champ_value, champ_note = float(same_run["value"].iloc[0]), "from this report"
        else:
            champ_value, champ_note = _evaluate_version(mlflow, current, baskets, split, task, metric, k)
        context.log.info(f"current champion {champ_label}: {config.metric} = {champ_value} ({champ_note})")

    decision = decide(
        metric=config.metric,
        candidate=candidate,
        candidate_value=cand_value,
        candidate_version=cand_version,
        upstream_checks=upstream,
        report_check=report_check,
        champion=champ_label,
        champion_value=champ_value,
        candidate_is_champion=current is not None
        and cand_version is not None
        and str(current.version) == cand_version,
        best_baseline=best_baseline,
        margin=config.margin,
        require_baselines=config.require_baselines,
    )
    if decision.promoted:
        mlflow.set_alias(RECOMMENDER_MODEL, cand_version, CHAMPION_ALIAS)
        context.log.info(f"promoted {candidate} (version {cand_version}) to {CHAMPION_ALIAS}")
    else:
        context.log.warning("promotion refused: " + "; ".join(decision.reasons))
    _record_in_mlflow(mlflow, decision, config.metric, cand_run, cand_version, cand_value, context.run.run_id)
    after = champion_version(mlflow)
    record = {
        **decision.as_dict(),
        "metric": config.metric,
        "margin": config.margin,
        "require_baselines": config.require_baselines,
        "candidate": candidate,
        "candidate_value": cand_value,
        "candidate_version": cand_version,
        "candidate_run_id": cand_run,
        "previous_champion_version": str(current.version) if current is not None else None,
        "previous_champion_value": champ_value,
        "previous_champion_value_source": champ_note,
        "best_baseline": best_baseline[0] if best_baseline else None,
        "best_baseline_value": best_baseline[1] if best_baseline else None,
        "champion_version": str(after.version) if after is not None else None,
        "champion_model_type": after.tags.get("model_type") if after is not None else None,
        "checks": {c.name: {"passed": c.passed, "detail": c.detail} for c in [*upstream, report_check]},
    }
    reasons_md = "\n".join(f"- {r}" for r in decision.reasons) or "- none"
    notes_md = "\n".join(f"- {n}" for n in decision.notes) or "- none"
    return dg.Output(
        record,
        metadata={
            "verdict": decision.verdict,
            "promoted": decision.promoted,
            "candidate": f"{candidate} (version {cand_version})" if candidate else "none",
            "candidate_value": _num(cand_value),
            "previous_champion": f"version {record['previous_champion_version']}" if current else "none",
            "previous_champion_value": _num(champ_value),
            "best_baseline": f"{record['best_baseline']} ({_num(record['best_baseline_value']):.4f})"
            if best_baseline
            else "none",
            "champion_version_now": record["champion_version"] or "none",
            "metric": config.metric,
            "margin": config.margin,
            "reasons": dg.MetadataValue.md(
                f"**Refused because**\n{reasons_md}" if decision.reasons else "none"
            ),
            "checked": dg.MetadataValue.md(notes_md),
            "checks": dg.MetadataValue.json(record["checks"]),
        },
    )


def _evaluate_version(
    mlflow: MLflowResource, version: Any, baskets: BasketSet, split: dict, task: str, metric: str, k: int
) -> tuple[float | None, str]:
    """The current champion re-scored on this report's test task (same queries as the candidate)."""
    try:
        model = load_registered_model(mlflow, version)
        bs_split = split_from_record(baskets, split)
        if hasattr(model, "with_history"):
            model.with_history(bs_split.train_full)
        res = evaluate(model, report_tasks(bs_split).get(task), ks=(k,))
        val = res[(res["metric"] == metric) & (res["k"] == k)]["value"]
        return float(val.iloc[0]), "re-evaluated on this test set"
    except Exception as exc:
        return None, f"could not re-evaluate: {type(exc).__name__}: {exc}"[:300]


def _record_in_mlflow(
    mlflow: MLflowResource,
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
    client = mlflow.client()
    if run_id:
        for k, v in tags.items():
            client.set_tag(run_id, k, v)
    if version:
        for k, v in tags.items():
            client.set_model_version_tag(RECOMMENDER_MODEL, version, k, v)


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v) else str(v)


def _num(v: float | None) -> float:
    return float("nan") if v is None else float(v)


# ------------------------------------------------------------------------------ recommendations
class RecommendationsConfig(dg.Config):
    k: int = 10
    max_users: int = 0  # 0 = every user with a purchase history


def serving_model(
    mlflow: MLflowResource, baskets: BasketSet, report: pd.DataFrame, task: str
) -> tuple[Recommender, str, bool]:
    """(model, label, is_champion): the champion from the registry, else the best baseline on the
    task's headline metric in the report, fitted on every basket, labelled as such."""
    version = champion_version(mlflow)
    if version is not None:
        model = load_registered_model(mlflow, version)
        if hasattr(model, "with_history"):
            model.with_history(baskets)
        return model, f"champion: {version.tags.get('model_type', 'model')} (version {version.version})", True
    metric = "ndcg" if task == NEXT_BASKET else "hit_rate"
    sel = report[
        (report["kind"] == "baseline")
        & (report["task"] == task)
        & (report["metric"] == metric)
        & (report["k"] == 10)
    ]
    name = str(sel.loc[sel["value"].idxmax(), "method"]) if len(sel) else "popularity"
    rec = baseline_recommender(name, task).fit(baskets)
    return rec, f"baseline {name} (no champion promoted yet)", False


@dg.asset(
    group_name="evaluation",
    owners=["team:ml-engineering"],
    kinds={"pandas", "parquet"},
    description="Top-K next-basket items per user and top-K completions per item from the champion "
    "(or, until one is promoted, the best baseline — labelled), with association-rule explanations; "
    "plus top-K similar products per item by description (scope item_content), new products included.",
)
def recommendations(
    context: dg.AssetExecutionContext,
    config: RecommendationsConfig,
    champion: dict,
    evaluation_report: pd.DataFrame,
    baskets: BasketSet,
    association_rules: pd.DataFrame,
    item_embeddings: pd.DataFrame,
    mlflow: MLflowResource,
) -> dg.Output[pd.DataFrame]:
    if config.k < 1:
        raise ValueError(f"recommendations config k={config.k}: must be >= 1")
    rules = RuleIndex.from_rules(association_rules, baskets.n_items) if len(association_rules) else None
    users, history = user_item_counts(baskets)
    if config.max_users:
        users, history = users[: config.max_users], history[: config.max_users]
    user_model, user_src, is_champ = serving_model(mlflow, baskets, evaluation_report, NEXT_BASKET)
    item_model, item_src, _ = (
        (user_model, user_src, is_champ)
        if is_champ
        else serving_model(mlflow, baskets, evaluation_report, COMPLETION)
    )
    per_user = recommend_for_users(
        user_model, list(users), history, baskets.vocabulary, config.k, rules, user_src
    )
    items = np.arange(baskets.n_items)
    item_ids = baskets.vocabulary["item_id"].astype(str).tolist()
    per_item = recommend_for_baskets(
        item_model, [np.array([i]) for i in items], item_ids, baskets.vocabulary, config.k, rules, item_src
    )
    # by description: every product gets neighbours, also one that has (almost) no purchases yet
    content = ContentRecommender(embedding_matrix(item_embeddings, baskets.n_items))
    per_item_content = recommend_for_baskets(
        content, [np.array([i]) for i in items], item_ids, baskets.vocabulary, config.k, rules,
        "content: description similarity", scope="item_content",
    )  # fmt: skip
    table = pd.concat([per_user, per_item, per_item_content], ignore_index=True)
    explained = (table["explanation"] != "").groupby(table["scope"]).mean()
    status = (
        f"served by the champion, {user_src.removeprefix('champion: ')}"
        if is_champ
        else "NO CHAMPION PROMOTED YET: serving the best baselines instead "
        f"(users: {user_src}; items: {item_src}). Last gate verdict: {champion.get('verdict')} — "
        + ("; ".join(champion.get("reasons", [])) or "n/a")
    )
    if not is_champ:
        context.log.warning(status)
    sample_user = per_user["query"].iloc[0] if len(per_user) else None
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "status": status,
            "source_users": user_src,
            "source_items": item_src,
            "from_champion": is_champ,
            "users": len(users),
            "items": int(baskets.n_items),
            "k": config.k,
            "rules_for_explanations": len(association_rules),
            "explained_share_users": float(explained.get("user", 0.0)),
            "explained_share_items": float(explained.get("item", 0.0)),
            "sample_user": preview(per_user[per_user["query"] == sample_user]) if sample_user else "none",
            "sample_explained": preview(table[table["explanation"] != ""].head(10)),
        },
    )


# ------------------------------------------------------------------------------ CLI
def recommend_command(
    user: str | None = None, items: str | None = None, k: int = 10, settings: Any = None
) -> str:
    """`assoc-pipeline recommend --user ID | --items A,B`: the champion's top-K, explained."""
    import json

    from assoc_pipeline.core.data.baskets import BASKETS_FILE, load_basket_set
    from assoc_pipeline.core.errors import InputError
    from assoc_pipeline.core.recsys.recommendation_tables import UnknownQueryError, resolve_items
    from assoc_pipeline.core.tables import read_table
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.settings import get_settings

    if k < 1:
        raise InputError(f"--k must be >= 1, got {k}")
    settings = settings or get_settings()
    assets_dir = settings.data_dir / "assets"
    mlflow: MLflowResource = build_resources(settings)["mlflow"]
    version = champion_version(mlflow)
    if version is None:
        why = ""
        gate = assets_dir / "champion.json"
        if gate.exists():
            last = json.loads(gate.read_text())
            why = f" Last gate verdict: {last.get('verdict')}: " + (
                "; ".join(last.get("reasons", [])) or "n/a"
            )
        raise InputError(
            f"no champion in the MLflow registry (model {RECOMMENDER_MODEL!r}, alias {CHAMPION_ALIAS!r}, "
            f"store {redact_uri(mlflow.tracking_uri)}): materialize `champion` (make demo) until a model "
            f"passes the gate.{why}"
        )
    if not (assets_dir / "baskets" / BASKETS_FILE).exists():
        raise InputError(
            f"no baskets under {assets_dir / 'baskets'}: materialize `baskets` first (make demo)"
        )
    baskets = load_basket_set(assets_dir / "baskets")
    rules_path = assets_dir / "association_rules.parquet"
    rules_df = read_table(rules_path) if rules_path.exists() else None
    rules = (
        RuleIndex.from_rules(rules_df, baskets.n_items) if rules_df is not None and len(rules_df) else None
    )
    model = load_registered_model(mlflow, version)
    if getattr(model, "n_items", baskets.n_items) != baskets.n_items:
        raise InputError(
            f"the champion (version {version.version}) scores {model.n_items} items but the baskets now hold "
            f"{baskets.n_items}: retrain and promote a model on the current baskets"
        )
    if hasattr(model, "with_history"):
        model.with_history(baskets)
    label = f"champion: {version.tags.get('model_type', 'model')} (version {version.version})"
    lines = []
    if user is not None:
        users, history = user_item_counts(baskets)
        row = users.get_indexer([str(user).strip()])[0]
        if row < 0:
            sample = ", ".join(map(str, users[:5]))
            raise UnknownQueryError(
                f"unknown user {user!r}: no purchase history in the baskets "
                f"({len(users):,} known users, e.g. {sample})"
            )
        known = getattr(model, "user_index", None)
        if (
            known is not None
            and not hasattr(model, "with_history")
            and str(users[row]) not in set(map(str, known))
        ):
            lines.append(
                "note: the champion was trained before this user's first purchase: scores are its "
                "learned popularity prior"
            )
        table = recommend_for_users(model, [users[row]], history[row], baskets.vocabulary, k, rules, label)
        bought = baskets.vocabulary["item_name"].to_numpy()[history[row].indices]
        lines.insert(0, f"user {users[row]} ({len(bought)} distinct items bought) — {label}")
    else:
        idx = resolve_items(baskets.vocabulary, (items or "").split(","))
        names = baskets.vocabulary["item_name"].to_numpy()[idx]
        table = recommend_for_baskets(
            model, [idx], ["+".join(map(str, idx))], baskets.vocabulary, k, rules, label, scope="basket"
        )
        lines.insert(0, f"basket: {', '.join(map(str, names))} — {label}")
    for r in table.itertuples(index=False):
        lines.append(f"{r.rank:>3}. {r.item_id:<8} {r.item_name:<40} score {r.score:8.4f}")
        if r.explanation:
            lines.append(f"       because {r.explanation}")
    n_expl = int((table["explanation"] != "").sum())
    lines.append(f"({n_expl} of {len(table)} recommendations backed by a mined association rule)")
    return "\n".join(lines)
