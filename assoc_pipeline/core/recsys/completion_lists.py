"""Candidate lists for basket completion: personal-EASE candidates of a partial basket, with
features of the basket, its customer's habit and each candidate item.

Why: personal EASE (the ``ease_personal`` baseline) blends what the basket implies with what its
customer usually buys at one fixed weight, for every basket and item alike. Which of the two should
decide depends on the basket (its size, how sure EASE is), the customer (how long their history is)
and the item (its popularity and trend, how often buyers come back for it). The ranker's completion
head (:mod:`~assoc_pipeline.core.recsys.models.completion_head`) learns that from completion queries
inside the training period; this module builds what it reads. Everything comes from the history
alone ("now" is the day after its last basket), so training lists and scoring lists are alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.ease import MAX_ITEMS, EASERecommender
from assoc_pipeline.core.recsys.baselines.personal_ease import add_habit
from assoc_pipeline.core.recsys.baselines.user_history import (
    item_popularity,
    lookup,
    user_codes,
    user_item_counts,
)
from assoc_pipeline.core.recsys.candidates import basket_days, history_before, prediction_day
from assoc_pipeline.core.recsys.ranking_features import prediction_times, within_list_rank
from assoc_pipeline.core.recsys.ranking_lists import RankingLists
from assoc_pipeline.core.recsys.tasks import completion_task, sampled_queries
from assoc_pipeline.core.sparse_pairs import values_at

# feature -> group (the groups an ablation holds at their mean)
COMPLETION_FEATURE_GROUPS: dict[str, str] = {
    "ease_z": "basket",  # EASE score of the partial basket, standardised over the catalogue
    "personal_ease": "basket",  # ease_z + the habit term (the ease_personal baseline's score)
    "log_rank_personal": "basket",
    "log_rank_ease": "basket",
    "log_basket_size": "basket",
    "habit_share": "habit",  # share of the customer's baskets holding the item
    "log_habit_count": "habit",
    "bought_before": "habit",
    "log_days_since_bought": "habit",
    "in_last_basket": "habit",
    "log_customer_baskets": "habit",
    "known_customer": "habit",
    "log_popularity": "item",
    "log_recent_popularity": "item",
    "trend": "item",  # log of recent vs long-run baskets per day
    "log_repeat_rate": "item",  # share of the item's buyers who bought it in 2+ baskets
}
COMPLETION_FEATURES = tuple(COMPLETION_FEATURE_GROUPS)


@dataclass(frozen=True)
class CompletionSettings:
    """How many candidates a list holds and how they are chosen (personal EASE)."""

    k: int = 100  # validation hit@10 recall of the list: .585 at 100 (the bound of the re-ranking)
    ease_l2: float = 50.0
    habit_weight: float = 2.0
    habit_scale: float = 10.0
    ease_max_items: int = MAX_ITEMS
    recent_days: float = 28.0


@dataclass
class CompletionContext:
    """What the features read from one history, computed once."""

    settings: CompletionSettings
    ease: EASERecommender
    users: pd.Index
    counts: sp.csr_matrix  # user x item: the customer's baskets holding the item
    n_baskets: np.ndarray  # per user
    shares: sp.csr_matrix  # counts / n_baskets: the habit term's shares
    days_since: sp.csr_matrix  # user x item: 1 + days from the last purchase to "now"
    last_basket: sp.csr_matrix  # user x item: 1 where the customer's latest basket holds the item
    item_features: np.ndarray  # (n_items, 4): popularity, recent popularity, trend, repeat rate
    seen: np.ndarray  # bool (n_items,): items of the history (the only ones a list may hold)

    @classmethod
    def of(cls, history: BasketSet, settings: CompletionSettings) -> CompletionContext:
        s = settings
        ease = EASERecommender(s.ease_l2, s.ease_max_items).fit(history)
        users, counts = user_item_counts(history)
        _, codes = user_codes(history)
        n_baskets = np.bincount(codes[codes >= 0], minlength=len(users)).astype(np.float32)
        days = basket_days(history)
        now = prediction_day(history)
        m = history.matrix.tocoo()
        known = codes[m.row] >= 0
        last = (
            pd.DataFrame({"u": codes[m.row[known]], "i": m.col[known], "d": days[m.row[known]]})
            .groupby(["u", "i"], sort=False)["d"]
            .max()
        )
        shape = (len(users), history.n_items)
        u, i = last.index.get_level_values(0).to_numpy(), last.index.get_level_values(1).to_numpy()
        days_since = sp.csr_matrix((1.0 + now - last.to_numpy(), (u, i)), shape=shape, dtype=np.float32)
        latest = pd.Series(days).groupby(codes).idxmax().drop(-1, errors="ignore")
        last_rows = history.matrix[latest.to_numpy()].astype(np.float32).tocoo()
        last_basket = sp.csr_matrix(
            (np.ones(last_rows.nnz, np.float32), (latest.index.to_numpy()[last_rows.row], last_rows.col)),
            shape=shape,
        )
        popularity = item_popularity(history)
        recent = item_popularity(history.subset(np.flatnonzero(days >= now - s.recent_days)))
        span = max(float(now - days.min()), s.recent_days) if len(days) else s.recent_days
        trend = np.log((recent + 1.0) / (popularity * s.recent_days / span + 1.0))
        buyers = np.asarray((counts > 0).sum(axis=0)).ravel()
        repeaters = np.asarray((counts >= 2).sum(axis=0)).ravel()
        item_features = np.stack(
            [np.log1p(popularity), np.log1p(recent), trend, np.log((repeaters + 0.1) / (buyers + 1.0))],
            axis=1,
        ).astype(np.float32)
        shares = counts.copy()
        shares.data = counts.data / np.repeat(n_baskets, np.diff(counts.indptr))
        return cls(
            s, ease, users, counts, n_baskets, shares, days_since, last_basket, item_features, popularity > 0
        )

    def personal_scores(
        self, partial_baskets: Sequence[np.ndarray], user_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(standardised EASE, personal EASE) dense scores of the baskets (rows: customers, -1 = none)."""
        raw = self.ease.score_completion(partial_baskets)
        z = (raw - raw.mean(axis=1, keepdims=True)) / (raw.std(axis=1, keepdims=True) + 1e-9)
        s = self.settings
        return z, add_habit(z.copy(), user_rows, self.shares, s.habit_weight, s.habit_scale)


def query_batch(n_items: int) -> int:
    """Queries scored at once: a few dense (queries x items) float32 blocks of ~128 MB at most."""
    return int(np.clip(2**25 // max(n_items, 1), 16, 512))


def completion_batch(
    ctx: CompletionContext,
    partial_baskets: Sequence[np.ndarray],
    user_ids: Sequence[str | None] | None,
    hidden: np.ndarray | None = None,
) -> tuple[RankingLists, np.ndarray]:
    """The candidate lists of a batch of partial baskets and their dense personal-EASE scores.

    Each list holds the ``k`` items personal EASE ranks highest among the history's items that are
    not in the basket, best first; ``hidden`` (one item per basket) sets the labels."""
    n = len(partial_baskets)
    ids = [u if isinstance(u, str) and u else "\0anonymous" for u in user_ids] if user_ids is not None else []
    user_rows = lookup(ctx.users, ids) if ids else np.full(n, -1, dtype=np.int64)
    z, personal = ctx.personal_scores(partial_baskets, user_rows)
    eligible = np.where(ctx.seen, personal, -np.inf)
    for q, basket in enumerate(partial_baskets):
        eligible[q, np.asarray(basket, dtype=np.int64)] = -np.inf
    k = min(ctx.settings.k, int(ctx.seen.sum()))
    top = np.argpartition(-eligible, k - 1, axis=1)[:, :k] if k else np.zeros((n, 0), np.int64)
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(eligible, top, 1), axis=1, kind="stable"), 1)
    sizes = np.isfinite(np.take_along_axis(eligible, top, 1)).sum(axis=1)  # tiny catalogues: fewer
    keep = np.arange(k)[None, :] < sizes[:, None]
    list_of_row = np.repeat(np.arange(n), k)[keep.ravel()]
    items = top[keep]
    rows = user_rows[list_of_row]
    has = rows >= 0
    count = np.zeros(len(items), np.float32)
    since = np.zeros(len(items), np.float32)
    latest = np.zeros(len(items), np.float32)
    count[has] = values_at(ctx.counts, rows[has], items[has])
    since[has] = values_at(ctx.days_since, rows[has], items[has])
    latest[has] = values_at(ctx.last_basket, rows[has], items[has])
    n_baskets = np.where(has, ctx.n_baskets[np.maximum(rows, 0)], 0.0)
    sizes_of_basket = np.array([len(b) for b in partial_baskets], dtype=np.float32)
    columns = {
        "ease_z": z[list_of_row, items],
        "personal_ease": personal[list_of_row, items],
        "log_rank_personal": np.log1p(within_list_rank(personal[list_of_row, items], list_of_row)),
        "log_rank_ease": np.log1p(within_list_rank(z[list_of_row, items], list_of_row)),
        "log_basket_size": np.log1p(sizes_of_basket[list_of_row]),
        "habit_share": count / np.maximum(n_baskets, 1.0),
        "log_habit_count": np.log1p(count),
        "bought_before": (count > 0).astype(np.float32),
        "log_days_since_bought": np.where(since > 0, np.log1p(since), 0.0),
        "in_last_basket": latest,
        "log_customer_baskets": np.log1p(n_baskets),
        "known_customer": has.astype(np.float32),
    }
    features = np.empty((len(items), len(COMPLETION_FEATURES)), dtype=np.float32)
    for j, name in enumerate(COMPLETION_FEATURES[: len(columns)]):
        features[:, j] = columns[name]
    features[:, len(columns) :] = ctx.item_features[items]
    labels = (items == np.asarray(hidden)[list_of_row]).astype(np.float32) if hidden is not None else None
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int64)
    lists = RankingLists(
        features,
        items.astype(np.int64),
        indptr,
        labels if labels is not None else np.zeros(len(items), np.float32),
        np.array(
            [u if isinstance(u, str) else "" for u in (user_ids if user_ids is not None else [""] * n)],
            object,
        ),
        np.zeros(n),
    )
    return lists, personal


def sampled_baskets(baskets: BasketSet, max_baskets: int, seed: int) -> BasketSet:
    """At most ``max_baskets`` of the baskets with 2+ items (a fixed-seed sample, in order; 0 = all)."""
    rows = np.flatnonzero(np.diff(baskets.matrix.indptr) >= 2)
    if max_baskets and len(rows) > max_baskets:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_baskets, replace=False))
    return baskets.subset(rows)


def labelled_lists(
    ctx: CompletionContext,
    future: BasketSet,
    history: BasketSet,
    seeds: Sequence[int],
    max_queries: int,
    *,
    keep_misses: bool = False,
) -> list[RankingLists]:
    """Lists of ``future``'s completion queries (one hidden item per basket and seed, at most
    ``max_queries`` baskets a seed); unless ``keep_misses`` (scoring hit@10), only those whose hidden
    item made the list (the others teach a listwise loss nothing).

    Scoring keeps the queries of :func:`sampled_queries` (the ones the baselines' tuning scores);
    training lists sample the baskets first (a month of a 10M-event log holds ~150k baskets, and
    hiding an item in each costs ~1 s a draw)."""
    out = []
    for seed in seeds:
        if keep_misses:
            task = sampled_queries(completion_task(future, seed=seed, history=history), max_queries, seed)
        else:
            task = completion_task(sampled_baskets(future, max_queries, seed), seed=seed, history=history)
        batch = query_batch(history.n_items)
        for start in range(0, len(task), batch):
            stop = min(start + batch, len(task))
            users = task.user_ids[start:stop] if task.user_ids is not None else None
            lists, _ = completion_batch(ctx, task.partial_baskets[start:stop], users, task.hidden[start:stop])
            if keep_misses:
                out.append(lists)
                continue
            positive = np.bincount(lists.list_of_row, weights=lists.labels, minlength=len(lists)) > 0
            if positive.any():
                out.append(lists.take(np.flatnonzero(positive)))
    return out


def completion_training_lists(
    train: BasketSet,
    settings: CompletionSettings,
    times: int = 2,
    draws: int = 4,
    max_lists: int = 10_000,
    seed: int = 0,
) -> RankingLists:
    """Labelled lists from the last ``times`` prediction times inside ``train``: at each, the history
    before it and the completion queries of the baskets up to the next one, ``draws`` hidden items
    per basket; at most ``max_lists`` queries in all (an even, fixed-seed share per time and draw)."""
    starts = prediction_times(train)[-times:]
    if not starts:
        return RankingLists.concat([], len(COMPLETION_FEATURES))
    days = basket_days(train)
    ends = [*starts[1:], float(days.max()) + 1.0]
    per = max(1, max_lists // (len(starts) * draws))
    parts: list[RankingLists] = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        history = history_before(train, start)
        future = train.subset(np.flatnonzero((days >= start) & (days < end)))
        if history.n_baskets == 0 or future.n_baskets == 0:
            continue
        ctx = CompletionContext.of(history, settings)
        parts += labelled_lists(ctx, future, history, [seed + 101 * i + d for d in range(draws)], per)
    return RankingLists.concat(parts, len(COMPLETION_FEATURES))
