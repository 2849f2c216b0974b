"""Serving what won: top-K lists per user and per item from any Recommender, with rule explanations.

An explanation is attached where a mined rule supports a recommendation: among the rules whose
antecedent lies inside the query (the user's purchase history, or the item itself) and whose
consequent is the recommended item, the strongest (max confidence, ties by lift) is quoted.
Recommendations without such a rule are still served, with an empty explanation: rules never
invent evidence, and the model does not need their permission.

A ranker's per-user rows also get ``contributions``: the top feature groups behind the item's
score (:mod:`~assoc_pipeline.core.recsys.explanations`, a JSON string; empty for other models).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.recsys.baselines.rules import RuleIndex
from assoc_pipeline.core.recsys.baselines.user_history import basket_matrix
from assoc_pipeline.core.recsys.evaluation import batch_rows
from assoc_pipeline.core.recsys.explanations import (
    explainable,
    explains_completion,
    ranked_basket_scores,
    ranked_user_scores,
)
from assoc_pipeline.core.recsys.item_lookup import ItemLookup
from assoc_pipeline.core.recsys.metrics import top_k
from assoc_pipeline.core.recsys.recommender import Recommender

SERVING_COLUMNS = [
    "scope", "query", "rank", "item_id", "item_name", "score", "explanation", "source", "contributions"
]  # fmt: skip


def _best_rules(index: RuleIndex | None, queries: sp.csr_matrix) -> dict[tuple[int, int], int]:
    """(query row, consequent item) -> the strongest fired rule concluding that item."""
    if index is None or index.antecedents.shape[0] == 0:
        return {}
    q, r = index.fired(queries)
    if not len(q):
        return {}
    df = pd.DataFrame({"q": q, "c": index.consequent[r], "r": r, "s": index.strength[r]})
    df = df.sort_values(["s", "r"], ascending=[False, True]).drop_duplicates(["q", "c"])
    return {(int(a), int(b)): int(c) for a, b, c in zip(df["q"], df["c"], df["r"], strict=True)}


def _explanation(index: RuleIndex, rule: int, names: np.ndarray) -> str:
    row = index.rules.iloc[rule]
    ant = " + ".join(str(names[i]) for i in row["antecedent"])
    item = names[int(index.consequent[rule])]
    conf, lift = float(row["confidence"]), float(row["lift"])
    return f"{100 * conf:.0f}% of baskets with {ant} also hold {item} (lift {lift:.1f})"


def _table(
    scope: str,
    queries: Sequence[str],
    scores: np.ndarray,
    query_baskets: sp.csr_matrix,
    k: int,
    vocabulary: pd.DataFrame,
    rules: RuleIndex | None,
    source: str,
    lookup: ItemLookup | None = None,
    contributions: Callable[[np.ndarray, np.ndarray], list[str]] | None = None,
    explain_top: int = 0,
) -> pd.DataFrame:
    topk = top_k(scores, k)
    valid = np.isfinite(np.take_along_axis(scores, topk, axis=1))
    best = _best_rules(rules, query_baskets)
    if lookup is None:
        names = vocabulary["item_name"].astype(str).to_numpy()
        ids = vocabulary["item_id"].astype(str).to_numpy()
    else:
        names, ids = lookup.names, lookup.ids
    rows, picked = [], []
    for qi, query in enumerate(queries):
        for rank, (item, ok) in enumerate(zip(topk[qi], valid[qi], strict=True), start=1):
            if not ok:
                break
            rule = best.get((qi, int(item)))
            rows.append(
                (
                    scope,
                    str(query),
                    rank,
                    ids[item],
                    names[item],
                    float(scores[qi, item]),
                    _explanation(rules, rule, names) if rule is not None else "",
                    source,
                    "",
                )
            )
            picked.append((qi, int(item), rank))
    table = pd.DataFrame(rows, columns=SERVING_COLUMNS)
    if contributions is not None and picked:
        q, i, r = np.asarray(picked, dtype=np.int64).T
        sel = np.flatnonzero(r <= explain_top)
        cells = np.full(len(table), "", dtype=object)
        cells[sel] = contributions(q[sel], i[sel])
        table["contributions"] = cells
    return table


def recommend_for_users(
    model: Recommender,
    user_ids: Sequence[str],
    history: sp.csr_matrix,
    vocabulary: pd.DataFrame,
    k: int = 10,
    rules: RuleIndex | None = None,
    source: str = "",
    explain_top: int = 10,
) -> pd.DataFrame:
    """Top-``k`` next-basket items per user (repeat purchases allowed, as in the evaluation).

    ``history`` (users x items, rows aligned with ``user_ids``) is what rules fire on. A ranker's
    rows also get their feature ``contributions`` (the top ``explain_top`` ranks; 0 = none).
    Users are scored a block at a time (:func:`_in_blocks`).
    """
    user_ids = [str(u) for u in user_ids]
    binary = _binary(history)

    def block(rows: slice) -> pd.DataFrame:
        users = user_ids[rows]
        explain = None
        if explain_top > 0 and explainable(model):
            scores, explain = ranked_user_scores(model, users)  # type: ignore[arg-type]
        else:
            scores = model.score_next_basket(users)
        scores = np.array(scores, dtype=np.float32, copy=True)
        return _table(
            "user", users, scores, binary[rows], k, vocabulary, rules, source or model.name,
            contributions=explain, explain_top=explain_top,
        )  # fmt: skip

    return _in_blocks(len(user_ids), len(vocabulary), block)


def recommend_for_baskets(
    model: Recommender,
    baskets: Sequence[np.ndarray],
    labels: Sequence[str],
    vocabulary: pd.DataFrame,
    k: int = 10,
    rules: RuleIndex | None = None,
    source: str = "",
    scope: str = "item",
    lookup: ItemLookup | None = None,
    user_ids: Sequence[str | None] | None = None,
    explain_top: int = 10,
) -> pd.DataFrame:
    """Top-``k`` completions per (partial) basket, never an item already in it, a block of baskets
    at a time (:func:`_in_blocks`).

    ``lookup``: the vocabulary's ids and names already as arrays (a server answering one basket
    per request converts them once, not per request). ``user_ids``: each basket's customer (None:
    anonymous), read by a model whose completion is personal. A ranker's completion head also
    gives the top ``explain_top`` ranks their feature ``contributions`` (0 = none)."""
    baskets, labels = list(baskets), list(labels)
    personal = user_ids is not None and model.personal_completion

    def block(rows: slice) -> pd.DataFrame:
        part = baskets[rows]
        users = list(user_ids[rows]) if personal else None
        explain = None
        if explain_top > 0 and explains_completion(model):
            raw, explain = ranked_basket_scores(model, part, users)  # type: ignore[arg-type]
        elif personal:
            raw = model.score_completion(part, user_ids=users)
        else:
            raw = model.score_completion(part)
        scores = np.array(raw, dtype=np.float32, copy=True)
        q = basket_matrix(part, len(vocabulary))
        at = np.repeat(np.arange(len(part)), [len(b) for b in part])
        if len(at):
            scores[at, np.concatenate([np.asarray(b, dtype=np.int64) for b in part])] = -np.inf
        return _table(
            scope, labels[rows], scores, q, k, vocabulary, rules, source or model.name, lookup,
            contributions=explain, explain_top=explain_top,
        )  # fmt: skip

    return _in_blocks(len(baskets), len(vocabulary), block)


def _in_blocks(n: int, n_items: int, block: Callable[[slice], pd.DataFrame]) -> pd.DataFrame:
    """``block(rows)`` over ``n`` queries, :func:`batch_rows` at a time, as one table: each query's
    rows depend on that query alone. Every user (20k) or every item (59k) of a 100k-item log
    scored at once was 5-14 GB of scores, twice."""
    step = batch_rows(n_items)
    parts = [block(slice(s, s + step)) for s in range(0, max(n, 1), step)]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    m.data[:] = 1.0
    return m
