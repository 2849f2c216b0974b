"""How good and how safe synthetic baskets are: fidelity, privacy and utility figures.

Why these: a retailer shares synthetic baskets only if they (1) reproduce what analysts use —
item popularity, pair co-occurrence, basket sizes, the association rules — and (2) do not copy
real customers' baskets: no exact copies, and no closer to the training baskets than fresh real
baskets (a holdout) are. Utility asks whether adding them to real data helps or hurts a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import stats

from assoc_pipeline.core.data.baskets import BasketSet


def _matrix(x: BasketSet | sp.spmatrix) -> sp.csr_matrix:
    m = x.matrix if isinstance(x, BasketSet) else x
    return sp.csr_matrix(m, dtype=np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0, 0.0
    return float(stats.pearsonr(a, b)[0]), float(stats.spearmanr(a, b)[0])


def item_frequency_correlation(
    real: BasketSet | sp.spmatrix, synthetic: BasketSet | sp.spmatrix
) -> dict[str, float]:
    """Pearson / Spearman correlation of item supports (share of baskets holding each item)."""
    r, s = _matrix(real), _matrix(synthetic)
    fr = np.asarray(r.sum(0)).ravel() / max(r.shape[0], 1)
    fs = np.asarray(s.sum(0)).ravel() / max(s.shape[0], 1)
    p, sp_ = _corr(fr, fs)
    return {"item_freq_pearson": p, "item_freq_spearman": sp_}


def pair_cooccurrence_correlation(
    real: BasketSet | sp.spmatrix, synthetic: BasketSet | sp.spmatrix, top_pairs: int = 500
) -> dict[str, float]:
    """Correlation of pair supports over the union of each side's ``top_pairs`` most frequent pairs."""
    r, s = _matrix(real), _matrix(synthetic)
    cr = sp.triu((r.T @ r) / max(r.shape[0], 1), k=1).tocoo()
    cs = sp.triu((s.T @ s) / max(s.shape[0], 1), k=1).tocsr()
    crr = cr.tocsr()
    scs = cs.tocoo()
    top_r = np.argsort(-cr.data)[:top_pairs]
    top_s = np.argsort(-scs.data)[:top_pairs]
    pairs = set(zip(cr.row[top_r].tolist(), cr.col[top_r].tolist(), strict=True))
    pairs |= set(zip(scs.row[top_s].tolist(), scs.col[top_s].tolist(), strict=True))
    if not pairs:
        return {"pair_cooc_pearson": 0.0, "pair_cooc_spearman": 0.0, "n_pairs": 0}
    i, j = (np.array(x) for x in zip(*sorted(pairs), strict=True))
    a = np.asarray(crr[i, j]).ravel()
    b = np.asarray(cs[i, j]).ravel()
    p, sp_ = _corr(a, b)
    return {"pair_cooc_pearson": p, "pair_cooc_spearman": sp_, "n_pairs": len(pairs)}


def basket_size_distance(
    real: BasketSet | sp.spmatrix, synthetic: BasketSet | sp.spmatrix
) -> dict[str, float]:
    """Wasserstein-1 distance between basket-size distributions (in items), plus both means."""
    r, s = _matrix(real), _matrix(synthetic)
    sr, ss = np.diff(r.indptr), np.diff(s.indptr)
    return {
        "basket_size_wasserstein": float(stats.wasserstein_distance(sr, ss)),
        "basket_size_mean_real": float(sr.mean()) if len(sr) else 0.0,
        "basket_size_mean_synthetic": float(ss.mean()) if len(ss) else 0.0,
    }


def rule_overlap(
    real: BasketSet | sp.spmatrix,
    synthetic: BasketSet | sp.spmatrix,
    min_support: float = 0.01,
    min_confidence: float = 0.3,
    max_len: int = 2,
) -> dict[str, float]:
    """Jaccard overlap of the rules (antecedent -> consequent) mined from each side."""
    from assoc_pipeline.core.mining import derive_rules, mine_itemsets

    def rules(m: sp.csr_matrix) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
        its = mine_itemsets(m.astype(bool), min_support, max_len=max_len)
        df = derive_rules(its, min_confidence)
        return {(tuple(a), tuple(c)) for a, c in zip(df["antecedent"], df["consequent"], strict=True)}

    rr, rs = rules(_matrix(real)), rules(_matrix(synthetic))
    union = rr | rs
    return {
        "rules_jaccard": len(rr & rs) / len(union) if union else 1.0,
        "rules_real": len(rr),
        "rules_synthetic": len(rs),
        "rules_common": len(rr & rs),
    }


def fidelity_report(
    real: BasketSet,
    synthetic: BasketSet,
    *,
    top_pairs: int = 500,
    min_support: float = 0.01,
    min_confidence: float = 0.3,
) -> dict[str, float]:
    """All fidelity figures in one flat dict (asset metadata / MLflow metrics)."""
    out: dict[str, float] = {}
    out.update(item_frequency_correlation(real, synthetic))
    out.update(pair_cooccurrence_correlation(real, synthetic, top_pairs))
    out.update(basket_size_distance(real, synthetic))
    out.update(rule_overlap(real, synthetic, min_support, min_confidence))
    return out


def _set_keys(m: sp.csr_matrix) -> set[bytes]:
    return {m.indices[m.indptr[i] : m.indptr[i + 1]].astype(np.int64).tobytes() for i in range(m.shape[0])}


def exact_match_share(synthetic: BasketSet | sp.spmatrix, train: BasketSet | sp.spmatrix) -> float:
    """Share of synthetic baskets identical (same item set) to some training basket."""
    s, t = _matrix(synthetic), _matrix(train)
    s.sort_indices()
    t.sort_indices()
    keys = _set_keys(t)
    n = s.shape[0]
    hits = sum(s.indices[s.indptr[i] : s.indptr[i + 1]].astype(np.int64).tobytes() in keys for i in range(n))
    return hits / n if n else 0.0


def distance_to_closest_record(
    queries: BasketSet | sp.spmatrix, reference: BasketSet | sp.spmatrix, chunk: int = 512
) -> np.ndarray:
    """Per query basket, the Jaccard distance to its nearest reference basket (0 = an exact copy)."""
    q, r = _matrix(queries), _matrix(reference)
    q.data[:] = 1.0
    r.data[:] = 1.0
    qs, rs = np.diff(q.indptr).astype(np.float32), np.diff(r.indptr).astype(np.float32)
    rt = r.T.tocsc()
    out = np.empty(q.shape[0], dtype=np.float32)
    for s in range(0, q.shape[0], chunk):
        inter = (q[s : s + chunk] @ rt).toarray()
        union = qs[s : s + chunk, None] + rs[None, :] - inter
        sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        out[s : s + chunk] = 1.0 - sim.max(axis=1)
    return out


def privacy_report(
    synthetic: BasketSet, train: BasketSet, holdout: BasketSet, max_queries: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Exact-copy share and distance-to-closest-record (DCR) of synthetic vs a real holdout baseline.

    ``dcr_ratio`` = median synthetic DCR / median holdout DCR: ~1 or more means synthetic baskets are
    no closer to training customers than unseen real baskets are; well below 1 suggests memorisation.
    """
    rng = np.random.default_rng(seed)

    def pick(bs: BasketSet) -> BasketSet:
        return (
            bs
            if bs.n_baskets <= max_queries
            else bs.subset(np.sort(rng.choice(bs.n_baskets, max_queries, False)))
        )

    syn, hold = pick(synthetic), pick(holdout)
    d_syn = distance_to_closest_record(syn, train)
    d_hold = distance_to_closest_record(hold, train)
    med_h = float(np.median(d_hold)) if len(d_hold) else float("nan")
    return {
        "exact_match_share": exact_match_share(synthetic, train),
        "holdout_exact_match_share": exact_match_share(holdout, train),
        "dcr_synthetic_median": float(np.median(d_syn)) if len(d_syn) else float("nan"),
        "dcr_synthetic_mean": float(d_syn.mean()) if len(d_syn) else float("nan"),
        "dcr_holdout_median": med_h,
        "dcr_holdout_mean": float(d_hold.mean()) if len(d_hold) else float("nan"),
        "dcr_ratio": float(np.median(d_syn)) / med_h if len(d_syn) and med_h > 0 else float("nan"),
        "dcr_synthetic_share_below_holdout_p5": float((d_syn < np.percentile(d_hold, 5)).mean())
        if len(d_hold) and len(d_syn)
        else float("nan"),
    }


def _with_pseudo_users(train: BasketSet, synthetic: BasketSet) -> BasketSet:
    """Real baskets plus synthetic ones as one-basket pseudo-users (so CF can learn from them)."""
    import pandas as pd

    syn = synthetic.baskets.copy()
    syn["user_id"] = pd.array([f"__syn_{i}" for i in range(len(syn))], dtype="string")
    t0 = pd.to_datetime(train.baskets["basket_time"]).min()
    syn["basket_time"] = t0
    baskets = pd.concat([train.baskets, syn], ignore_index=True)
    return BasketSet(sp.vstack([train.matrix, synthetic.matrix]).tocsr(), baskets, train.vocabulary)


def utility_comparison(
    train: BasketSet,
    validation: BasketSet,
    synthetic: BasketSet,
    make_model: Callable[[], Any],
) -> dict[str, float]:
    """Validation metrics of a model trained on real only vs real + synthetic baskets.

    ``make_model()`` returns an unfitted CFRecommender or DNNRecommender. The DNN takes synthetic
    baskets as extra completion examples; CF as one-basket pseudo-users. Keys: ``real_*``,
    ``augmented_*`` and ``delta_*`` for next-basket NDCG/recall@10 and completion hit@10.
    """
    from assoc_pipeline.core.recsys.models.dnn import DNNRecommender
    from assoc_pipeline.core.recsys.models.training import ranking_metrics
    from assoc_pipeline.core.recsys.tasks import completion_task, next_basket_task

    nb = next_basket_task(train, validation)
    ct = completion_task(validation, seed=0, history=train)

    def score(model: Any) -> dict[str, float]:
        m = ranking_metrics(model.score_next_basket(nb.user_ids), nb.targets, nb.candidates, 10)
        c = ranking_metrics(
            model.score_completion(ct.partial_baskets), ct.targets, ct.candidates, 10, ct.partial_baskets
        )
        return {"ndcg@10": m["ndcg@10"], "recall@10": m["recall@10"], "completion_hit@10": c["recall@10"]}

    real_model = make_model().fit(train, validation)
    aug_model = make_model()
    if isinstance(aug_model, DNNRecommender):
        aug_model.fit(train, validation, extra_baskets=synthetic)
    else:
        aug_model.fit(_with_pseudo_users(train, synthetic), validation)
    a, b = score(real_model), score(aug_model)
    out = {f"real_{k}": v for k, v in a.items()}
    out.update({f"augmented_{k}": v for k, v in b.items()})
    out.update({f"delta_{k}": b[k] - a[k] for k in a})
    return out
