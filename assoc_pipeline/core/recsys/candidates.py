"""Stage one of the two-stage ranker: a short candidate list per user at a prediction time.

Why: a learned ranker can only re-order what it is shown, so the list must hold most of what the
user will buy while staying short enough to score per (user, item). Next-basket targets in retail
are mostly repeats (Li et al. 2023), so the list is, in this order:

1. every item of the user's history, most-bought first (ties: bought more recently first);
2. the items EASE (Steck 2019) scores highest from the user's binary history, not yet bought;
3. trending items: the most-bought items of the last ``trend_days`` days, not yet listed.

``max_size`` cuts the list (history first), so the recall of the list at 50 / 100 / 200
(:func:`candidate_recall`) bounds what any re-ranker of that list can reach. Everything is computed
from baskets strictly before the prediction time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.index_ranges import row_entries
from assoc_pipeline.core.recsys.baselines.ease import MAX_ITEMS, ease_item_weights
from assoc_pipeline.core.recsys.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline.core.recsys.baselines.user_history import (
    baskets_of,
    item_popularity,
    lookup,
    user_codes,
    user_item_counts,
)
from assoc_pipeline.core.recsys.tasks import basket_times_ns
from assoc_pipeline.core.sparse_pairs import values_at

NS_PER_DAY = 86_400 * 10**9
SOURCE_HISTORY, SOURCE_NEIGHBOUR, SOURCE_TRENDING = 0, 1, 2


@dataclass(frozen=True)
class CandidateSettings:
    """How long the lists are and where their non-history part comes from."""

    n_neighbours: int = 50  # EASE neighbours of the history added per user
    n_trending: int = 10  # recent best-sellers added per user (if not already listed)
    max_size: int = 200  # the list is cut here (history first); 0 = no cut
    ease_l2: float = 200.0  # EASE lambda (the baseline tuning's next-basket choice)
    trend_days: float = 30.0  # "recent" for trending items
    ease_max_items: int = MAX_ITEMS  # EASE over at most the items in most baskets (100k catalogues)


DEFAULT_CANDIDATES = CandidateSettings()


def basket_days(bs: BasketSet) -> np.ndarray:
    """Basket times in days since the epoch (float64), the unit of every window and recency."""
    return basket_times_ns(bs) / NS_PER_DAY


def prediction_day(history: BasketSet) -> float:
    """The midnight after the last basket of ``history``: "now" when scoring from that history."""
    return float(np.floor(basket_days(history).max()) + 1.0) if history.n_baskets else 0.0


def history_before(bs: BasketSet, day: float) -> BasketSet:
    """The baskets strictly before ``day`` (what a recommender could know at that time)."""
    return bs.subset(np.flatnonzero(basket_days(bs) < day))


@dataclass
class FirstStage:
    """First-stage scores of some users at one prediction time, read by candidates and features.

    ``rows``: each user's row in ``users`` / ``counts`` (-1 = no history); ``counts`` holds the
    queried users' rows only (every other row is empty: a batch reads its own users' baskets,
    not the whole history). Nothing here is dense
    over users x items once the catalogue is above the EASE block (a 100k-item catalogue):
    ``ease`` holds the queried users' EASE scores at the block's columns ``ease_items`` only
    (None: every item, the whole n x n B), the other items scoring zero as in B; ``tifu`` is the
    TIFU-KNN fitted on the history (None when it was not asked for) and ``tifu_rows`` each queried
    user's row in its ``users_`` (-1: none): its predictions are blended only where they are read.
    Users without history score zero. Read them at (list, item) pairs with :meth:`ease_at` /
    :meth:`tifu_at`.
    """

    history: BasketSet
    at_day: float
    user_ids: np.ndarray
    users: pd.Index
    rows: np.ndarray
    counts: sp.csr_matrix
    ease: np.ndarray
    ease_items: np.ndarray | None
    tifu: TIFUKNNRecommender | None
    tifu_rows: np.ndarray
    recent: np.ndarray
    popularity: np.ndarray

    def ease_column(self, items: np.ndarray) -> np.ndarray:
        """Each item's column in ``ease`` (-1: outside the block, an EASE score of zero)."""
        if self.ease_items is None:
            return np.asarray(items, dtype=np.int64)
        col = np.full(self.history.n_items, -1, dtype=np.int64)
        col[self.ease_items] = np.arange(len(self.ease_items))
        return col[items]

    def ease_at(self, lists: np.ndarray, items: np.ndarray) -> np.ndarray:
        """EASE score of each (list, item) pair."""
        col = self.ease_column(items)
        inside = col >= 0
        out = np.zeros(len(col), dtype=self.ease.dtype)
        out[inside] = self.ease[lists[inside], col[inside]]
        return out

    def tifu_at(self, lists: np.ndarray, items: np.ndarray) -> np.ndarray:
        """TIFU-KNN score of each (list, item) pair (zero where nothing was predicted).

        The users' predictions are blended :data:`TIFU_ROWS` users at a time and read at their
        pairs, then dropped: a user's prediction row is the union of ~100 neighbours' items, so
        thousands of users' rows at 100k-item scale are gigabytes, while the pairs are ~200 each."""
        out = np.zeros(len(lists), dtype=np.float32)
        if self.tifu is None or len(lists) == 0:
            return out
        rows = self.tifu_rows[np.asarray(lists)]
        items = np.asarray(items)
        known = np.flatnonzero(rows >= 0)
        if self.tifu.predictions_ is not None:
            out[known] = values_at(self.tifu.predictions_, rows[known], items[known])
            return out
        users, local = np.unique(rows[known], return_inverse=True)
        order = np.argsort(local, kind="stable")
        starts = np.searchsorted(local[order], np.arange(0, len(users) + TIFU_ROWS, TIFU_ROWS))
        for n, lo in enumerate(range(0, len(users), TIFU_ROWS)):
            at = order[starts[n] : starts[n + 1]]
            block = self.tifu.dense_predictions(users[lo : lo + TIFU_ROWS])  # 512 x 100k: 200 MB
            out[known[at]] = block[local[at] - lo, items[known[at]]]
        return out


TIFU_ROWS = 512  # users whose TIFU-KNN predictions are blended at a time when read at pairs


def first_stage(
    history: BasketSet,
    user_ids: Sequence[str],
    at_day: float,
    settings: CandidateSettings = DEFAULT_CANDIDATES,
    *,
    with_tifu: bool = True,
    tifu: TIFUKNNRecommender | None = None,
) -> FirstStage:
    """EASE and TIFU-KNN scores (both fitted on ``history``) of ``user_ids`` at ``at_day``.

    ``tifu``: a TIFU-KNN already fitted on ``history`` (scoring many batches fits it once)."""
    rows = lookup(user_codes(history)[0], user_ids)
    known = np.flatnonzero(rows >= 0)
    users, counts = user_item_counts(history, only=rows[known])  # the other users' rows stay empty
    n_items = history.n_items
    ease_items: np.ndarray | None = np.zeros(0, dtype=np.int64)
    ease = np.zeros((len(rows), 0), dtype=np.float32)
    tifu_model, tifu_rows = None, np.full(len(rows), -1, dtype=np.int64)
    if len(known) and history.n_baskets:
        b = ease_item_weights(history.matrix, settings.ease_l2, settings.ease_max_items)
        ease_items = b.items
        ease = np.zeros((len(rows), n_items if b.items is None else len(b.items)), dtype=np.float32)
        binary = counts[rows[known]].copy()
        binary.data[:] = 1.0
        for s in range(0, len(known), 1024):
            ease[known[s : s + 1024]] = b.block_scores(binary[s : s + 1024])
        if with_tifu:
            tifu_model = tifu if tifu is not None else TIFUKNNRecommender().fit(history, predict=False)
            tifu_rows[known] = lookup(tifu_model.users_, [user_ids[i] for i in known])
    days = basket_days(history)
    recent_rows = np.flatnonzero(days >= at_day - settings.trend_days)
    recent = np.asarray(history.matrix[recent_rows].getnnz(axis=0)).ravel().astype(np.float32)
    return FirstStage(
        history=history,
        at_day=float(at_day),
        user_ids=np.asarray([str(u) for u in user_ids], dtype=object),
        users=users,
        rows=rows,
        counts=counts,
        ease=ease,
        ease_items=ease_items,
        tifu=tifu_model,
        tifu_rows=tifu_rows,
        recent=recent,
        popularity=item_popularity(history),
    )


@dataclass(frozen=True)
class CandidateLists:
    """One ordered candidate list per user, concatenated (CSR layout); ``source`` says why each
    item is listed (0 history, 1 EASE neighbour, 2 trending)."""

    user_ids: np.ndarray
    indptr: np.ndarray
    items: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.user_ids)

    @property
    def list_of_row(self) -> np.ndarray:
        """For each (user, candidate) row, the index of its list."""
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def items_of(self, i: int) -> np.ndarray:
        return self.items[self.indptr[i] : self.indptr[i + 1]]

    def truncated(self, size: int) -> CandidateLists:
        """The first ``size`` candidates of every list."""
        lens = np.minimum(np.diff(self.indptr), size)
        keep = np.arange(len(self.items)) - np.repeat(self.indptr[:-1], np.diff(self.indptr)) < size
        indptr = np.concatenate([[0], np.cumsum(lens)])
        return CandidateLists(self.user_ids, indptr, self.items[keep], self.source[keep])


def candidate_lists(stage: FirstStage, settings: CandidateSettings = DEFAULT_CANDIDATES) -> CandidateLists:
    """History items (most-bought first), then EASE neighbours, then trending items, cut at max_size.

    Neighbours come from the EASE block's columns (every item below the block size); "already
    listed" is checked by (list, item) keys, never a users x items mask."""
    n_users, n_items = len(stage.user_ids), stage.history.n_items
    hist = _history_part(stage)
    nb_list, nb_items = _ease_neighbours(stage, hist, min(settings.n_neighbours, stage.ease.shape[1]))
    trending = np.argsort(-stage.recent, kind="stable")[: settings.n_trending]
    trending = trending[stage.recent[trending] > 0]
    tr_list = np.repeat(np.arange(n_users), len(trending))
    tr_items = np.tile(trending, n_users)
    listed = np.concatenate(
        [hist["list"].to_numpy() * n_items + hist["item"].to_numpy(), nb_list * n_items + nb_items]
    )
    fresh = ~np.isin(tr_list.astype(np.int64) * n_items + tr_items, listed)
    tr_list, tr_items = tr_list[fresh], tr_items[fresh]

    lists = np.concatenate([hist["list"], nb_list, tr_list])
    items = np.concatenate([hist["item"], nb_items, tr_items])
    source = np.concatenate(
        [
            np.full(len(hist), SOURCE_HISTORY),
            np.full(len(nb_items), SOURCE_NEIGHBOUR),
            np.full(len(tr_items), SOURCE_TRENDING),
        ]
    ).astype(np.int8)
    # stable sort by list keeps the order inside each part and the parts in order
    order = np.argsort(lists, kind="stable")
    lists, items, source = lists[order], items[order], source[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(lists, minlength=n_users))])
    out = CandidateLists(stage.user_ids, indptr, items.astype(np.int64), source)
    return out.truncated(settings.max_size) if settings.max_size else out


NEIGHBOUR_ROWS = 1024  # users whose EASE neighbours are chosen at a time (a few copies of their rows)


def _ease_neighbours(stage: FirstStage, hist: pd.DataFrame, n_nb: int) -> tuple[np.ndarray, np.ndarray]:
    """(list, item) of each user's ``n_nb`` best EASE items not in their history, best first.

    Users go :data:`NEIGHBOUR_ROWS` at a time: the selection copies and sorts a user's row of
    scores, and a whole users x block of them is ~2 GB per prediction time at 100k-item scale.
    Each row's choice reads that row alone, so the result is the same."""
    if n_nb <= 0 or len(stage.user_ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    hist_list = hist["list"].to_numpy()
    hist_col = stage.ease_column(hist["item"].to_numpy())
    inside = hist_col >= 0
    hist_list, hist_col = hist_list[inside], hist_col[inside]
    order = np.argsort(hist_list, kind="stable")
    hist_list, hist_col = hist_list[order], hist_col[order]
    lists, items = [], []
    for lo in range(0, len(stage.user_ids), NEIGHBOUR_ROWS):
        hi = min(lo + NEIGHBOUR_ROWS, len(stage.user_ids))
        scores = stage.ease[lo:hi].copy()
        a, b = np.searchsorted(hist_list, [lo, hi])
        scores[hist_list[a:b] - lo, hist_col[a:b]] = -np.inf
        np.negative(scores, out=scores)
        top = np.argpartition(scores, n_nb - 1, axis=1)[:, :n_nb]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(top_scores, axis=1, kind="stable")
        top, top_scores = np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)
        has_history = (stage.rows[lo:hi] >= 0)[:, None] & np.isfinite(top_scores)
        nb_list, nb_rank = np.nonzero(has_history)
        lists.append(nb_list + lo)
        items.append(top[nb_list, nb_rank])
    nb_items = np.concatenate(items)
    if stage.ease_items is not None:
        nb_items = stage.ease_items[nb_items]
    return np.concatenate(lists), nb_items


def _history_part(stage: FirstStage) -> pd.DataFrame:
    """(list, item) of every history item, most-bought first, then most recently bought first."""
    known = np.flatnonzero(stage.rows >= 0)
    sub = stage.counts[stage.rows[known]].tocoo()
    last = last_bought_day(stage.history, stage.users, stage.counts.shape[1], only=stage.rows[known])
    last_sub = np.asarray(last[stage.rows[known][sub.row], sub.col]).ravel()
    df = pd.DataFrame({"list": known[sub.row], "item": sub.col, "count": sub.data, "last": last_sub})
    return df.sort_values(["list", "count", "last", "item"], ascending=[True, False, False, True])


def last_bought_day(
    history: BasketSet, users: pd.Index, n_items: int, only: np.ndarray | None = None
) -> sp.csr_matrix:
    """(users, items) sparse matrix of the day each user last bought each item (0 = never);
    ``only`` (positions in ``users``): only those users' rows are filled.

    One sort over (user, item) keys, then the last line of each key: numpy throughout (a pandas
    group-by and its index of tuples cost 12 s of the demo's ranker)."""
    own, codes = user_codes(history)
    if not own.equals(users):
        codes = np.where(codes >= 0, users.get_indexer(own)[codes], -1)
    m = history.matrix.tocsr()
    baskets = baskets_of(codes, only)
    sizes = np.diff(m.indptr)[baskets]
    row_of_line = np.repeat(baskets, sizes)
    user = codes[row_of_line]
    key = user.astype(np.int64) * n_items + m.indices[row_entries(m.indptr, baskets)]
    day = basket_days(history)[row_of_line]
    order = np.lexsort((day, key))  # by key, the latest day last
    key, day = key[order], day[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    key, day = key[last], day[last]
    return sp.csr_matrix((day, (key // n_items, key % n_items)), shape=(len(users), n_items))


def candidate_recall(
    lists: CandidateLists, targets: Sequence[np.ndarray], ks: Iterable[int] = (50, 100, 200)
) -> dict[str, float]:
    """Mean share of each user's target items inside the first K candidates (and the whole list).

    Every target counts, also items nobody could list (never sold before): the bound is honest.
    """
    if len(targets) != len(lists):
        raise ValueError(f"candidate_recall: {len(targets)} targets for {len(lists)} lists")
    out: dict[str, float] = {}
    sizes = np.diff(lists.indptr)
    for k in [*sorted(int(k) for k in ks), None]:
        recalls = []
        for i, t in enumerate(targets):
            if len(t) == 0:
                continue
            cand = lists.items_of(i) if k is None else lists.items_of(i)[:k]
            recalls.append(np.isin(t, cand).mean())
        out["recall@all" if k is None else f"recall@{k}"] = (
            float(np.mean(recalls)) if recalls else float("nan")
        )
    out["mean_size"] = float(sizes.mean()) if len(sizes) else 0.0
    return out


def candidate_recall_on_period(
    history: BasketSet,
    future: BasketSet,
    settings: CandidateSettings = DEFAULT_CANDIDATES,
    ks: Iterable[int] = (50, 100, 200),
) -> dict[str, float]:
    """Candidate recall for the next-basket task of ``future`` (users with history before it)."""
    from assoc_pipeline.core.recsys.tasks import next_basket_task

    task = next_basket_task(history, future)
    at_day = prediction_day(history)
    stage = first_stage(history, list(task.user_ids), at_day, settings, with_tifu=False)
    uncut = CandidateSettings(**{**settings.__dict__, "max_size": 0})
    return candidate_recall(candidate_lists(stage, uncut), task.targets, ks) | {"n_users": float(len(task))}
