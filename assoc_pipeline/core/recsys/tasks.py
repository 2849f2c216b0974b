"""The evaluation tasks built on a temporal split: next basket, basket completion, cold start.

* **Next-basket** (user-level): a user qualifies when they have >= 1 basket in the history period
  and >= 1 in the future period; the target is the set of distinct items of their *first* future
  basket (later baskets would reward recommending to the same user twice). Target items the user
  bought before are *repeats*, the rest *explore* items (Li et al. 2023); both count. Scores come
  from the user's history only.
* **Basket completion** (item-to-item): every future basket with >= 2 items, including anonymous
  ones; one item is hidden, chosen with a fixed-seed RNG so every method faces the same queries,
  and the catalogue is ranked from the remaining items (which evaluation masks out).
* **Cold start**: future baskets holding a product never sold in the history period, one such
  product hidden; the candidates are the catalogue *as of the query's time* (every product whose
  first sale is at or before the query's basket), never "the products that will sell".
* Every relevant item counts (Microsoft Recommenders' convention): a target that no method can
  rank (never seen in training) is still in the denominator of recall, NDCG and hit rate, so the
  cold-start gap is not hidden. ``known_targets`` gives the "known items only" view.
* Anonymous baskets (null ``user_id``) have no history to speak of, so they serve completion only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet


def item_counts(bs: BasketSet) -> np.ndarray:
    """Number of baskets of ``bs`` holding each item (popularity, novelty, candidate mask)."""
    return np.asarray(bs.matrix.getnnz(axis=0)).ravel().astype(np.int64)


NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Catalogue:
    """When each product entered the catalogue (its first sale, ns since the epoch; ``NEVER`` for
    none): what a recommender could have known about at a query's time."""

    first_seen: np.ndarray

    @classmethod
    def of(cls, *basket_sets: BasketSet) -> Catalogue:
        """First sale of every vocabulary item over the given basket sets (one shared vocabulary)."""
        first = np.full(basket_sets[0].n_items, NEVER, dtype=np.int64)
        for bs in basket_sets:
            m = bs.matrix.tocsc()
            times = basket_times_ns(bs)[m.indices]
            cols = np.flatnonzero(np.diff(m.indptr) > 0)
            if len(cols):
                mins = np.minimum.reduceat(times, m.indptr[cols])
                first[cols] = np.minimum(first[cols], mins)
        return cls(first)

    def known_at(self, times: np.ndarray) -> np.ndarray:
        """(len(times), n_items) bool: the items on sale at each of ``times`` (first sale <= time)."""
        return self.first_seen[None, :] <= np.asarray(times, dtype=np.int64)[:, None]


def basket_times_ns(bs: BasketSet) -> np.ndarray:
    """Basket times as int64 nanoseconds (time zones dropped: one log has one zone)."""
    times = pd.to_datetime(bs.baskets["basket_time"])
    if times.dt.tz is not None:
        times = times.dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[ns]").astype(np.int64)


@dataclass(frozen=True)
class NextBasketTask:
    """Users to score and the items of their first future basket."""

    user_ids: np.ndarray  # str, one per query
    targets: list[np.ndarray]  # item indices of the first future basket (every one of them)
    repeat_targets: list[np.ndarray]  # targets the user bought in the history period
    explore_targets: list[np.ndarray]  # targets new to the user
    history_items: list[np.ndarray]  # distinct items of the user's history (for repeat ratio)
    candidates: np.ndarray  # bool (n_items,): items seen in the history period
    item_counts: np.ndarray  # baskets per item in the history period (for novelty)
    n_items: int
    name: str = field(default="next_basket")
    query_times: np.ndarray | None = None  # ns, the time of each target basket
    catalogue: Catalogue | None = None  # when set, candidates are also limited to items on sale then

    def __len__(self) -> int:
        return len(self.user_ids)

    @cached_property  # read by every method's evaluation: built once per task
    def known_targets(self) -> list[np.ndarray]:
        """Targets seen in the history period (the "known items only" view)."""
        return [t[self.candidates[t]] for t in self.targets]


@dataclass(frozen=True)
class CompletionTask:
    """Partial baskets with one hidden item each."""

    basket_ids: np.ndarray
    partial_baskets: list[np.ndarray]
    hidden: np.ndarray  # int, one hidden item per basket
    candidates: np.ndarray  # bool (n_items,): items that may be recommended
    item_counts: np.ndarray | None  # baskets per item in the history period (None: no novelty)
    n_items: int
    name: str = field(default="completion")
    query_times: np.ndarray | None = None  # ns, the time of each query basket
    catalogue: Catalogue | None = None  # when set, candidates are also limited to items on sale then
    user_ids: np.ndarray | None = None  # the customer of each query basket (None = anonymous)

    def __len__(self) -> int:
        return len(self.hidden)

    @cached_property  # read by every method's evaluation: built once per task
    def targets(self) -> list[np.ndarray]:
        return list(self.hidden.reshape(-1, 1))  # one-item views

    @cached_property
    def known_targets(self) -> list[np.ndarray]:
        return [t[self.candidates[t]] for t in self.targets]


def mask_non_candidates(
    scores: np.ndarray, task: NextBasketTask | CompletionTask, start: int, stop: int
) -> None:
    """Set to -inf, in place, the scores of ``start:stop``'s queries for items that may not be
    recommended to them. Whole columns where the answer is the same for every query (a (rows,
    items) mask of a 100k-item catalogue costs ~10x more than the columns it names): only items
    first sold between the batch's first and last query time are masked row by row."""
    scores[:, ~np.asarray(task.candidates, dtype=bool)] = -np.inf
    if task.catalogue is None or stop <= start:
        return
    if task.query_times is None:
        raise ValueError(f"{task.name}: a catalogue needs the query times")
    times = np.asarray(task.query_times[start:stop], dtype=np.int64)
    first = task.catalogue.first_seen
    scores[:, first > times.max()] = -np.inf  # on sale for none of these queries yet
    between = np.flatnonzero((first > times.min()) & (first <= times.max()))
    if len(between):
        block = scores[:, between]
        block[first[between][None, :] > times[:, None]] = -np.inf
        scores[:, between] = block


def on_sale_at_query_time(task: NextBasketTask | CompletionTask, catalogue: Catalogue):
    """The task with every item on sale at each query's time as a candidate (new products too)."""
    return dataclasses.replace(task, candidates=np.ones(task.n_items, dtype=bool), catalogue=catalogue)


def _user_item_matrix(bs: BasketSet) -> tuple[pd.Index, np.ndarray]:
    """Known users of ``bs`` and, per basket, the user row (-1 for anonymous)."""
    users = bs.baskets["user_id"]
    known = users.notna().to_numpy()
    codes = np.full(len(users), -1, dtype=np.int64)
    code_vals, uniq = pd.factorize(users[known], sort=True)
    codes[known] = code_vals
    return pd.Index(uniq.astype(str)), codes


def next_basket_task(history: BasketSet, future: BasketSet, *, drop_cold: bool = False) -> NextBasketTask:
    """Users with >= 1 basket in ``history`` and >= 1 in ``future``; target = first future basket.

    Every target item counts. ``drop_cold`` (diagnostics only, never the report's headline) removes
    target items never seen in ``history`` and users left with no target.
    """
    if history.n_items != future.n_items:
        raise ValueError("next_basket_task: history and future must share one vocabulary")
    hist_users, hist_codes = _user_item_matrix(history)
    fb = future.baskets
    known = fb["user_id"].notna().to_numpy()
    order = np.lexsort((fb["basket_id"].astype(str).to_numpy(), pd.to_datetime(fb["basket_time"]).to_numpy()))
    order = order[known[order]]
    fut_users = fb["user_id"].astype(str).to_numpy()[order]
    _, first = np.unique(fut_users, return_index=True)
    first_rows = order[np.sort(first)]
    first_users = fb["user_id"].astype(str).to_numpy()[first_rows]
    keep = hist_users.get_indexer(first_users) >= 0
    first_rows, first_users = first_rows[keep], first_users[keep]
    # sort queries by user id so tasks are reproducible regardless of basket order
    srt = np.argsort(first_users, kind="stable")
    first_rows, first_users = first_rows[srt], first_users[srt]

    # user x item history matrix (any purchase in history)
    m = history.matrix.tocsr()
    rows = hist_codes >= 0
    assign = sp.csr_matrix(
        (np.ones(int(rows.sum()), dtype=np.float32), (hist_codes[rows], np.flatnonzero(rows))),
        shape=(len(hist_users), history.n_baskets),
    )
    user_items = (assign @ m.astype(np.float32)).tocsr()
    user_items.sort_indices()
    urows = hist_users.get_indexer(first_users)

    counts = item_counts(history)
    fm = future.matrix
    targets, repeats, explores, hist_items = [], [], [], []
    keep_users = np.ones(len(first_rows), dtype=bool)
    for i, (r, u) in enumerate(zip(first_rows, urows, strict=True)):
        t = fm.indices[fm.indptr[r] : fm.indptr[r + 1]].astype(np.int64)
        if drop_cold:
            t = t[counts[t] > 0]
            if len(t) == 0:
                keep_users[i] = False
                continue
        h = user_items.indices[user_items.indptr[u] : user_items.indptr[u + 1]].astype(np.int64)
        is_rep = np.isin(t, h, assume_unique=True)
        targets.append(t)
        repeats.append(t[is_rep])
        explores.append(t[~is_rep])
        hist_items.append(h)
    return NextBasketTask(
        user_ids=first_users[keep_users].astype(object),
        targets=targets,
        repeat_targets=repeats,
        explore_targets=explores,
        history_items=hist_items,
        candidates=counts > 0,
        item_counts=counts,
        n_items=history.n_items,
        query_times=basket_times_ns(future)[first_rows[keep_users]],
    )


def basket_users(baskets: BasketSet) -> np.ndarray:
    """The customer id of each basket as an object array, None where the basket is anonymous."""
    users = baskets.baskets["user_id"]
    out = np.full(len(users), None, dtype=object)
    known = users.notna().to_numpy()
    out[known] = users[known].astype(str).to_numpy()
    return out


def completion_task(
    future: BasketSet, seed: int = 0, *, history: BasketSet | None = None, drop_cold: bool = False
) -> CompletionTask:
    """Every ``future`` basket with >= 2 items, one item hidden (fixed-seed RNG).

    With ``history`` given, candidates are the items seen there (the protocol: rank every item
    seen in training), otherwise the whole vocabulary. A query whose hidden item was never seen in
    history stays in (~10% of test baskets on Online Retail): it is a miss for every method that
    cannot rank new items. ``drop_cold`` (diagnostics only) drops those queries. The draw itself
    does not depend on ``history``, so tasks stay comparable.
    """
    m = future.matrix
    sizes = np.diff(m.indptr)
    rows = np.flatnonzero(sizes >= 2)
    rng = np.random.default_rng(seed)
    pick = (rng.random(len(rows)) * sizes[rows]).astype(np.int64)
    hidden = m.indices[m.indptr[rows] + pick].astype(np.int64)
    partial = []
    for r, p in zip(rows, pick, strict=True):
        items = m.indices[m.indptr[r] : m.indptr[r + 1]].astype(np.int64)
        partial.append(np.delete(items, p))
    counts = item_counts(history) if history is not None else None
    candidates = counts > 0 if counts is not None else np.ones(future.n_items, dtype=bool)
    if counts is not None and drop_cold:
        warm = candidates[hidden]
        rows, hidden = rows[warm], hidden[warm]
        partial = [b for b, w in zip(partial, warm, strict=True) if w]
    return CompletionTask(
        basket_ids=future.baskets["basket_id"].astype(str).to_numpy()[rows].astype(object),
        partial_baskets=partial,
        hidden=hidden,
        candidates=candidates,
        item_counts=counts,
        n_items=future.n_items,
        query_times=basket_times_ns(future)[rows],
        user_ids=basket_users(future)[rows],
    )


def cold_start_task(future: BasketSet, history: BasketSet, seed: int = 0) -> CompletionTask:
    """The cold-start slice: future baskets holding an item never seen in ``history``, with one
    such new item hidden (fixed-seed draw) and the rest of the basket as the query.

    Candidates are the catalogue as of each query's time: every product whose first sale (in
    ``history`` or ``future``) is at or before the query's basket, old and new, sold again or not.
    Products first sold later are not candidates: nobody could have recommended them then, and
    offering exactly "the products that will sell" would hand the answer to any method that
    prefers new products. Methods that learn only from purchases have never seen the hidden
    product and score ~0 here by construction; description-based ones can rank it.
    """
    if history.n_items != future.n_items:
        raise ValueError("cold_start_task: history and future must share one vocabulary")
    new = item_counts(history) == 0
    m = future.matrix
    rng = np.random.default_rng(seed)
    rows, partial, hidden = [], [], []
    for r in range(m.shape[0]):
        items = m.indices[m.indptr[r] : m.indptr[r + 1]].astype(np.int64)
        cold = items[new[items]]
        if len(items) < 2 or len(cold) == 0:
            continue
        h = int(cold[int(rng.integers(len(cold)))])
        rows.append(r)
        hidden.append(h)
        partial.append(items[items != h])
    return CompletionTask(
        basket_ids=future.baskets["basket_id"].astype(str).to_numpy()[rows].astype(object),
        partial_baskets=partial,
        hidden=np.asarray(hidden, dtype=np.int64),
        candidates=np.ones(future.n_items, dtype=bool),
        item_counts=item_counts(history),
        n_items=future.n_items,
        name="cold_start",
        query_times=basket_times_ns(future)[np.asarray(rows, dtype=np.int64)],
        catalogue=Catalogue.of(history, future),
    )


# completion queries a report / tuning scores at most (a fixed-seed sample above it; 0 = every
# query): the Online Retail year has ~7k test baskets, a 2M-basket log ~600k
MAX_COMPLETION_QUERIES = 20_000
# next-basket users a validation scores at most (tuning grids, early stopping, model selection):
# the Online Retail validation quarter has ~1.3k, a 20k-user log 20k, scored for every grid point
# and epoch. The test report scores every user.
MAX_VALIDATION_USERS = 5_000
# completion queries the hybrid's weight tuning scores at most (11 weights each): every one of the
# shipped validation quarter (3,973); at 20,000 it was half of a 100k-item hybrid_model's time
MAX_HYBRID_VALIDATION_QUERIES = 5_000


def task_subset(
    task: NextBasketTask | CompletionTask, rows: slice | np.ndarray
) -> NextBasketTask | CompletionTask:
    """The queries at ``rows`` (a slice, or indices in order) as a task of their own (the same
    candidates, counts and catalogue)."""

    def take(values):
        if isinstance(values, np.ndarray) or isinstance(rows, slice):
            return values[rows]
        return [values[i] for i in rows]

    times = None if task.query_times is None else task.query_times[rows]
    if isinstance(task, NextBasketTask):
        return dataclasses.replace(
            task,
            user_ids=task.user_ids[rows],
            targets=take(task.targets),
            repeat_targets=take(task.repeat_targets),
            explore_targets=take(task.explore_targets),
            history_items=take(task.history_items),
            query_times=times,
        )
    return dataclasses.replace(
        task,
        basket_ids=task.basket_ids[rows],
        partial_baskets=take(task.partial_baskets),
        hidden=task.hidden[rows],
        query_times=times,
        user_ids=None if task.user_ids is None else task.user_ids[rows],
    )


def task_rows(
    task: NextBasketTask | CompletionTask, start: int, stop: int
) -> NextBasketTask | CompletionTask:
    """Queries ``start:stop`` of ``task``: what a caller scores a slice at a time."""
    return task_subset(task, slice(start, stop))


def sampled_queries(
    task: NextBasketTask | CompletionTask, max_queries: int, seed: int = 0
) -> NextBasketTask | CompletionTask:
    """At most ``max_queries`` of the task's queries (a fixed-seed sample, in their order; 0 = all).

    Two million baskets hold ~600k completion queries: each method would rank 100k items for every
    one of them; a sample of tens of thousands measures the same means within the reported intervals."""
    if max_queries < 0:
        raise ValueError(f"max_queries must be >= 0 (0 = every query), got {max_queries}")
    if not max_queries or len(task) <= max_queries:
        return task
    keep = np.sort(np.random.default_rng(seed).choice(len(task), max_queries, replace=False))
    return task_subset(task, keep)


def validation_next_basket(train: BasketSet, validation: BasketSet, seed: int = 0) -> NextBasketTask:
    """``train -> validation`` next-basket queries of at most :data:`MAX_VALIDATION_USERS` users
    (a fixed-seed sample above it): the users every tuning grid, early stop and selection scores."""
    return sampled_queries(next_basket_task(train, validation), MAX_VALIDATION_USERS, seed)
