"""The one evaluation loop every method goes through: score a task in batches, rank, measure.

Metrics come from :mod:`assoc_pipeline.core.recsys.metrics`. Every metric is the mean over
queries. Targets that cannot be recommended (items unseen in training) still count in |targets|:
a method is not excused for the cold-start gap. Next-basket recall is also split by repeat (target
items the user bought before) and explore items, each averaged over the users who have such items
(Li et al. 2023), with the repeat ratio of the recommended lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from assoc_pipeline.core.recsys.metrics import (
    RANKING_METRICS,
    catalog_coverage,
    hits_matrix,
    mask_rows,
    metric_rows,
    novelty,
    top_k,
)
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.tasks import CompletionTask, NextBasketTask, mask_non_candidates

DEFAULT_KS = (5, 10, 20)
REPORT_COLUMNS = ["method", "task", "metric", "k", "value"]
# score cells (queries x items) per batch at most: 1,024 queries up to 32k items; a 59k-item
# catalogue gets 568 (every per-batch block of a method is then ~130 MB, not 240)
BATCH_CELLS = 1 << 25


def batch_rows(n_items: int, largest: int = 1024) -> int:
    """Queries scored at a time for a catalogue of ``n_items``: the figures do not depend on it."""
    return max(64, min(largest, BATCH_CELLS // max(n_items, 1)))


def score_completion_queries(
    recommender: Recommender, task: CompletionTask, start: int, stop: int
) -> np.ndarray:
    """Scores of completion queries ``start:stop``; a recommender that reads the customer's history
    (``personal_completion``) gets each query basket's customer too."""
    parts = task.partial_baskets[start:stop]
    if recommender.personal_completion and task.user_ids is not None:
        return recommender.score_completion(parts, user_ids=list(task.user_ids[start:stop]))
    return recommender.score_completion(parts)


def evaluate(
    recommender: Recommender,
    task: NextBasketTask | CompletionTask,
    ks: Iterable[int] = DEFAULT_KS,
    batch_size: int = 0,
    *,
    method: str | None = None,
) -> pd.DataFrame:
    """Score ``task`` with ``recommender`` in batches; long-form (method, task, metric, k, value).

    Each query is scored once and ranked once for the largest K; every smaller K reads the same
    ranking. Candidates are the task's (items seen in training, or the catalogue at the query's
    time). Completion masks the partial basket's own items; next-basket masks nothing (repeat
    purchases are legitimate recommendations). Every target counts; ``recall_known_items`` is
    recall over the targets seen in training only (a diagnostic, never the headline).

    ``out.attrs["per_query"]`` holds each query's value of every ranking metric at every K (for
    paired bootstrap intervals); ``out.attrs["n_queries"]`` the number of queries. ``batch_size``:
    queries scored at a time (0: :func:`batch_rows` of the catalogue).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] <= 0:
        raise ValueError(f"evaluate: ks must be positive integers, got {ks}")
    if batch_size < 0:
        raise ValueError(f"evaluate: batch_size must be positive (0: by catalogue size), got {batch_size}")
    batch_size = batch_size or batch_rows(task.n_items)
    method = method or recommender.name
    is_next = isinstance(task, NextBasketTask)
    k_max = ks[-1]
    n = len(task)
    per_query: dict[tuple[str, int], list[np.ndarray]] = {(m, k): [] for m in RANKING_METRICS for k in ks}
    extra = _Means()
    all_topk, all_valid = [], []
    known_targets = task.known_targets
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if is_next:
            scores = recommender.score_next_basket(list(task.user_ids[start:stop]))
        else:
            scores = score_completion_queries(recommender, task, start, stop)
        scores = np.array(scores, dtype=np.float32, copy=True)
        if scores.shape != (stop - start, task.n_items):
            raise ValueError(
                f"evaluate: {method} returned scores of shape {scores.shape}, "
                f"expected {(stop - start, task.n_items)}"
            )
        mask_non_candidates(scores, task, start, stop)
        if not is_next:
            mask_rows(scores, task.partial_baskets[start:stop])
        topk = top_k(scores, k_max)
        valid = np.isfinite(np.take_along_axis(scores, topk, axis=1))
        targets = task.targets[start:stop]
        hits = hits_matrix(topk, targets, valid)
        n_rel = np.array([len(t) for t in targets])
        for k in ks:
            for m, v in metric_rows(hits, n_rel, k).items():
                per_query[(m, k)].append(v)
        extra.subset_recall("recall_known_items", topk, valid, known_targets[start:stop], ks)
        if is_next:
            extra.subset_recall("recall_repeat", topk, valid, task.repeat_targets[start:stop], ks)
            extra.subset_recall("recall_explore", topk, valid, task.explore_targets[start:stop], ks)
            extra.repeat_ratio(topk, valid, task.history_items[start:stop], ks)
        all_topk.append(topk)
        all_valid.append(valid)
    values = {key: np.concatenate(v) if v else np.zeros(0) for key, v in per_query.items()}
    rows = [(method, task.name, m, k, float(v.mean()) if n else float("nan")) for (m, k), v in values.items()]
    rows += [(method, task.name, m, k, v) for (m, k), v in extra.means().items()]
    topk_all = np.concatenate(all_topk) if all_topk else np.zeros((0, k_max), dtype=np.int64)
    valid_all = np.concatenate(all_valid) if all_valid else np.zeros((0, k_max), dtype=bool)
    n_cand = int(np.asarray(task.candidates, dtype=bool).sum())
    for k in ks:
        rows.append(
            (method, task.name, "coverage", k, catalog_coverage(topk_all[:, :k], n_cand, valid_all[:, :k]))
        )
        if task.item_counts is not None:
            rows.append(
                (
                    method,
                    task.name,
                    "novelty",
                    k,
                    novelty(topk_all[:, :k], task.item_counts, valid_all[:, :k]),
                )
            )
    out = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    out["k"] = out["k"].astype(np.int64)
    out.attrs["n_queries"] = n
    out.attrs["per_query"] = {f"{m}@{k}": v for (m, k), v in values.items()}
    return out


class _Means:
    """Running means of per-query values, over the queries that have them (repeat, explore...)."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, int], float] = {}
        self.counts: dict[tuple[str, int], int] = {}

    def add(self, key: tuple[str, int], values: np.ndarray) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + float(values.sum())
        self.counts[key] = self.counts.get(key, 0) + len(values)

    def means(self) -> dict[tuple[str, int], float]:
        return {k: (s / self.counts[k] if self.counts[k] else float("nan")) for k, s in self.sums.items()}

    def subset_recall(
        self, name: str, topk: np.ndarray, valid: np.ndarray, subset: Sequence[np.ndarray], ks: list[int]
    ) -> None:
        """Recall over a subset of each query's targets, for the queries that have any."""
        hits = hits_matrix(topk, subset, valid)
        n_sub = np.array([len(t) for t in subset], dtype=np.float64)
        has = n_sub > 0
        for k in ks:
            self.add((name, k), hits[has, : min(k, topk.shape[1])].sum(axis=1) / n_sub[has])

    def repeat_ratio(
        self, topk: np.ndarray, valid: np.ndarray, history_items: Sequence[np.ndarray], ks: list[int]
    ) -> None:
        """The share of each recommended list that the user bought before."""
        in_hist = hits_matrix(topk, history_items, valid)
        n_valid = valid.cumsum(axis=1)
        for k in ks:
            kk = min(k, topk.shape[1])
            nv = n_valid[:, kk - 1] if kk else np.zeros(len(topk))
            ok = nv > 0
            self.add(("repeat_ratio", k), in_hist[ok, :kk].sum(axis=1) / nv[ok])


def evaluate_all(
    recommenders: Iterable[Recommender],
    tasks: Iterable[NextBasketTask | CompletionTask],
    ks: Iterable[int] = DEFAULT_KS,
    batch_size: int = 0,
) -> pd.DataFrame:
    """Every recommender on every task it supports, one long-form table."""
    tasks = list(tasks)
    ks = tuple(ks)
    frames = []
    for rec in recommenders:
        for task in tasks:
            if isinstance(task, NextBasketTask) and not rec.supports_next_basket:
                continue
            if isinstance(task, CompletionTask) and not rec.supports_completion:
                continue
            frames.append(evaluate(rec, task, ks, batch_size))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REPORT_COLUMNS)
