"""Neural next-basket recommender: learned co-occurrence plus a learned, gated repeat signal.

Why this shape: in grocery/gift retail most of a user's next basket repeats their own history
(Li et al. 2023), so a pure "embed the history and decode" network loses to counting. The model
adds two paths into one softmax over the catalogue:

* **co-occurrence path** — the user's time-decayed history distribution (or a partial basket)
  is embedded, passed through a residual MLP and decoded against output item vectors;
* **repeat path** — for items the user bought before, a small shared MLP over per-item history
  features (log count, decayed count, share of baskets, recency) plus a per-item repeat
  propensity; zero for items never bought, so it can only re-rank the user's own items.

* **item-item path** — a closed-form EASE layer (Steck 2019), fit once from the training basket
  matrix (``ease_l2``, tuned on validation) and kept as a buffer in the checkpoint, scores the
  binary history / partial basket; a learned per-mode scale gates it in, and its score of each
  bought item is also an input of the repeat path.

The learned parts start as residuals on strong priors: the repeat logit starts as a linear
function of log-count and recency (personal top-frequency), the co-occurrence output vectors
start at zero, so at step 0 next-basket ranks like top-frequency and completion exactly like EASE.
Early stopping watches ``val_combined`` = mean of next-basket NDCG@10 / top-frequency's and
completion hit@10 / EASE's on the validation period.

Training mixes next-basket examples (history before basket t -> basket t, for each user's
training baskets) with basket-completion examples (part of a basket -> the hidden rest), with
a multinomial (softmax) likelihood, as in Mult-VAE/DAE. Item-to-item association scores come
from feeding a single item through the co-occurrence path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.dnn_history import (
    N_FEATURES,
    HistoryFeatures,
    next_basket_examples,
    pack_features,
    user_history_features,
)
from assoc_pipeline.core.recsys.models.trained import RecommenderParams, TrainedRecommender
from assoc_pipeline.core.recsys.models.training import (
    EpochCallback,
    StepContext,
    batched_ranking_metrics,
    ranking_metrics,
    train_loop,
)
from assoc_pipeline.core.recsys.models.warm_start import warm_start_from

# histories at most this dense take the sparse item-item product (the layer is a fixed buffer, so
# training can too): 256 rows x 3,899 items, dense 90 ms; sparse 9 / 27 / 43 / 85 ms at a density of
# 0.25 / 1 / 2 / 4% (2 cores)
SPARSE_ROWS_SHARE = 0.03


@dataclass
class DNNParams(RecommenderParams):
    """Hyper-parameters of the next-basket network (mirrored as Dagster config)."""

    epochs: int = 8
    patience: int = 2
    dim: int = 128  # item embedding size (input and output)
    hidden: int = 256
    dropout: float = 0.3  # on the embedded history
    input_dropout: float = 0.2  # drops history items (denoising)
    lr: float = 3e-4  # low: the learned residuals drift from the priors at 2e-3 (validation)
    weight_decay: float = 1e-5
    batch_size: int = 256
    half_life_days: float = 90.0  # time decay of the history vector
    completion_weight: float = 1.0  # completion examples per next-basket example (0 = none)
    hide_fraction: float = 0.25  # share of a basket hidden in completion examples (>= 1 item)
    max_history_baskets: int = 100  # only the most recent baskets of a user make features
    ease_l2: float = 25.0  # lambda of the closed-form item-item (EASE) layer; tuned on validation
    refresh_item_item: bool = True  # with_history refits the item-item layer on the new baskets
    # the item-item layer covers at most this many items (those in most baskets) above it: a
    # 100k-item catalogue would need a 40 GB matrix (docs/models.md, "Catalogues of 100k products")
    ease_max_items: int = 10_000
    monitor: str = "val_combined"  # early stopping: mean of NDCG / top-freq and hit / EASE (validation)
    text_features: bool = False  # item description embeddings as extra input/output item features


class NextBasketNet(nn.Module):
    """``forward(x)`` with ``x`` (B, 4, n_items) history features -> (B, n_items) logits.

    Channel 1 (decayed count) also carries a partial basket (multi-hot) in completion mode; a
    row whose count channel is all zero is treated as completion (no personal history).
    """

    # set before training, never by it: the training loop's best-state copies share them
    fixed_state: tuple[str, ...] = ("item_item", "item_item_items", "item_text")

    def __init__(
        self,
        n_items: int,
        dim: int,
        hidden: int,
        dropout: float,
        input_dropout: float,
        text_dim: int = 0,
        item_item_size: int | None = None,
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.item_in = nn.Parameter(torch.randn(n_items, dim) * 0.05)
        # optional text features: fixed description embeddings, projected into both item tables, so a
        # product unseen in training still has meaningful vectors (zero-initialised output side: the
        # learned path starts as it would without text)
        self.text_dim = text_dim
        if text_dim:
            self.register_buffer("item_text", torch.zeros(n_items, text_dim))
            self.text_in = nn.Linear(text_dim, dim, bias=False)
            self.text_out = nn.Linear(text_dim, dim, bias=False)
            nn.init.zeros_(self.text_out.weight)
        self.mode = nn.Parameter(torch.zeros(2, dim))  # 0 = next-basket, 1 = completion
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.norm = nn.LayerNorm(dim)
        # zero-initialised output vectors: the learned path starts as a residual of 0 on the priors below
        self.item_out = nn.Parameter(torch.zeros(n_items, dim))
        self.bias = nn.Parameter(torch.zeros(n_items))
        # per bought item: the 4 history features + the item-item score of the item from the rest
        # repeat logit = linear prior (starts as personal top-frequency + recency) + MLP residual (starts 0)
        self.repeat_lin = nn.Linear(N_FEATURES + 1, 1)
        with torch.no_grad():
            self.repeat_lin.weight.copy_(torch.tensor([[4.0, 0.0, 0.0, 2.0, 0.0]]))
            self.repeat_lin.bias.fill_(3.0)
        self.repeat_mlp = nn.Sequential(nn.Linear(N_FEATURES + 1, 32), nn.GELU(), nn.Linear(32, 1))
        nn.init.zeros_(self.repeat_mlp[-1].weight)
        nn.init.zeros_(self.repeat_mlp[-1].bias)
        # closed-form EASE weights (fit in ``fit``, not learned) and their learned scale per mode
        # over every item, or (item_item_size < n_items) over the items in ``item_item_items`` only
        m = n_items if item_item_size is None else min(item_item_size, n_items)
        self.register_buffer("item_item", torch.zeros(m, m))
        if m < n_items:
            self.register_buffer("item_item_items", torch.arange(m))
        self.item_item_scale = nn.Parameter(torch.tensor([2.0, 20.0]))  # next-basket, completion
        self.repeat_item = nn.Parameter(torch.zeros(n_items))
        self.in_drop = nn.Dropout(input_dropout)
        self.drop = nn.Dropout(dropout)

    def co_occurrence(self, history: torch.Tensor, completion: torch.Tensor) -> torch.Tensor:
        """(B, n_items) logits of the co-occurrence path from a (B, n_items) weight vector."""
        h = self.in_drop(history)
        h = h / h.sum(-1, keepdim=True).clamp(min=1e-6)
        item_in, item_out = self.item_in, self.item_out
        if self.text_dim:
            item_in = item_in + self.text_in(self.item_text)
            item_out = item_out + self.text_out(self.item_text)
        z = h @ item_in
        z = z + completion.unsqueeze(-1) * self.mode[1] + (1 - completion).unsqueeze(-1) * self.mode[0]
        z = self.norm(z + self.mlp(self.drop(z)))
        return z @ item_out.T + self.bias

    def item_item_scores(self, history: torch.Tensor) -> torch.Tensor:
        """(B, n_items) EASE scores of the binary history / partial basket (closed-form layer).

        A few bought items select a few rows: a sparse product reads those rows, not the whole
        n_items x n_items matrix (one served basket: 5 ms -> well under 1 ms on 3k items; a training
        batch of 256 histories: ~2x faster). The layer is a fixed buffer, so no gradient needs it.
        """
        binary = (history > 0).to(self.item_item.dtype)
        block = len(self.item_item) < self.n_items  # the block of the items in most baskets only
        rows = binary[:, self.item_item_items] if block else binary
        if rows.is_cpu and int(rows.count_nonzero()) <= SPARSE_ROWS_SHARE * rows.numel():
            product = torch.sparse.mm(rows.to_sparse(), self.item_item)  # 1,024 rows x a 10k block: 50x
        else:
            product = rows @ self.item_item
        if not block:
            return product
        out = torch.zeros_like(binary)
        out[:, self.item_item_items] = product
        return out

    def _combine(self, logits: torch.Tensor, ii: torch.Tensor, completion: torch.Tensor) -> torch.Tensor:
        scale = completion * self.item_item_scale[1] + (1 - completion) * self.item_item_scale[0]
        return logits + scale.unsqueeze(-1) * ii

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dense path (export / mlflow): the repeat MLP runs on every (row, item), masked to bought items."""
        counts = x[:, 0]
        has = (counts > 0).to(x.dtype)
        completion = 1.0 - (has.sum(-1) > 0).to(x.dtype)
        ii = self.item_item_scores(x[:, 1])
        logits = self._combine(self.co_occurrence(x[:, 1], completion), ii, completion)
        feats = torch.cat([x.transpose(1, 2), ii.unsqueeze(-1)], dim=-1)
        rep = (self.repeat_lin(feats) + self.repeat_mlp(feats)).squeeze(-1) + self.repeat_item
        return logits + has * rep

    def forward_sparse(
        self,
        history: torch.Tensor,
        completion: torch.Tensor,
        rows: torch.Tensor,
        items: torch.Tensor,
        feats: torch.Tensor,
    ) -> torch.Tensor:
        """Same function as ``forward``, with the repeat MLP run only on the bought (row, item) entries.

        ``history`` (B, n_items) = decayed counts or a partial basket; ``rows``/``items``/``feats``
        (nnz,), (nnz,), (nnz, 4) = the user's bought items and their features. ~50x cheaper on CPU.
        """
        ii = self.item_item_scores(history)
        logits = self._combine(self.co_occurrence(history, completion), ii, completion)
        if len(rows) == 0:
            return logits
        feats = torch.cat([feats, ii[rows, items].unsqueeze(-1)], dim=-1)
        rep = (self.repeat_lin(feats) + self.repeat_mlp(feats)).squeeze(-1) + self.repeat_item[items]
        return logits.index_put((rows, items), rep.to(logits.dtype), accumulate=True)


def _text_dim(params: DNNParams, item_vectors: np.ndarray | None, n_items: int) -> int:
    """Width of the text features (0 = none); the vectors must match the vocabulary."""
    if not params.text_features:
        return 0
    if item_vectors is None:
        raise ValueError("dnn: text_features=True needs item_vectors (the item_embeddings asset)")
    if item_vectors.ndim != 2 or len(item_vectors) != n_items:
        raise ValueError(f"dnn: item_vectors has shape {item_vectors.shape}; expected ({n_items}, dim)")
    return int(item_vectors.shape[1])


def _multi_hot(lists: Sequence[np.ndarray], n_items: int, device: torch.device) -> torch.Tensor:
    lens = np.fromiter((len(b) for b in lists), dtype=np.int64, count=len(lists))
    x = torch.zeros(len(lists), n_items)
    if lens.sum():
        r = torch.as_tensor(np.repeat(np.arange(len(lists)), lens))
        c = torch.as_tensor(np.concatenate([np.asarray(b, dtype=np.int64) for b in lists]))
        x[r, c] = 1.0
    return x.to(device)


def multinomial_loss(
    logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over rows of -sum(t * log_softmax) / |t|; ``mask`` (1 = excluded item) drops given items."""
    logits = logits.float()
    if mask is not None:
        logits = logits.masked_fill(mask > 0, -1e9)
    logp = torch.log_softmax(logits, dim=-1)
    return (-(targets * logp).sum(-1) / targets.sum(-1).clamp(min=1.0)).mean()


def fit_item_item(bs: BasketSet, l2: float) -> torch.Tensor:
    """Closed-form EASE weights (Steck 2019) from the basket x item matrix, zero diagonal."""
    from assoc_pipeline.core.recsys.baselines.ease import ease_weights

    return torch.tensor(ease_weights(bs.matrix, l2))  # a copy: the cached weights are read-only


def set_item_item(module: NextBasketNet, bs: BasketSet, l2: float, keep: bool = True) -> None:
    """Fit the module's closed-form item-item layer on ``bs``: the whole n x n matrix, or the block
    of the ``len(module.item_item)`` items in most baskets of ``bs`` when the catalogue is larger
    (``keep=False``: that block is not stored in EASE's cache, e.g. while training needs the room)."""
    from assoc_pipeline.core.recsys.baselines.ease import ease_item_weights

    with torch.no_grad():
        if len(module.item_item) == module.n_items:
            module.item_item.copy_(fit_item_item(bs, l2))
            return
        w = ease_item_weights(bs.matrix, l2, len(module.item_item), keep=keep)
        module.item_item_items.copy_(torch.as_tensor(w.items))
        block = w.block  # read-only only when it came from the cache: then a copy
        module.item_item.copy_(torch.from_numpy(block) if block.flags.writeable else torch.tensor(block))


# --------------------------------------------------------------------------- recommender
class DNNRecommender(TrainedRecommender):
    """The network above as a :class:`Recommender`; history features are kept for scoring."""

    name = "dnn"
    kind = "dnn"
    params_cls = DNNParams
    reads_history = True

    def __init__(self, params: DNNParams | None = None) -> None:
        super().__init__(params)
        self.user_index: pd.Index = pd.Index([], dtype=str)
        self.history: HistoryFeatures = pack_features([], [])

    def fit(
        self,
        train: BasketSet,
        validation: BasketSet | None = None,
        *,
        extra_baskets: BasketSet | None = None,
        on_epoch: EpochCallback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        init_from: DNNRecommender | None = None,
        item_vectors: np.ndarray | None = None,
    ) -> Self:
        """Train on ``train``; with ``validation`` stop early on ``params.monitor`` (default val_combined).

        ``extra_baskets`` (e.g. synthetic baskets, no users) only add completion examples.
        ``init_from``: start from that model's weights (item tables matched by id, new items start
        fresh); the closed-form item-item layer is always refit on ``train``.
        ``item_vectors`` (n_items, d): description embeddings, required when ``params.text_features``.
        """
        p = self.params
        device = self._start_fit(train)
        nb_feats = next_basket_examples(train, p.half_life_days, p.max_history_baskets)  # read per batch
        self.user_index, self.history = user_history_features(train, p.half_life_days, p.max_history_baskets)
        comp = train.matrix
        if extra_baskets is not None:
            if extra_baskets.n_items != train.n_items:
                raise ValueError("dnn: extra_baskets must share the training vocabulary")
            comp = sp.vstack([comp, extra_baskets.matrix]).tocsr()
        sizes = np.diff(comp.indptr)
        comp_rows = np.flatnonzero(sizes >= 2)
        n_nb = len(nb_feats)
        if n_nb == 0 and (p.completion_weight <= 0 or len(comp_rows) == 0):
            raise ValueError(
                "dnn: no training examples (no user has two baskets and no basket has two items)"
            )
        text_dim = _text_dim(p, item_vectors, self.n_items)
        self.module = NextBasketNet(
            self.n_items, p.dim, p.hidden, p.dropout, p.input_dropout, text_dim, p.ease_max_items
        )
        set_item_item(self.module, train, p.ease_l2, keep=False)  # the layer holds it (400 MB at 10k)
        if text_dim:
            self.module.item_text.copy_(torch.as_tensor(np.asarray(item_vectors, dtype=np.float32)))
        if init_from is not None:
            item_rows = ("item_in", "item_out", "bias", "repeat_item")
            self.warm_start = warm_start_from(
                self, init_from, item_rows=item_rows, skip=("item_item", "item_item_items", "item_text")
            )
        self.module.to(device)
        module = self.module
        opt = torch.optim.AdamW(module.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        rng = np.random.default_rng(p.seed)
        n_comp = (
            min(len(comp_rows), round(p.completion_weight * max(n_nb, 1))) if p.completion_weight > 0 else 0
        )

        def completion_batch(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            kept, hidden = [], []
            for r in rows:
                items = comp.indices[comp.indptr[r] : comp.indptr[r + 1]]
                n = len(items)
                n_hide = min(n - 1, max(1, int(rng.binomial(n, p.hide_fraction))))
                perm = rng.permutation(n)
                hidden.append(items[perm[:n_hide]])
                kept.append(items[perm[n_hide:]])
            return _multi_hot(kept, self.n_items, device), _multi_hot(hidden, self.n_items, device)

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            kinds = np.concatenate([np.zeros(n_nb, dtype=np.int8), np.ones(n_comp, dtype=np.int8)])
            ids = np.concatenate([rng.permutation(n_nb), rng.choice(comp_rows, size=n_comp, replace=False)])
            order = rng.permutation(len(ids))
            kinds, ids = kinds[order], ids[order]
            total, steps = 0.0, 0
            for s in range(0, len(ids), p.batch_size):
                if ctx.out_of_time():
                    break
                k, i = kinds[s : s + p.batch_size], ids[s : s + p.batch_size]
                nb, cp = i[k == 0], i[k == 1]
                hist, r, c, v = nb_feats.sparse(nb, self.n_items, device)
                t_nb = _multi_hot(nb_feats.targets(nb), self.n_items, device)
                x_cp, t_cp = completion_batch(cp)
                history = torch.cat([hist, x_cp])
                targets = torch.cat([t_nb, t_cp])
                mask = torch.cat([torch.zeros_like(hist), x_cp])
                completion = torch.cat(
                    [torch.zeros(len(nb), device=device), torch.ones(len(cp), device=device)]
                )
                with ctx.autocast():
                    logits = module.forward_sparse(history, completion, r, c, v)
                loss = multinomial_loss(logits, targets, mask)
                total += ctx.optimize(loss, opt, clip_norm=5.0)
                steps += 1
            return {"loss": total / max(steps, 1)}

        validate = None
        if validation is not None:
            from assoc_pipeline.core.recsys.tasks import completion_task, validation_next_basket

            task = validation_next_basket(train, validation)
            ctask = completion_task(validation, seed=0, history=train)
            if len(task) == 0:
                raise ValueError("dnn: validation has no users with training history; cannot early-stop")
            cidx = np.random.default_rng(0).permutation(len(ctask))[:2000]
            parts = [ctask.partial_baskets[i] for i in cidx]
            ctargets = [ctask.targets[i] for i in cidx]
            # yardsticks for the combined monitor: personal top-frequency (next-basket), EASE (completion)
            from assoc_pipeline.core.recsys.baselines.top_frequency import PersonalTopFrequencyRecommender

            tf = PersonalTopFrequencyRecommender().fit(train)
            users = list(task.user_ids)

            def next_basket_metrics(score: Callable[[list[str]], np.ndarray]) -> dict[str, float]:
                return batched_ranking_metrics(
                    lambda s, e: score(users[s:e]), len(users), self.n_items, task.targets, task.candidates
                )

            ref_nb = next_basket_metrics(tf.score_next_basket)["ndcg@10"]
            with torch.no_grad():
                q = _multi_hot(parts, self.n_items, torch.device("cpu"))
                ease_scores = module.item_item_scores(q.to(device)).float().cpu().numpy()
            ref_cp = ranking_metrics(ease_scores, ctargets, ctask.candidates, 10, parts)["recall@10"]
            del q, ease_scores  # 2,000 x n_items each (174 MB at 22k items), not kept through training

            def validate() -> dict[str, float]:
                m = next_basket_metrics(self.score_next_basket)
                c = batched_ranking_metrics(
                    lambda s, e: self.score_completion(parts[s:e]),
                    len(parts),
                    self.n_items,
                    ctargets,
                    ctask.candidates,
                    10,
                    parts,
                )
                rel_nb = m["ndcg@10"] / max(ref_nb, 1e-9)
                rel_cp = c["recall@10"] / max(ref_cp, 1e-9)
                return {
                    "val_combined": 0.5 * (rel_nb + rel_cp),
                    "val_ndcg_vs_topfreq": rel_nb,
                    "val_hit_vs_ease": rel_cp,
                    "val_ndcg@10": m["ndcg@10"],
                    "val_recall@10": m["recall@10"],
                    "val_completion_hit@10": c["recall@10"],
                    "val_completion_ndcg@10": c["ndcg@10"],
                }

        self.result = train_loop(
            module,
            train_epoch,
            p,
            validate=validate,
            monitor=p.monitor,
            on_epoch=on_epoch,
            checkpoint_path=checkpoint_path,
            device=device,
        )
        return self

    def as_warm_start_source(self) -> Self:
        """Also without the users' history features (scoring state; a warm start copies no user rows)."""
        self.history = pack_features([], [])
        return super().as_warm_start_source()

    def with_history(self, baskets: BasketSet) -> Self:
        """Replace the users' history (e.g. train_full for the test period) without retraining."""
        if baskets.n_items != self.n_items:
            raise ValueError("dnn: history baskets must share the model's vocabulary")
        self.user_index, self.history = user_history_features(
            baskets, self.params.half_life_days, self.params.max_history_baskets
        )
        if self.params.refresh_item_item and self.module is not None:
            set_item_item(self.module, baskets, self.params.ease_l2)
        return self

    # ---------------------------------------------------------------- scoring
    def _run(self, make_batch: Any, n: int, batch: int = 512) -> np.ndarray:
        module = self._require()
        was = module.training
        module.eval()
        out = np.empty((n, self.n_items), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, n, batch):
                e = min(n, s + batch)
                out[s:e] = module.forward_sparse(*make_batch(s, e)).float().cpu().numpy()
        module.train(was)
        return out

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        """Scores from each user's history; unknown users get the completion path of an empty basket."""
        module = self._require()
        dev = next(module.parameters()).device
        idx = self.user_index.get_indexer(pd.Index([str(u) for u in user_ids]))

        def make_batch(s: int, e: int) -> tuple[torch.Tensor, ...]:
            rows = idx[s:e]
            known = np.flatnonzero(rows >= 0)
            hist_k, r, c, v = self.history.sparse(rows[known], self.n_items, dev)
            hist = torch.zeros(e - s, self.n_items, device=dev)
            hist[torch.as_tensor(known, device=dev)] = hist_k
            r = torch.as_tensor(known, device=dev)[r] if len(r) else r
            completion = torch.as_tensor(rows < 0, dtype=torch.float32, device=dev)
            return hist, completion, r, c, v

        return self._run(make_batch, len(idx))

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        """Scores with the partial basket as the (undecayed, count-free) history."""
        module = self._require()
        dev = next(module.parameters()).device
        empty_l = torch.zeros(0, dtype=torch.long, device=dev)
        empty_f = torch.zeros(0, N_FEATURES, device=dev)

        def make_batch(s: int, e: int) -> tuple[torch.Tensor, ...]:
            hist = _multi_hot(partial_baskets[s:e], self.n_items, dev)
            return hist, torch.ones(e - s, device=dev), empty_l, empty_l, empty_f

        return self._run(make_batch, len(partial_baskets))

    def item_association_scores(self, items: Sequence[int] | None = None) -> np.ndarray:
        """P(item j completes a basket holding only item i): softmax of the co-occurrence path.

        Rows = ``items`` (default all), columns = catalogue; the diagonal is zeroed. Comparable with a
        rule's confidence for the pair i -> j.
        """
        items = np.arange(self.n_items) if items is None else np.asarray(items, dtype=np.int64)
        logits = self.score_completion([np.array([i]) for i in items])
        logits[np.arange(len(items)), items] = -np.inf
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(1, keepdims=True)).astype(np.float32)

    def top_associations(
        self, k: int = 5, items: Sequence[int] | None = None, vocabulary: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """Top-``k`` learned consequents per antecedent item, laid out like mined pair rules."""
        items = np.arange(self.n_items) if items is None else np.asarray(items, dtype=np.int64)
        scores = self.item_association_scores(items)
        top = np.argsort(-scores, axis=1)[:, :k]
        ant = np.repeat(items, top.shape[1])
        con = top.ravel()
        df = pd.DataFrame(
            {
                "antecedent_idx": ant,
                "consequent_idx": con,
                "score": scores[np.repeat(np.arange(len(items)), top.shape[1]), con],
            }
        )
        if vocabulary is not None:
            ids = vocabulary["item_id"].to_numpy()
            df["antecedent"] = [(ids[a],) for a in ant]
            df["consequent"] = [(ids[c],) for c in con]
        return df

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        """The users' history features: needed to score users again."""
        return {
            "user_ids": [str(u) for u in self.user_index],
            "history_indptr": torch.as_tensor(self.history.indptr),
            "history_indices": torch.as_tensor(self.history.indices),
            "history_values": torch.as_tensor(self.history.values),
        }

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.user_index = pd.Index(list(ckpt["user_ids"]), dtype=str)
        self.history = HistoryFeatures(
            ckpt["history_indptr"].numpy(), ckpt["history_indices"].numpy(), ckpt["history_values"].numpy()
        )

    def _build_module(self, ckpt: dict[str, Any]) -> NextBasketNet:
        p = self.params
        text = ckpt["state_dict"].get("item_text")
        text_dim = int(text.shape[1]) if text is not None else 0
        size = len(ckpt["state_dict"]["item_item"])
        return NextBasketNet(self.n_items, p.dim, p.hidden, p.dropout, p.input_dropout, text_dim, size)

    def input_example(self, user_ids: Sequence[str] | None = None) -> torch.Tensor:
        """A (B, 4, n_items) float tensor valid for ``module.forward`` (for mlflow.pytorch.log_model)."""
        users = list(user_ids) if user_ids is not None else [str(u) for u in self.user_index[:2]]
        idx = self.user_index.get_indexer(pd.Index(users))
        idx = idx[idx >= 0]
        if len(idx) == 0:
            return torch.zeros(1, N_FEATURES, self.n_items)
        return self.history.dense(idx, self.n_items, torch.device("cpu"))
