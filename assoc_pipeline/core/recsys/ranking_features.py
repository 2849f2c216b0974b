"""Stage two's input: one feature row per (user, candidate item) at a prediction time.

Why these features (../shared/notes/next-basket-ranking.md, Li et al. 2023, TIFU-KNN, ReCANet):
the gain over personal top-frequency is in ORDERING the user's repeat items, so the row says how
often and how recently the user bought the item (several windows, time and basket decays), whether
it is due again (the user's own interval for it and the overdue ratio), how the user shops (basket
count, rhythm, size), how the item behaves across users (popularity, trend, repeat rate) and what
the first-stage methods think (P-TopFreq / EASE / TIFU-KNN scores and their RANK within the user's
list: ranks carried most of the GBDT's gain). Everything is computed with numpy over all rows at
once from the baskets strictly before the prediction time.

Training lists (:func:`training_lists`): one prediction time per month start inside the period,
history before it, label = the item is in the user's first basket within ``horizon_days`` after it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.index_ranges import row_entries
from assoc_pipeline.core.recsys.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline.core.recsys.baselines.user_history import backoff, baskets_of, user_codes
from assoc_pipeline.core.recsys.candidates import (
    DEFAULT_CANDIDATES,
    CandidateLists,
    CandidateSettings,
    FirstStage,
    basket_days,
    candidate_lists,
    first_stage,
    history_before,
)
from assoc_pipeline.core.recsys.pair_rules import PairRules
from assoc_pipeline.core.recsys.ranking_list_cache import history_key, lists_for_users
from assoc_pipeline.core.recsys.ranking_lists import RankingLists
from assoc_pipeline.core.thread_lanes import thread_lanes

T = TypeVar("T")
NEVER_DAYS = 1000.0  # "days since" for something that never happened (beyond the log's span)

# feature name -> group (the groups are what an ablation removes together)
FEATURE_GROUPS: dict[str, str] = {
    **{f"log_count_{w}d": "counts" for w in (30, 91, 182, 365)},
    "log_count_all": "counts",
    "share_of_baskets": "counts",
    "log_days_since_last": "recency",
    "time_decayed": "recency",
    "basket_decayed": "recency",
    "in_last_basket": "recency",
    "has_cycle": "cycle",
    "log_user_interval": "cycle",
    "overdue": "cycle",
    "log_item_interval": "cycle",
    "item_overdue": "cycle",
    "log_user_baskets": "user",
    "log_days_since_last_basket": "user",
    "log_mean_basket_size": "user",
    "log_user_gap": "user",
    "log_user_distinct_items": "user",
    "log_popularity": "item",
    "log_recent_popularity": "item",
    "trend": "item",
    "repeat_rate": "item",
    "log_count_per_buyer": "item",
    "log_buyers": "item",
    "log_topfreq_rank": "ranks",
    "topfreq_rank_share": "ranks",
    "log_decay_rank": "ranks",
    "log_ease_rank": "ranks",
    "log_tifu_rank": "ranks",
    "ease_score": "scores",
    "tifu_score": "scores",
    "in_history": "source",
    "is_neighbour": "source",
    "is_trending": "source",
    "log_list_size": "source",
}
FEATURES: tuple[str, ...] = tuple(FEATURE_GROUPS)
# the best one-item rule into the candidate from the user's history (:mod:`pair_rules`); read only
# with ``FeatureSettings.rules`` (the ranker's ``rule_features``), after every other feature
RULE_FEATURE_GROUPS: dict[str, str] = {
    "best_rule_confidence": "rules",
    "log_best_rule_lift": "rules",
    "best_rule_support": "rules",
}
ALL_FEATURE_GROUPS: dict[str, str] = {**FEATURE_GROUPS, **RULE_FEATURE_GROUPS}


@dataclass(frozen=True)
class FeatureSettings:
    """Windows and decays of the features (days; the basket decay is per basket back)."""

    windows: tuple[int, ...] = (30, 91, 182, 365)
    half_life_days: float = 90.0
    basket_decay: float = 0.9
    rules: bool = False  # append RULE_FEATURE_GROUPS' features
    rule_min_support: float = 0.005  # of a pair, as a share of the history's baskets (the rules asset's)


def feature_names(settings: FeatureSettings) -> tuple[str, ...]:
    """The columns :func:`ranking_features` returns with these settings, in order."""
    return FEATURES + (tuple(RULE_FEATURE_GROUPS) if settings.rules else ())


@dataclass(frozen=True)
class _Purchases:
    """Per (user, item) pair bought before the prediction time: the statistics the rows look up."""

    keys: np.ndarray  # user * n_items + item, sorted
    count: np.ndarray
    windows: dict[int, np.ndarray]
    last_age: np.ndarray
    first_age: np.ndarray
    time_decayed: np.ndarray
    basket_decayed: np.ndarray
    min_baskets_back: np.ndarray


def _purchases(
    stage: FirstStage, settings: FeatureSettings, only: np.ndarray | None = None
) -> tuple[_Purchases, dict[str, np.ndarray]]:
    """Pair statistics plus per-user arrays (baskets, last / first basket age, mean size);
    ``only`` (user positions): from those users' baskets alone (every value of theirs is the same:
    a pair's lines are added in the same order)."""
    hist = stage.history
    n_items = hist.n_items
    users, codes = user_codes(hist)
    if not users.equals(stage.users):
        raise ValueError("ranking features: the first stage was built from other baskets")
    m = hist.matrix.tocsr()
    age_b = stage.at_day - basket_days(hist)
    known_b = baskets_of(codes, only)
    # baskets back from each user's last one (0 = last)
    order = np.lexsort((-age_b[known_b], codes[known_b]))
    ordered = known_b[order]
    n_per_user = np.bincount(codes[ordered], minlength=len(users))
    start = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
    pos = np.arange(len(ordered)) - start[codes[ordered]]
    back = np.zeros(len(codes), dtype=np.int64)
    back[ordered] = n_per_user[codes[ordered]] - 1 - pos

    sizes = np.diff(m.indptr)
    rows = np.repeat(known_b, sizes[known_b])
    key = codes[rows].astype(np.int64) * n_items + m.indices[row_entries(m.indptr, known_b)]
    age = age_b[rows]
    uniq, inv = np.unique(key, return_inverse=True)
    n = len(uniq)

    def per_pair(weights: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=weights, minlength=n)

    last_age = np.full(n, np.inf)
    np.minimum.at(last_age, inv, age)
    first_age = np.full(n, -np.inf)
    np.maximum.at(first_age, inv, age)
    min_back = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(min_back, inv, back[rows])
    pairs = _Purchases(
        keys=uniq,
        count=per_pair(np.ones(len(inv))),
        windows={w: per_pair((age <= w).astype(np.float64)) for w in settings.windows},
        last_age=last_age,
        first_age=first_age,
        time_decayed=per_pair(np.power(0.5, age / settings.half_life_days)),
        basket_decayed=per_pair(np.power(settings.basket_decay, back[rows].astype(np.float64))),
        min_baskets_back=min_back,
    )
    known_users = codes[known_b]
    last_basket = np.full(len(users), np.inf)
    np.minimum.at(last_basket, known_users, age_b[known_b])
    first_basket = np.full(len(users), -np.inf)
    np.maximum.at(first_basket, known_users, age_b[known_b])
    user_stats = {
        "baskets": n_per_user.astype(np.float64),
        "last_basket_age": last_basket,
        "first_basket_age": first_basket,
        "mean_size": np.bincount(known_users, weights=sizes[known_b], minlength=len(users))
        / np.maximum(n_per_user, 1),
        "distinct_items": np.bincount(uniq // n_items, minlength=len(users)).astype(np.float64),
    }
    return pairs, user_stats


_KEPT: OrderedDict[tuple, object] = OrderedDict()
_KEPT_ENTRIES = 8  # (what, history, ...) entries: per-item arrays, or a frequent-item pair block
_KEPT_LOCK = threading.Lock()


def _remembered(key: tuple, build: Callable[[], T]) -> T:
    """``build()``, computed once per key while among the last few asked for: the lists of one
    prediction time are built in blocks of users, and each block reads the same history."""
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
    if kept is None:
        kept = build()
        with _KEPT_LOCK:
            _KEPT[key] = kept
            while len(_KEPT) > _KEPT_ENTRIES:
                _KEPT.popitem(last=False)
    return kept  # type: ignore[return-value]


def _item_stats(stage: FirstStage, settings: FeatureSettings) -> dict[str, np.ndarray]:
    """Per item, over every user's purchases before the day: computed once per (history, day,
    settings), while the pairs a batch of lists reads come from its own users' baskets."""
    key = ("items", history_key(stage.history), float(stage.at_day), settings)
    kept = _remembered(key, lambda: _item_pair_stats(_purchases(stage, settings)[0], stage.history.n_items))
    recent = stage.recent.astype(np.float64)
    return {**kept, "trend": np.log1p(recent) - np.log1p(kept["pop91"] * 30.0 / 91.0)}


def _rule_features(
    stage: FirstStage, lists: CandidateLists, settings: FeatureSettings
) -> dict[str, np.ndarray]:
    """The best one-item rule from each list's user's history items into its candidate."""
    key = ("rules", history_key(stage.history), settings.rule_min_support)
    rules = _remembered(key, lambda: PairRules.of(stage.history.matrix, settings.rule_min_support))
    held = stage.counts[np.maximum(stage.rows, 0)]
    held = sp.diags((stage.rows >= 0).astype(np.float32)) @ held  # users without history hold nothing
    best = rules.best_into(sp.csr_matrix(held), lists.list_of_row, lists.items)
    return {
        "best_rule_confidence": best["confidence"],
        "log_best_rule_lift": np.log1p(best["lift"]),
        "best_rule_support": best["support"],
    }


def _item_pair_stats(pairs: _Purchases, n_items: int) -> dict[str, np.ndarray]:
    item = pairs.keys % n_items
    buyers = np.bincount(item, minlength=n_items).astype(np.float64)
    repeaters = np.bincount(item, weights=(pairs.count >= 2).astype(np.float64), minlength=n_items)
    lines = np.bincount(item, weights=pairs.count, minlength=n_items)
    cyc = pairs.count >= 2
    intervals = (pairs.first_age - pairs.last_age)[cyc] / (pairs.count[cyc] - 1)
    n_cyc = np.bincount(item[cyc], minlength=n_items)
    interval = np.bincount(item[cyc], weights=intervals, minlength=n_items) / np.maximum(n_cyc, 1)
    return {
        "buyers": buyers,
        "repeat_rate": repeaters / np.maximum(buyers, 1),
        "count_per_buyer": lines / np.maximum(buyers, 1),
        "interval": np.where(n_cyc > 0, interval, 0.0),
        "pop91": np.bincount(item, weights=pairs.windows.get(91, pairs.count), minlength=n_items),
    }


def within_list_rank(values: np.ndarray, list_of_row: np.ndarray) -> np.ndarray:
    """0-based rank of each row's value inside its own list (0 = highest; ties keep list order)."""
    order = np.lexsort((np.arange(len(values)), -values, list_of_row))
    starts = np.searchsorted(list_of_row[order], list_of_row[order], side="left")
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values)) - starts
    return rank


def ranking_features(
    stage: FirstStage, lists: CandidateLists, settings: FeatureSettings = FeatureSettings()
) -> np.ndarray:
    """(n_rows, len(feature_names(settings))) float32, rows in the order of ``lists`` (list by list)."""
    pairs, users = _purchases(stage, settings, only=np.unique(stage.rows[stage.rows >= 0]))
    items_stats = _item_stats(stage, settings)
    n_items = stage.history.n_items
    lor = lists.list_of_row
    item = lists.items
    urow = stage.rows[lor]
    key = np.where(urow >= 0, urow.astype(np.int64) * n_items + item, -1)
    pos = np.clip(np.searchsorted(pairs.keys, key), 0, max(len(pairs.keys) - 1, 0))
    found = (key >= 0) & (pairs.keys[pos] == key) if len(pairs.keys) else np.zeros(len(key), bool)

    def pair(values: np.ndarray, missing: float = 0.0) -> np.ndarray:
        return np.where(found, values[pos] if len(values) else missing, missing)

    def user(values: np.ndarray, missing: float = 0.0) -> np.ndarray:
        return np.where(urow >= 0, values[np.maximum(urow, 0)] if len(values) else missing, missing)

    count = pair(pairs.count)
    n_baskets = user(users["baskets"])
    last_age = pair(pairs.last_age, NEVER_DAYS)
    first_age = pair(pairs.first_age, NEVER_DAYS)
    has_cycle = count >= 2
    interval = np.where(has_cycle, (first_age - last_age) / np.maximum(count - 1, 1), 0.0)
    item_interval = items_stats["interval"][item]
    last_basket = user(users["last_basket_age"], NEVER_DAYS)
    first_basket = user(users["first_basket_age"], NEVER_DAYS)
    user_gap = np.where(n_baskets >= 2, (first_basket - last_basket) / np.maximum(n_baskets - 1, 1), 0.0)
    topfreq = count + backoff(stage.popularity)[item]
    decayed = pair(pairs.time_decayed)
    ease = stage.ease_at(lor, item)
    tifu = stage.tifu_at(lor, item)
    sizes = np.diff(lists.indptr)
    n_hist = np.bincount(lor, weights=(count > 0).astype(np.float64), minlength=len(lists))[lor]
    topfreq_rank = within_list_rank(topfreq, lor)
    cols = {
        **{f"log_count_{w}d": np.log1p(pair(pairs.windows[w])) for w in settings.windows},
        "log_count_all": np.log1p(count),
        "share_of_baskets": count / np.maximum(n_baskets, 1),
        "log_days_since_last": np.log1p(last_age),
        "time_decayed": decayed,
        "basket_decayed": pair(pairs.basket_decayed),
        "in_last_basket": (pair(pairs.min_baskets_back, -1) == 0).astype(np.float64),
        "has_cycle": has_cycle.astype(np.float64),
        "log_user_interval": np.log1p(interval),
        "overdue": np.where(has_cycle, np.clip(last_age / np.maximum(interval, 1.0), 0, 10), 0.0),
        "log_item_interval": np.log1p(item_interval),
        "item_overdue": np.where(
            (count > 0) & (item_interval > 0), np.clip(last_age / np.maximum(item_interval, 1.0), 0, 10), 0.0
        ),
        "log_user_baskets": np.log1p(n_baskets),
        "log_days_since_last_basket": np.log1p(last_basket),
        "log_mean_basket_size": np.log1p(user(users["mean_size"])),
        "log_user_gap": np.log1p(user_gap),
        "log_user_distinct_items": np.log1p(user(users["distinct_items"])),
        "log_popularity": np.log1p(stage.popularity[item]),
        "log_recent_popularity": np.log1p(stage.recent[item]),
        "trend": items_stats["trend"][item],
        "repeat_rate": items_stats["repeat_rate"][item],
        "log_count_per_buyer": np.log1p(items_stats["count_per_buyer"][item]),
        "log_buyers": np.log1p(items_stats["buyers"][item]),
        "log_topfreq_rank": np.log1p(topfreq_rank),
        "topfreq_rank_share": topfreq_rank / np.maximum(n_hist, 1),
        "log_decay_rank": np.log1p(within_list_rank(decayed + 1e-6 * topfreq, lor)),
        "log_ease_rank": np.log1p(within_list_rank(ease, lor)),
        "log_tifu_rank": np.log1p(within_list_rank(tifu, lor)),
        "ease_score": ease,
        "tifu_score": tifu,
        "in_history": (count > 0).astype(np.float64),
        "is_neighbour": (lists.source == 1).astype(np.float64),
        "is_trending": (lists.source == 2).astype(np.float64),
        "log_list_size": np.log1p(sizes[lor]),
    }
    if settings.rules:
        cols.update(_rule_features(stage, lists, settings))
    return np.stack([cols[name] for name in feature_names(settings)], axis=1).astype(np.float32)


FIRST_STAGE_CELLS = 1 << 27  # users x EASE-block cells per first stage: 512 MB of float32 scores


def scoring_lists(
    history: BasketSet,
    user_ids: Sequence[str],
    at_day: float,
    candidates: CandidateSettings = DEFAULT_CANDIDATES,
    features: FeatureSettings = FeatureSettings(),
    *,
    tifu: TIFUKNNRecommender | None = None,
) -> RankingLists:
    """Candidate lists and their features for ``user_ids`` from ``history`` (before ``at_day``);
    ``tifu``: TIFU-KNN already fitted on ``history``, if any.

    A user asked for before with the same history, day and settings is not built again
    (:mod:`~assoc_pipeline.core.recsys.ranking_list_cache`)."""
    key = (history_key(history), float(at_day), candidates, features)
    return lists_for_users(
        key, user_ids, lambda users: _build_lists(history, users, at_day, candidates, features, tifu=tifu)
    )


def _build_lists(
    history: BasketSet,
    user_ids: Sequence[str],
    at_day: float,
    candidates: CandidateSettings,
    features: FeatureSettings,
    *,
    tifu: TIFUKNNRecommender | None = None,
) -> RankingLists:
    """The lists of :func:`scoring_lists`, built.

    The first stage holds dense (users x EASE block) scores: above :data:`FIRST_STAGE_CELLS` cells
    the users go in blocks; every feature reads the whole history, so the lists are the same."""
    block = max(1, FIRST_STAGE_CELLS // max(min(history.n_items, candidates.ease_max_items), 1))
    if len(user_ids) > block:
        tifu = tifu if tifu is not None else TIFUKNNRecommender().fit(history, predict=False)
        parts = [
            _build_lists(history, user_ids[s : s + block], at_day, candidates, features, tifu=tifu)
            for s in range(0, len(user_ids), block)
        ]
        return RankingLists.concat(parts, len(feature_names(features)))
    stage = first_stage(history, user_ids, at_day, candidates, tifu=tifu)
    lists = candidate_lists(stage, candidates)
    x = ranking_features(stage, lists, features)
    return RankingLists(
        x,
        lists.items,
        lists.indptr,
        np.zeros(len(lists.items), np.float32),
        stage.user_ids,
        np.full(len(lists), at_day),
    )


def month_starts(bs: BasketSet, min_history_days: float = 28.0) -> list[float]:
    """Every month start (in days) after ``min_history_days`` of data and before the last basket."""
    days = basket_days(bs)
    if len(days) == 0:
        return []
    first, last = pd.Timestamp(days.min() * 86400, unit="s"), pd.Timestamp(days.max() * 86400, unit="s")
    starts = pd.date_range(first.normalize() + pd.Timedelta(days=min_history_days), last, freq="MS")
    return [float(s.value / 86400e9) for s in starts]


def prediction_times(bs: BasketSet, per_month: int = 1, min_times: int = 3) -> list[float]:
    """Month starts (:func:`month_starts`), plus ``per_month - 1`` evenly spaced days inside each
    month (more lists, other history lengths); a log too short for ``min_times`` month starts (a
    two-month sample) gets ``min_times`` days spread evenly over the second half of its span."""
    starts = month_starts(bs)
    if len(starts) >= min_times:
        last = float(basket_days(bs).max())
        extra = [s + 30.0 * j / per_month for s in starts for j in range(1, per_month)]
        return sorted(starts + [t for t in extra if t < last])
    days = basket_days(bs)
    if len(days) == 0:
        return []
    lo, hi = float(days.min()), float(days.max())
    return [float(np.floor(lo + (hi - lo) * f)) for f in np.linspace(0.5, 0.9, min_times)]


def training_lists(
    bs: BasketSet,
    times: Sequence[float] | None = None,
    horizon_days: float = 91.0,
    candidates: CandidateSettings = DEFAULT_CANDIDATES,
    features: FeatureSettings = FeatureSettings(),
    *,
    per_month: int = 1,
    drop_without_positive: bool = True,
    workers: int = 1,
    max_lists: int = 0,
    seed: int = 0,
) -> RankingLists:
    """Labelled lists: at each time t (default: :func:`prediction_times`), history = baskets before t, label =
    the item is in the user's first basket in [t, t + horizon_days) within ``bs``. ``workers``
    prediction times are built at a time (threads; the same lists, in the order of the times).

    ``max_lists`` (0: no cap) bounds the lists: a time with more users than its even share of it
    keeps a uniform sample of them (``seed``), drawn before any list is built. Why: the lists grow
    with users x times (20k users x 13 times x 200 candidates x 37 features is ~8 GB), while a
    ranker of ~40 features learns as well from tens of thousands of lists."""
    times = prediction_times(bs, per_month) if times is None else list(times)
    per_time = -(-max_lists // max(len(times), 1)) if max_lists > 0 else 0
    days = basket_days(bs)
    users = bs.baskets["user_id"]

    def lists_at(i: int) -> RankingLists | None:
        t = times[i]
        hist = history_before(bs, t)
        if hist.n_baskets == 0:
            return None
        future = np.flatnonzero((days >= t) & (days < t + horizon_days) & users.notna().to_numpy())
        if len(future) == 0:
            return None
        future = future[np.lexsort((future, days[future]))]
        fut_users = users.iloc[future].astype(str).to_numpy()
        _, first = np.unique(fut_users, return_index=True)
        rows = future[first]
        hist_users, _ = user_codes(hist)
        has_hist = hist_users.get_indexer(pd.Index(fut_users[first], dtype=object)) >= 0
        rows, ids = rows[has_hist], fut_users[first][has_hist]
        if len(rows) == 0:
            return None
        if 0 < per_time < len(rows):  # nested: a smaller share (a refit's, with more times) is a
            # subset of a larger one, so the refit finds its lists in the list cache
            keep = np.sort(np.random.default_rng([seed, i]).permutation(len(rows))[:per_time])
            rows, ids = rows[keep], ids[keep]
        part = scoring_lists(hist, list(ids), t, candidates, features)
        m = bs.matrix
        target_keys = np.concatenate(
            [i * bs.n_items + m.indices[m.indptr[r] : m.indptr[r + 1]] for i, r in enumerate(rows)]
        )
        row_keys = part.list_of_row.astype(np.int64) * bs.n_items + part.items
        part.labels = np.isin(row_keys, target_keys).astype(np.float32)
        if drop_without_positive:
            part = part.take(np.flatnonzero(np.bincount(part.list_of_row, part.labels, len(part)) > 0))
        return part

    with thread_lanes(workers) as run:
        parts = [part for part in run(lists_at, range(len(times))) if part is not None]
    return RankingLists.concat(parts, len(feature_names(features)))
