"""Ranking metrics as pure functions over score rows and target item sets.

Definitions follow Microsoft Recommenders' ``python_evaluation.py`` (binary relevance), written
as vectorised numpy over a top-K index matrix so thousands of queries cost milliseconds:

* precision@k = hits in the top k / k (k, not the list length, as there);
* recall@k    = hits in the top k / |targets|;
* F1@k        = harmonic mean of precision@k and recall@k per query;
* NDCG@k      = DCG / IDCG with gain 1 and discount 1/log(1 + rank); IDCG over
  min(|targets|, k) ideal hits (the log base cancels, so log2 here = ``loge`` there);
* MAP@k       = sum over hit ranks r of (hits up to r / r), divided by min(|targets|, k)
  (their ``map_at_k``);
* hit rate@k  = 1 if any target is in the top k (not in that module; the usual definition);
* MRR@k       = 1 / rank of the first hit within the top k, else 0 (likewise);
* catalogue coverage = distinct recommended items / candidate items (their ``catalog_coverage``);
* novelty     = mean over all recommended items of -log2(count_i / n_interactions), counts =
  baskets holding item i in the history period (their ``novelty``; not bounded by 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RANKING_METRICS = ("precision", "recall", "f1", "ndcg", "hit_rate", "map", "mrr")
FEW_ROWS = 16  # up to this many rows, best_columns uses argpartition without torch


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, min(k, n_items)) item indices, best first; -inf/NaN scores are never preferred.

    Within the top k, ties are broken by lower item index; a tie straddling the k-th place is
    resolved deterministically by ``argpartition`` (:func:`best_columns`).
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(f"top_k: scores must be 2-D (queries x items), got shape {scores.shape}")
    if np.isnan(scores).any():  # a copy only then: a 100k-item validation block is 256 MB
        scores = np.where(np.isnan(scores), -np.inf, scores)
    n_items = scores.shape[1]
    kk = min(k, n_items)
    if kk <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    if kk < n_items:
        part = best_columns(scores, kk)
    else:
        part = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=-1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def best_columns(scores: np.ndarray, kk: int) -> np.ndarray:
    """(n, kk) columns of each row's kk highest scores, unordered: the set ``argpartition`` picks
    (``np.argpartition(-scores, kk - 1, axis=1)[:, :kk]``); scores of any float dtype, no NaN.

    Why not ``argpartition`` alone: it is ~10x slower than ``torch.topk`` on CPU at k = 10 (2.5x at
    k = 300, TIFU-KNN's neighbours), and ranking every method's queries was a quarter of the demo's
    evaluation. ``torch.topk`` breaks ties its own
    way, but the set of the kk best is unique unless a tie straddles the kk-th place; those rows
    (a catalogue row with fewer than kk finite scores, tied counts) go through ``argpartition``,
    so every row gets exactly the columns it got before. A few rows (a command-line or a served
    query) go through ``argpartition`` directly: microseconds there, while importing torch for
    them costs a `recommend` command about 1.5 s.
    """
    if scores.shape[0] <= FEW_ROWS:
        return np.argpartition(-scores, kk - 1, axis=1)[:, :kk].astype(np.int64)
    import torch

    t = torch.from_numpy(np.ascontiguousarray(scores))
    # the kk+1 best, in order: a tie straddles the kk-th place exactly when the kk-th and the
    # (kk+1)-th best are equal (counting every score >= the kk-th was a third of a 100k-item report)
    values, columns = torch.topk(t, kk + 1, dim=1, sorted=True)
    straddles = np.flatnonzero((values[:, kk - 1] == values[:, kk]).numpy())
    part = columns[:, :kk].numpy().astype(np.int64)
    if len(straddles):
        part[straddles] = np.argpartition(-scores[straddles], kk - 1, axis=1)[:, :kk]
    return part


def hits_matrix(
    topk: np.ndarray, targets: Sequence[np.ndarray], valid: np.ndarray | None = None
) -> np.ndarray:
    """(n, K) bool: is the item at each rank a target? ``valid`` (n, K) marks real recommendations.

    One vectorised membership test over (query, item) keys instead of a loop over queries.
    """
    n, kk = topk.shape
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    if n == 0 or kk == 0 or lengths.sum() == 0:
        return np.zeros((n, kk), dtype=bool)
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets])
    width = int(max(topk.max(initial=0), flat.max())) + 1  # one max, not one per query (2.7 s a demo)
    target_keys = np.repeat(np.arange(n, dtype=np.int64), lengths) * width + flat
    keys = np.arange(n, dtype=np.int64)[:, None] * width + topk
    hits = np.isin(keys, target_keys)
    if valid is not None:
        hits &= valid
    return hits


def metric_rows(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-query precision, recall, F1, NDCG, hit rate, MAP and MRR at ``k`` from a hits matrix."""
    h = hits[:, :k].astype(np.float64)
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    ranks = np.arange(1, h.shape[1] + 1, dtype=np.float64)
    n_hits = h.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(n_rel > 0, n_hits / n_rel, 0.0)
        discount = 1.0 / np.log2(ranks + 1.0)
        dcg = (h * discount).sum(axis=1)
        ideal_n = np.minimum(n_rel, k).astype(np.int64)
        cum_disc = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1.0))])
        idcg = cum_disc[ideal_n]
        ndcg = np.where(idcg > 0, dcg / idcg, 0.0)
        prec_at_hit = np.cumsum(h, axis=1) / ranks
        ap = np.where(ideal_n > 0, (prec_at_hit * h).sum(axis=1) / np.maximum(ideal_n, 1), 0.0)
    any_hit = h.any(axis=1)
    first = np.argmax(h, axis=1)
    mrr = np.where(any_hit, 1.0 / (first + 1.0), 0.0)
    precision = n_hits / k
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "ndcg": ndcg,
        "hit_rate": any_hit.astype(np.float64),
        "map": ap,
        "mrr": mrr,
    }


def catalog_coverage(topk: np.ndarray, n_candidates: int, valid: np.ndarray | None = None) -> float:
    """Share of the candidate catalogue that appears in at least one top-K list."""
    items = topk[valid] if valid is not None else topk.ravel()
    return float(len(np.unique(items)) / max(n_candidates, 1))


def novelty(topk: np.ndarray, item_counts: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean self-information -log2(p_i) of recommended items, p_i = count_i / sum(counts)."""
    items = topk[valid] if valid is not None else topk.ravel()
    counts = np.asarray(item_counts, dtype=np.float64)
    total = counts.sum()
    if len(items) == 0 or total <= 0:
        return float("nan")
    c = counts[items]
    info = np.where(c > 0, -np.log2(np.where(c > 0, c, 1.0) / total), 0.0)  # unseen items: as MS, 0
    return float(info.mean())


def mean_metrics_at_k(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    k: int = 10,
    *,
    exclude: Sequence[np.ndarray] | None = None,
    owned: bool = False,
) -> dict[str, float]:
    """Mean precision, recall, NDCG, hit rate, MAP and MRR @k of score rows against target item
    sets, from one ranking pass (early stopping in training loops reads several of them).

    ``exclude`` (per row item indices, e.g. a partial basket) is masked before ranking, in a copy
    (``scores`` is never changed); ``owned=True``: the caller's own float32 copy, masked in place.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if exclude is not None:
        scores = scores if owned else scores.copy()
        mask_rows(scores, exclude)
    topk = top_k(scores, k)
    valid = np.isfinite(np.take_along_axis(scores, topk, axis=1))
    hits = hits_matrix(topk, targets, valid)
    n_rel = np.array([len(t) for t in targets])
    return {name: float(values.mean()) for name, values in metric_rows(hits, n_rel, k).items()}


def ndcg_at_k(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    k: int = 10,
    *,
    exclude: Sequence[np.ndarray] | None = None,
) -> float:
    """Mean NDCG@k of score rows against target item sets (see :func:`mean_metrics_at_k`)."""
    return mean_metrics_at_k(scores, targets, k, exclude=exclude)["ndcg"]


def recall_at_k(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    k: int = 10,
    *,
    exclude: Sequence[np.ndarray] | None = None,
) -> float:
    """Mean recall@k of score rows against target item sets (see :func:`mean_metrics_at_k`)."""
    return mean_metrics_at_k(scores, targets, k, exclude=exclude)["recall"]


def mask_rows(scores: np.ndarray, items: Sequence[np.ndarray]) -> None:
    rows = np.repeat(np.arange(len(items)), [len(b) for b in items])
    if len(rows):
        scores[rows, np.concatenate([np.asarray(b, dtype=np.int64) for b in items])] = -np.inf
