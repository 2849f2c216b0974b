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

from assoc_pipeline.core.data.baskets import BasketSet


def _matrix(x: BasketSet | sp.spmatrix) -> sp.csr_matrix:
    m = x.matrix if isinstance(x, BasketSet) else x
    return sp.csr_matrix(m, dtype=np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0, 0.0
    from scipy import stats  # on first use: scipy.stats costs a second at every definitions import

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


def _pair_supports(m: sp.csr_matrix) -> sp.csr_matrix:
    """Upper-triangle pair supports (share of baskets holding both items)."""
    b = m.copy()
    b.data[:] = 1.0
    # the upper triangle first, then scaled: half the entries (scipy's own "/": float64 times 1 / n)
    pairs = sp.triu(b.T @ b, k=1).tocsr().astype(np.float64)
    pairs.data *= 1 / max(b.shape[0], 1)
    return pairs


def pair_cooccurrence_correlation(
    real: BasketSet | sp.spmatrix, synthetic: BasketSet | sp.spmatrix, top_pairs: int = 1000
) -> dict[str, float]:
    """Correlation of pair supports over the ``top_pairs`` most frequent pairs of ``real``.

    The pair set depends on the real side only, so every candidate (a generator, or real training
    baskets for the ceiling) is scored on the same pairs. ``pair_cooc_pearson_union`` also counts
    the candidate's own top pairs, so it punishes pairs a generator invents.
    """
    cr, cs = _pair_supports(_matrix(real)), _pair_supports(_matrix(synthetic))
    rc, sc = cr.tocoo(), cs.tocoo()
    top_r = np.argsort(-rc.data, kind="stable")[:top_pairs]
    top_s = np.argsort(-sc.data, kind="stable")[:top_pairs]
    if len(top_r) == 0:
        return {
            "pair_cooc_pearson": 0.0,
            "pair_cooc_spearman": 0.0,
            "pair_cooc_pearson_union": 0.0,
            "n_pairs": 0,
        }
    i, j = rc.row[top_r], rc.col[top_r]
    p, sp_ = _corr(rc.data[top_r], np.asarray(cs[i, j]).ravel())
    union = sorted(
        set(zip(i.tolist(), j.tolist(), strict=True))
        | set(zip(sc.row[top_s].tolist(), sc.col[top_s].tolist(), strict=True))
    )
    ui, uj = (np.array(x) for x in zip(*union, strict=True))
    pu, _ = _corr(np.asarray(cr[ui, uj]).ravel(), np.asarray(cs[ui, uj]).ravel())
    return {
        "pair_cooc_pearson": p,
        "pair_cooc_spearman": sp_,
        "pair_cooc_pearson_union": pu,
        "n_pairs": len(top_r),
    }


def basket_size_distance(
    real: BasketSet | sp.spmatrix, synthetic: BasketSet | sp.spmatrix
) -> dict[str, float]:
    """Wasserstein-1 distance between basket-size distributions (in items), plus both means."""
    from scipy.stats import wasserstein_distance

    r, s = _matrix(real), _matrix(synthetic)
    sr, ss = np.diff(r.indptr), np.diff(s.indptr)
    return {
        "basket_size_wasserstein": float(wasserstein_distance(sr, ss)),
        "basket_size_mean_real": float(sr.mean()) if len(sr) else 0.0,
        "basket_size_mean_synthetic": float(ss.mean()) if len(ss) else 0.0,
    }


def mine_rules(
    baskets: BasketSet | sp.spmatrix, min_support: float, min_confidence: float, max_len: int = 3
) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Rules (antecedent, consequent) with single-item consequents, as the rules asset derives them."""
    from assoc_pipeline.core.mining import derive_rules, mine_itemsets

    its = mine_itemsets(_matrix(baskets).astype(bool), min_support, max_len=max_len)
    df = derive_rules(its, min_confidence, metrics=("support", "confidence"))
    return {(tuple(a), tuple(c)) for a, c in zip(df["antecedent"], df["consequent"], strict=True)}


# the rules asset's thresholds (assets/mining.py: ItemsetConfig / RulesConfig). Item-to-item rules only:
# at 0.5% support a 1,600-basket holdout yields tens of thousands of 3-item rules from a handful of
# wholesale baskets, which is sampling noise rather than association.
RULE_SUPPORT, RULE_CONFIDENCE, RULE_MAX_LEN = 0.005, 0.5, 2


def rule_overlap(
    real: BasketSet | sp.spmatrix,
    synthetic: BasketSet | sp.spmatrix,
    min_support: float = RULE_SUPPORT,
    min_confidence: float = RULE_CONFIDENCE,
    max_len: int = RULE_MAX_LEN,
) -> dict[str, float]:
    """How the rules mined from each side overlap: Jaccard, the share of real rules the synthetic
    baskets also yield (``rules_real_found``) and the share of synthetic rules that are real."""
    rr = mine_rules(real, min_support, min_confidence, max_len)
    rs = mine_rules(synthetic, min_support, min_confidence, max_len)
    common, union = len(rr & rs), len(rr | rs)
    return {
        "rules_jaccard": common / union if union else 1.0,
        "rules_real_found": common / len(rr) if rr else float("nan"),
        "rules_synthetic_real": common / len(rs) if rs else float("nan"),
        "rules_real": len(rr),
        "rules_synthetic": len(rs),
        "rules_common": common,
    }


def _mlp_probe_scores(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int, epochs: int = 20
) -> np.ndarray:
    """A one-hidden-layer MLP (64 units) trained with Adam on minibatches; returns test logits.
    In torch rather than scikit-learn: ten times faster on a busy CPU, same probe."""
    import torch
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: extra threads only spin (40x slower on a busy 2-core box)
    try:
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(x_train.shape[1], 64), nn.ReLU(), nn.Linear(64, 1))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
        xt, yt = torch.as_tensor(x_train), torch.as_tensor(y_train, dtype=torch.float32)
        for _ in range(epochs):
            for idx in torch.randperm(len(xt), generator=gen).split(128):
                loss = nn.functional.binary_cross_entropy_with_logits(net(xt[idx]).squeeze(-1), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return net(torch.as_tensor(x_test)).squeeze(-1).numpy()
    finally:
        torch.set_num_threads(threads)


def two_sample_auc(
    a: BasketSet | sp.spmatrix,
    b: BasketSet | sp.spmatrix,
    *,
    probe: str = "mlp",
    max_per_side: int = 2000,
    max_features: int = 1000,
    folds: int = 4,
    seed: int = 0,
) -> float:
    """Cross-validated ROC AUC of a classifier told to separate ``a`` from ``b`` (0.5 = indistinguishable).

    A small MLP by default: a linear probe cannot see pair structure (it scores independent-item
    baskets near 0.5), so it would call structure-free baskets realistic.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    if probe not in ("mlp", "logistic"):
        raise ValueError(f"two_sample_auc: probe must be mlp or logistic, got {probe!r}")
    rng = np.random.default_rng(seed)
    ma, mb = _matrix(a), _matrix(b)
    n = min(ma.shape[0], mb.shape[0], max_per_side)
    if n < 2 * folds:
        raise ValueError(f"two_sample_auc: need at least {2 * folds} baskets per side, got {n}")
    x = sp.vstack(
        [ma[rng.choice(ma.shape[0], n, replace=False)], mb[rng.choice(mb.shape[0], n, replace=False)]]
    )
    x = sp.csr_matrix(x, dtype=np.float32)
    x.data[:] = 1.0
    # the most frequent items of both sides together: rarer columns add time, not a better probe
    counts = np.asarray(x.sum(axis=0)).ravel()
    keep = np.sort(np.argsort(-counts, kind="stable")[: min(max_features, int((counts > 0).sum()))])
    x = x[:, keep].toarray()
    y = np.r_[np.zeros(n), np.ones(n)].astype(np.float32)
    aucs = []
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        if probe == "mlp":
            scores = _mlp_probe_scores(x[train_idx], y[train_idx], x[test_idx], seed)
        else:
            scores = (
                LogisticRegression(max_iter=500)
                .fit(x[train_idx], y[train_idx])
                .decision_function(x[test_idx])
            )
        aucs.append(roc_auc_score(y[test_idx], scores))
    return float(np.mean(aucs))


def fidelity_report(
    reference: BasketSet,
    candidate: BasketSet,
    *,
    top_pairs: int = 1000,
    min_support: float = RULE_SUPPORT,
    min_confidence: float = RULE_CONFIDENCE,
    probe: bool = True,
    seed: int = 0,
) -> dict[str, float]:
    """Fidelity of ``candidate`` baskets to ``reference`` (held-out real) baskets, one flat dict.

    Basket sizes are not in it: the GAN and the references resample sizes from the real data, so
    a size distance would be evidence of nothing (``basket_size_distance`` is there for generators
    that make sizes themselves).
    """
    out: dict[str, float] = {}
    out.update(item_frequency_correlation(reference, candidate))
    pc = pair_cooccurrence_correlation(reference, candidate, top_pairs)
    out.update(
        {
            "pair_corr": pc["pair_cooc_pearson"],
            "pair_corr_spearman": pc["pair_cooc_spearman"],
            "pair_corr_union": pc["pair_cooc_pearson_union"],
        }
    )
    out.update(rule_overlap(reference, candidate, min_support, min_confidence))
    if probe:
        out["two_sample_auc"] = two_sample_auc(reference, candidate, seed=seed)
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


DCR_PAIRS = 1 << 24  # (query, reference) pairs sharing an item, scored at a time


def distance_to_closest_record(
    queries: BasketSet | sp.spmatrix, reference: BasketSet | sp.spmatrix, max_pairs: int = DCR_PAIRS
) -> np.ndarray:
    """Per query basket, the Jaccard distance to its nearest reference basket (0 = an exact copy;
    1 when none shares an item).

    Only pairs that share an item are scored (the others are at distance 1): a dense queries x
    reference block is 2.4 GB per 512 queries against the 600k baskets of a 2M-basket log. Queries
    go in chunks of about ``max_pairs`` candidate pairs (the sum of their items' reference
    frequencies), so a log whose baskets all share a popular item still fits."""
    q, r = _matrix(queries), _matrix(reference)
    q.data[:] = 1.0
    r.data[:] = 1.0
    qs, rs = np.diff(q.indptr).astype(np.float32), np.diff(r.indptr).astype(np.float32)
    rt = sp.csr_matrix(r.T)
    pairs = np.cumsum(q @ np.bincount(r.indices, minlength=r.shape[1]).astype(np.float64))
    out = np.ones(q.shape[0], dtype=np.float32)
    s = 0
    while s < q.shape[0]:
        e = max(s + 1, int(np.searchsorted(pairs, (pairs[s - 1] if s else 0.0) + max_pairs, "right")))
        inter = sp.csr_matrix(q[s:e] @ rt)
        counts = np.diff(inter.indptr)
        rows = np.repeat(np.arange(e - s), counts)
        sim = inter.data / (qs[s:e][rows] + rs[inter.indices] - inter.data)
        hit = np.flatnonzero(counts)
        if len(hit):
            out[s + hit] = 1.0 - np.maximum.reduceat(sim, inter.indptr[hit])
        s = e
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


def membership_inference_auc(
    synthetic: BasketSet, members: BasketSet, non_members: BasketSet, max_per_side: int = 2000, seed: int = 0
) -> float:
    """AUC of the distance-to-closest-synthetic-record attack: an attacker who holds a real basket
    guesses "it was in the training data" when some synthetic basket is close to it. Members are
    training baskets, non-members held-out real ones; 0.5 = the synthetic data gives nothing away."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = min(members.n_baskets, non_members.n_baskets, max_per_side)
    mem = members.subset(np.sort(rng.choice(members.n_baskets, n, replace=False)))
    non = non_members.subset(np.sort(rng.choice(non_members.n_baskets, n, replace=False)))
    d = np.r_[distance_to_closest_record(mem, synthetic), distance_to_closest_record(non, synthetic)]
    return float(roc_auc_score(np.r_[np.ones(n), np.zeros(n)], -d))


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

    Both arms train a fixed number of epochs on ``train`` (no early stopping on ``validation``),
    and the synthetic baskets must come from a generator that never saw ``validation``.

    ``make_model()`` returns an unfitted CFRecommender or DNNRecommender. The DNN takes synthetic
    baskets as extra completion examples; CF as one-basket pseudo-users. Keys: ``real_*``,
    ``augmented_*`` and ``delta_*`` for next-basket NDCG/recall@10 and completion hit@10.
    """
    from assoc_pipeline.core.recsys.models.dnn import DNNRecommender
    from assoc_pipeline.core.recsys.models.training import ranking_metrics
    from assoc_pipeline.core.recsys.tasks import completion_task, validation_next_basket

    nb = validation_next_basket(train, validation)
    ct = completion_task(validation, seed=0, history=train)

    def score(model: Any) -> dict[str, float]:
        m = ranking_metrics(model.score_next_basket(nb.user_ids), nb.targets, nb.candidates, 10)
        c = ranking_metrics(
            model.score_completion(ct.partial_baskets), ct.targets, ct.candidates, 10, ct.partial_baskets
        )
        return {"ndcg@10": m["ndcg@10"], "recall@10": m["recall@10"], "completion_hit@10": c["recall@10"]}

    # fixed epochs, no early stopping: ``validation`` is the scored period, it must not pick epochs
    real_model = make_model().fit(train)
    aug_model = make_model()
    if isinstance(aug_model, DNNRecommender):
        aug_model.fit(train, extra_baskets=synthetic)
    else:
        aug_model.fit(_with_pseudo_users(train, synthetic))
    a, b = score(real_model), score(aug_model)
    out = {f"real_{k}": v for k, v in a.items()}
    out.update({f"augmented_{k}": v for k, v in b.items()})
    out.update({f"delta_{k}": b[k] - a[k] for k in a})
    return out
