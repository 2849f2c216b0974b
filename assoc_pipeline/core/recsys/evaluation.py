"""The one evaluation loop every method goes through: score a task in batches, rank, measure.

Metrics come from :mod:`assoc_pipeline.core.recsys.metrics`. Every metric is the mean over
queries. Targets that cannot be recommended (items unseen in training) still count in |targets|:
a method is not excused for the cold-start gap. Next-basket recall is also split by repeat (target
items the user bought before) and explore items, each averaged over the users who have such items
(Li et al. 2023), with the repeat ratio of the recommended lists.
"""

from __future__ import annotations

from collections.abc import Iterable

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
from assoc_pipeline.core.recsys.tasks import CompletionTask, NextBasketTask

DEFAULT_KS = (5, 10, 20)
REPORT_COLUMNS = ["method", "task", "metric", "k", "value"]


def evaluate(
    recommender: Recommender,
    task: NextBasketTask | CompletionTask,
    ks: Iterable[int] = DEFAULT_KS,
    batch_size: int = 1024,
    *,
    method: str | None = None,
) -> pd.DataFrame:
    """Score ``task`` with ``recommender`` in batches; long-form (method, task, metric, k, value).

    Candidates are the task's (items seen in training). Completion masks the partial basket's own
    items; next-basket masks nothing (repeat purchases are legitimate recommendations).
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] <= 0:
        raise ValueError(f"evaluate: ks must be positive integers, got {ks}")
    if batch_size <= 0:
        raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
    method = method or recommender.name
    is_next = isinstance(task, NextBasketTask)
    k_max = ks[-1]
    n = len(task)
    sums = {(m, k): 0.0 for m in RANKING_METRICS for k in ks}
    extra_sums: dict[tuple[str, int], float] = {}
    extra_counts: dict[tuple[str, int], int] = {}
    all_topk, all_valid = [], []
    not_candidate = ~np.asarray(task.candidates, dtype=bool)
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if is_next:
            scores = recommender.score_next_basket(list(task.user_ids[start:stop]))
        else:
            scores = recommender.score_completion(task.partial_baskets[start:stop])
        scores = np.array(scores, dtype=np.float32, copy=True)
        if scores.shape != (stop - start, task.n_items):
            raise ValueError(
                f"evaluate: {method} returned scores of shape {scores.shape}, "
                f"expected {(stop - start, task.n_items)}"
            )
        scores[:, not_candidate] = -np.inf
        if not is_next:
            mask_rows(scores, task.partial_baskets[start:stop])
        topk = top_k(scores, k_max)
        valid = np.isfinite(np.take_along_axis(scores, topk, axis=1))
        targets = task.targets[start:stop]
        hits = hits_matrix(topk, targets, valid)
        n_rel = np.array([len(t) for t in targets])
        for k in ks:
            for m, v in metric_rows(hits, n_rel, k).items():
                sums[(m, k)] += float(v.sum())
        if is_next:
            _repeat_explore(task, start, stop, topk, valid, ks, extra_sums, extra_counts)
        all_topk.append(topk)
        all_valid.append(valid)
    rows = [(method, task.name, m, k, sums[(m, k)] / n if n else float("nan")) for (m, k) in sums]
    for key, total in extra_sums.items():
        cnt = extra_counts[key]
        rows.append((method, task.name, key[0], key[1], total / cnt if cnt else float("nan")))
    topk_all = np.concatenate(all_topk) if all_topk else np.zeros((0, k_max), dtype=np.int64)
    valid_all = np.concatenate(all_valid) if all_valid else np.zeros((0, k_max), dtype=bool)
    n_cand = int((~not_candidate).sum())
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
    return out


def _repeat_explore(
    task: NextBasketTask,
    start: int,
    stop: int,
    topk: np.ndarray,
    valid: np.ndarray,
    ks: list[int],
    sums: dict[tuple[str, int], float],
    counts: dict[tuple[str, int], int],
) -> None:
    """Accumulate recall on repeat / explore targets and the repeat ratio of the lists."""
    rep_hits = hits_matrix(topk, task.repeat_targets[start:stop], valid)
    exp_hits = hits_matrix(topk, task.explore_targets[start:stop], valid)
    in_hist = hits_matrix(topk, task.history_items[start:stop], valid)
    n_rep = np.array([len(t) for t in task.repeat_targets[start:stop]], dtype=np.float64)
    n_exp = np.array([len(t) for t in task.explore_targets[start:stop]], dtype=np.float64)
    n_valid = valid.cumsum(axis=1)
    for k in ks:
        kk = min(k, topk.shape[1])
        for name, h, nr in (("recall_repeat", rep_hits, n_rep), ("recall_explore", exp_hits, n_exp)):
            has = nr > 0
            key = (name, k)
            sums[key] = sums.get(key, 0.0) + float((h[has, :kk].sum(axis=1) / nr[has]).sum())
            counts[key] = counts.get(key, 0) + int(has.sum())
        nv = n_valid[:, kk - 1] if kk else np.zeros(len(topk))
        ok = nv > 0
        key = ("repeat_ratio", k)
        sums[key] = sums.get(key, 0.0) + float((in_hist[ok, :kk].sum(axis=1) / nv[ok]).sum())
        counts[key] = counts.get(key, 0) + int(ok.sum())


def evaluate_all(
    recommenders: Iterable[Recommender],
    tasks: Iterable[NextBasketTask | CompletionTask],
    ks: Iterable[int] = DEFAULT_KS,
    batch_size: int = 1024,
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
