"""Recommendations people get: from the champion where it serves the task, else the best baseline, labelled.

One choice of model for every door: the ``recommendations`` asset, ``assoc-pipeline recommend``
and the server all call :func:`serving_models`, so they serve the same items. The gate promotes a
champion for the tasks it won (next basket, completion); the best baseline of the evaluation
report answers the others, and until the first promotion every task.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from assoc_pipeline.core.content.content_recommender import ContentRecommender, aggregate_for
from assoc_pipeline.core.data.baskets import BASKETS_FILE, BasketSet, load_basket_set
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baseline_tuning import BaselineSettings
from assoc_pipeline.core.recsys.baselines.rules import RuleIndex
from assoc_pipeline.core.recsys.baselines.user_history import user_codes, user_item_counts
from assoc_pipeline.core.recsys.contribution_cells import top_groups
from assoc_pipeline.core.recsys.item_lookup import UnknownQueryError, resolve_items
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets, recommend_for_users
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET, baseline_recommender
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.services.model_registry import (
    champion_version,
    load_version,
    no_champion_yet,
    served_tasks,
)
from assoc_pipeline.services.stored_recommendations import (
    answer_text,
    baseline_source,
    gate_note,
    user_id_candidates,
)

if TYPE_CHECKING:  # `recommend` before any promotion needs neither Dagster nor MLflow nor torch
    from collections.abc import Callable

    from assoc_pipeline.resources.mlflow_tracking import MLflowResource

HEADLINE_METRIC = {NEXT_BASKET: "ndcg", COMPLETION: "hit_rate"}


@dataclass
class Served:
    """The model that answers a task, and how a person should read its answers."""

    model: Recommender
    label: str
    from_champion: bool
    learned_users: bool = False  # scores of users come from learned state, not the history given
    version: str | None = None  # the registered version (None: a baseline fitted here)
    model_type: str = ""  # the version's model_type tag, or the baseline's name
    beside: str | None = None  # a baseline's: the champion version that serves other tasks
    beside_tasks: tuple[str, ...] = ()  # ... and those tasks


UNLEARNED_USER_NOTE = (
    "the champion was trained before this user's first purchase: scores are its learned popularity prior"
)


def stored_user_id(user: str, known: Container[str]) -> str:
    """The id the baskets hold for ``user``: as given when known, else its keyed pseudonym when
    ids are pseudonymised and that is known. Unknown either way: returned as given (the caller's
    error names it)."""
    candidates = user_id_candidates(user)
    return next((c for c in candidates if c in known), candidates[0])


def learned_user_ids(served: Served) -> frozenset[str] | None:
    """The users a champion learned in training (None when its user scores read the history given,
    so every user with history is known to it)."""
    known = getattr(served.model, "user_index", None)
    if not served.learned_users or known is None:
        return None
    return frozenset(map(str, known))


def served_champion(
    model: Recommender, baskets: BasketSet, version: str | None, model_type: str, role: str = "champion"
) -> Served:
    """A registered model ready to answer on ``baskets``: checked against the catalogue, given the
    history, labelled. The server, ``recommend``, the A/B challenger and the MLflow pyfunc model
    all go through here."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES

    if getattr(model, "n_items", baskets.n_items) != baskets.n_items:
        raise InputError(
            f"the {role} (version {version}) scores {model.n_items} items but the baskets "
            f"now hold {baskets.n_items}: retrain and promote a model on the current baskets"
        )
    model.with_history(baskets)
    return Served(
        model,
        f"{role}: {model_type} (version {version})",
        True,
        learned_users=model_type in MODEL_TYPES and not model.reads_history,
        version=version,
        model_type=model_type,
    )


def served_version(
    tracker: MLflowResource, baskets: BasketSet, version: Any, role: str = "champion"
) -> Served:
    """A registered ``version`` ready to answer on ``baskets`` (the champion, or an A/B challenger)."""
    model_type = version.tags.get("model_type", "model")
    return served_champion(load_version(tracker, version), baskets, str(version.version), model_type, role)


def serving_models(
    tracker: MLflowResource,
    baskets: BasketSet,
    report: pd.DataFrame | None,
    tasks: Sequence[str],
    baselines: BaselineSettings | None = None,
) -> dict[str, Served]:
    """The model answering each of ``tasks``: the registry's champion where it serves the task
    (loaded once), else the best baseline on the task's headline metric in the report (popularity
    without a report), with its tuned settings, fitted on every basket and labelled as such."""
    version = champion_version(tracker)
    won = served_tasks(version) if version is not None else ()
    champion = served_version(tracker, baskets, version) if any(t in won for t in tasks) else None
    return {
        t: champion
        if champion is not None and t in won
        else best_baseline(baskets, report, t, baselines, beside=version, beside_tasks=won)
        for t in tasks
    }


def serving_model(
    tracker: MLflowResource,
    baskets: BasketSet,
    report: pd.DataFrame | None,
    task: str,
    baselines: BaselineSettings | None = None,
) -> Served:
    """The model answering ``task`` (see :func:`serving_models`)."""
    return serving_models(tracker, baskets, report, [task], baselines)[task]


def best_baseline(
    baskets: BasketSet,
    report: pd.DataFrame | None,
    task: str,
    baselines: BaselineSettings | None = None,
    beside: Any | None = None,
    beside_tasks: Sequence[str] = (),
) -> Served:
    """The best baseline on the task's headline metric in the report (popularity without one), with
    its tuned settings, fitted on every basket, labelled as what serves until a promotion, or
    ``beside`` a champion version that serves ``beside_tasks`` only."""
    name = "popularity"
    if report is not None:
        sel = report[
            (report["kind"] == "baseline")
            & (report["task"] == task)
            & (report["metric"] == HEADLINE_METRIC[task])
            & (report["k"] == 10)
        ]
        if len(sel):
            name = str(sel.loc[sel["value"].idxmax(), "method"])
    model = baseline_recommender(name, task, baselines).fit(baskets)
    champion = str(beside.version) if beside is not None else None
    label = baseline_source(name, champion, beside_tasks)
    return Served(model, label, False, model_type=name, beside=champion, beside_tasks=tuple(beside_tasks))


def recommendation_table(
    tracker: MLflowResource,
    baskets: BasketSet,
    report: pd.DataFrame,
    rules: pd.DataFrame,
    item_vectors: np.ndarray,
    k: int = 10,
    max_users: int = 0,
    baselines: BaselineSettings | None = None,
    explain_top: int = 10,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Top-K per user (next basket), per item (completion) and per item by description; the facts.
    A ranker's first ``explain_top`` items per user and per item get their feature contributions."""
    if k < 1:
        raise InputError(f"recommendations config k={k}: must be >= 1")
    index = RuleIndex.from_rules(rules, baskets.n_items) if len(rules) else None
    users, history = user_item_counts(baskets)
    if max_users:
        users, history = users[:max_users], history[:max_users]
    served = serving_models(tracker, baskets, report, (NEXT_BASKET, COMPLETION), baselines)
    for_users, for_items = served[NEXT_BASKET], served[COMPLETION]
    vocab = baskets.vocabulary
    per_user = recommend_for_users(
        for_users.model, list(users), history, vocab, k, index, for_users.label, explain_top=explain_top
    )
    items = [np.array([i]) for i in range(baskets.n_items)]
    item_ids = vocab["item_id"].astype(str).tolist()
    per_item = recommend_for_baskets(
        for_items.model, items, item_ids, vocab, k, index, for_items.label, explain_top=explain_top
    )
    # by description: every product gets neighbours, also one that has (almost) no purchases yet
    # by one item, "max" and "mean" rank alike; "mean" needs no dense similarity at 100k items
    content = ContentRecommender(item_vectors, aggregate=aggregate_for(len(item_vectors)))
    per_item_content = recommend_for_baskets(
        content, items, item_ids, vocab, k, index, "content: description similarity", scope="item_content"
    )
    table = pd.concat([per_user, per_item, per_item_content], ignore_index=True)
    explained = (table["explanation"] != "").groupby(table["scope"]).mean()
    top = table["rank"] <= explain_top
    contributed = table.loc[(table["scope"] == "user") & top, "contributions"]
    contributed_items = table.loc[(table["scope"] == "item") & top, "contributions"]
    facts = {
        "source_users": for_users.label,
        "source_items": for_items.label,
        "from_champion": for_users.from_champion or for_items.from_champion,
        "champion_serves_users": for_users.from_champion,
        "champion_serves_items": for_items.from_champion,
        "users": len(users),
        "items": int(baskets.n_items),
        "k": k,
        "rules_for_explanations": len(rules),
        "explained_share_users": float(explained.get("user", 0.0)),
        "explained_share_items": float(explained.get("item", 0.0)),
        "explain_top": explain_top,
        "contributions_share_users": float((contributed != "").mean()) if len(contributed) else 0.0,
        "top_contribution_groups": top_groups(contributed),
        "contributions_share_items": float((contributed_items != "").mean())
        if len(contributed_items)
        else 0.0,
        "top_contribution_groups_items": top_groups(contributed_items),
    }
    return table, facts


@dataclass
class StoredState:
    """What ``make demo`` left in the data folder that a recommendation needs."""

    baskets: BasketSet
    rules: RuleIndex | None
    report: pd.DataFrame | None
    last_gate: dict[str, Any] | None
    baselines: BaselineSettings | None

    @classmethod
    def load(cls, assets_dir: Path) -> StoredState:
        if not (assets_dir / "baskets" / BASKETS_FILE).exists():
            raise InputError(
                f"no baskets under {assets_dir / 'baskets'}: materialize `baskets` first (make demo)"
            )
        baskets = load_basket_set(assets_dir / "baskets")
        rules_path = assets_dir / "association_rules.parquet"
        rules_df = read_table(rules_path) if rules_path.exists() else None
        rules = (
            RuleIndex.from_rules(rules_df, baskets.n_items)
            if rules_df is not None and len(rules_df)
            else None
        )
        report_path = assets_dir / "evaluation_report.parquet"
        report = read_table(report_path) if report_path.exists() else None
        gate_path = assets_dir / "champion.json"
        last_gate = json.loads(gate_path.read_text()) if gate_path.exists() else None
        tuning_path = assets_dir / "baseline_tuning.json"
        tuning = json.loads(tuning_path.read_text()) if tuning_path.exists() else None
        baselines = BaselineSettings.from_dict(tuning["settings"]) if tuning else None
        return cls(baskets, rules, report, last_gate, baselines)


def recommend_command(
    tracker: Callable[[], MLflowResource],
    tracking_uri: str,
    assets_dir: Path,
    user: str | None = None,
    items: str | None = None,
    k: int = 10,
) -> str:
    """`assoc-pipeline recommend --user ID | --items A,B [--user ID]`: what the ``recommendations``
    asset serves; a basket with its customer is completed from their history too when the served
    model reads customer history (``personal_completion``).

    ``tracker`` is only built (Dagster, MLflow: seconds) when the store may hold a champion; before
    the first promotion the best baseline answers without either."""
    if k < 1:
        raise InputError(f"--k must be >= 1, got {k}")
    if user is None and items is None:
        raise InputError("recommend: give --user (next basket), --items (basket completion) or both")
    state = StoredState.load(assets_dir)
    baskets = state.baskets
    task = COMPLETION if items is not None else NEXT_BASKET
    if no_champion_yet(tracking_uri):
        served = best_baseline(baskets, state.report, task, state.baselines)
    else:
        served = serving_model(tracker(), baskets, state.report, task, state.baselines)
    notes = (
        [] if served.from_champion else gate_note(state.last_gate, task, served.beside, served.beside_tasks)
    )
    if items is None:
        users, history = user_item_counts(baskets)
        row = users.get_indexer([stored_user_id(user, set(map(str, users)))])[0]
        if row < 0:
            sample = ", ".join(map(str, users[:5]))
            raise UnknownQueryError(
                f"unknown user {user!r}: no purchase history in the baskets "
                f"({len(users):,} known users, e.g. {sample})"
            )
        learned = learned_user_ids(served)
        if learned is not None and str(users[row]) not in learned:
            notes.append(f"note: {UNLEARNED_USER_NOTE}")
        table = recommend_for_users(
            served.model, [users[row]], history[row], baskets.vocabulary, k, state.rules, served.label
        )
        header = f"user {users[row]} ({len(history[row].indices)} distinct items bought)"
    else:
        idx = resolve_items(baskets.vocabulary, items.split(","))
        names = baskets.vocabulary["item_name"].to_numpy()[idx]
        customer = None
        if user is not None:
            known = set(map(str, user_codes(baskets)[0]))  # the ids only: no user x item matrix
            customer = stored_user_id(user, known)
            if customer not in known:
                notes.append(
                    f"note: customer {user!r} has no purchase history: answered as an anonymous basket"
                )
                customer = None
            elif not served.model.personal_completion:
                notes.append(f"note: {served.label} does not read customer history: the basket alone decides")
        table = recommend_for_baskets(
            served.model, [idx], ["+".join(map(str, idx))], baskets.vocabulary, k, state.rules, served.label,
            scope="basket", user_ids=[customer],
        )  # fmt: skip
        whose = f" of customer {customer}" if customer is not None else ""
        header = f"basket{whose}: {', '.join(map(str, names))}"
    return answer_text(f"{header} — {served.label}", notes, table.to_dict("records"))
