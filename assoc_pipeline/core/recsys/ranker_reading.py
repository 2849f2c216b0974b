"""What the ranker reads: its figures on a task with one feature group, or its learned item
embedding, held at the training mean, without retraining.

Why: the value of each feature group (purchase cycles, rules, embeddings, ...) should be measured
where the model is judged, not asserted. Holding a group at its mean costs one scoring per group
(the next-basket candidate lists are built once), so the evaluation report carries this table on
every run. It reads the trained network; a retrained ablation (``benchmarks/ranker.py
--ablation``) is the stricter test, because groups overlap and a network retrained without one
leans on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assoc_pipeline.core.recsys.completion_lists import COMPLETION_FEATURE_GROUPS
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.models.ranker import RankerRecommender
from assoc_pipeline.core.recsys.models.ranker_net import RankerNet, held_at_mean
from assoc_pipeline.core.recsys.ranking_features import ALL_FEATURE_GROUPS, RankingLists
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.tasks import CompletionTask, NextBasketTask, sampled_queries

READING_QUERIES = 2_000  # queries scored per held group (a fixed-seed sample; the demo's 1,946 users all)
NEXT_BASKET_METRICS = ("recall", "ndcg", "recall_repeat", "recall_explore")
COMPLETION_METRICS = ("hit_rate", "ndcg")
NONE = "(none)"
ITEM_EMBEDDING = "item embedding"


@dataclass(frozen=True)
class Held:
    """One row of the reading: what is held at its mean."""

    label: str
    features: str  # the features held, comma-separated ("" for none)
    keep: np.ndarray | None  # 1 = read, 0 = held (None: every feature read)
    items: bool = False  # the learned item embedding held


class _ListScores(Recommender):
    """Scores of next-basket lists built once, for the users of those lists, in their order."""

    name = "ranker"
    supports_completion = False

    def __init__(self, model: RankerRecommender, lists: RankingLists, rows: np.ndarray, users: Sequence[str]):
        self.model, self.lists, self.rows = model, lists, rows
        self.position = {str(u): i for i, u in enumerate(users)}

    def fit(self, train) -> _ListScores:
        return self

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        at = [self.position[str(u)] for u in user_ids]
        if at != list(range(at[0], at[0] + len(at))):
            raise ValueError("ranker reading: users must come in the order their lists were built")
        return self.model.scores_of(self.lists, self.rows, at[0], at[-1] + 1)


def held_variants(net: RankerNet, groups_of: dict[str, str]) -> list[Held]:
    """Nothing held, each feature group held (in ``groups_of``' order), then the item embedding."""
    names = list(groups_of)
    out = [Held(NONE, "", None)]
    for group in dict.fromkeys(groups_of.values()):
        keep = np.array([groups_of[n] != group for n in names], dtype=np.float32)
        out.append(Held(group, ", ".join(n for n in names if groups_of[n] == group), keep))
    if net.item_dim:
        out.append(Held(ITEM_EMBEDDING, f"{net.item_dim}-d learned vector per item", None, items=True))
    return out


def next_basket_reading(
    model: RankerRecommender,
    task: NextBasketTask,
    *,
    max_queries: int = READING_QUERIES,
    seed: int = 0,
    k: int = 10,
) -> pd.DataFrame:
    """One row per :func:`held_variants` entry: the task's figures @k with that part held."""
    task = sampled_queries(task, max_queries, seed)
    users = [str(u) for u in task.user_ids]
    lists = model.ranking_lists(users)
    net = model._require()
    groups_of = {name: ALL_FEATURE_GROUPS[name] for name in model.params.feature_names}
    rows = []
    for held in held_variants(net, groups_of):
        with held_at_mean(net, held.keep, held.items):
            scores = model.list_scores(lists)
        out = evaluate(_ListScores(model, lists, scores, users), task, ks=(k,))
        rows.append(_row(held, out, k, NEXT_BASKET_METRICS))
    return _with_change(rows, "ndcg", len(task))


def completion_reading(
    model: RankerRecommender,
    task: CompletionTask,
    *,
    max_queries: int = READING_QUERIES,
    seed: int = 0,
    k: int = 10,
) -> pd.DataFrame | None:
    """The same for the completion head (None when the model completes without one)."""
    head = model.completion
    if head is None:
        return None
    task = sampled_queries(task, max_queries, seed)
    rows = []
    for held in held_variants(head.net, dict(COMPLETION_FEATURE_GROUPS)):
        with held_at_mean(head.net, held.keep, held.items):
            out = evaluate(model, task, ks=(k,))
        rows.append(_row(held, out, k, COMPLETION_METRICS))
    return _with_change(rows, "hit_rate", len(task))


def _row(held: Held, out: pd.DataFrame, k: int, metrics: tuple[str, ...]) -> dict:
    at_k = out[out.k == k].set_index("metric")["value"]
    return {"held": held.label, "features": held.features, **{m: float(at_k[m]) for m in metrics}}


def _with_change(rows: list[dict], metric: str, n_queries: int) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table[f"{metric}_change"] = table[metric] - table[metric].iloc[0]
    table.attrs["n_queries"] = n_queries
    return table


LABELS = {
    "recall": "recall",
    "ndcg": "NDCG",
    "recall_repeat": "repeat recall",
    "recall_explore": "explore recall",
    "hit_rate": "hit",
}


def reading_markdown(table: pd.DataFrame, k: int = 10) -> str:
    """The table as markdown: the figures @k and the change of the primary metric."""
    metrics = [c for c in table.columns if c not in ("held", "features")]

    def label(m: str) -> str:
        base = m.removesuffix("_change")
        return f"{LABELS.get(base, base)}@{k}" + (" change" if m != base else "")

    head = ["held at its mean", "features", *map(label, metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.itertuples(index=False):
        cells = [f"{getattr(r, m):{'+' if m.endswith('_change') else ''}.4f}" for m in metrics]
        lines.append(f"| {r.held} | {r.features} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
