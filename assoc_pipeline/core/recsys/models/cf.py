"""Implicit-feedback collaborative filtering: matrix factorisation trained with BPR.

Why BPR: it optimises the ranking of bought over not-bought items directly (Rendle et al. 2009),
needs only positive interactions, and fits the shared mini-batch training loop (ALS does not).
Users x items come from the training baskets; items get a bias, so a user with few purchases
falls back to popularity. Basket completion uses item vectors: mean of the basket's vectors
dotted with every item vector (plus the bias).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.trained import RecommenderParams, TrainedRecommender
from assoc_pipeline.core.recsys.models.training import (
    EpochCallback,
    StepContext,
    next_basket_validation,
    train_loop,
)
from assoc_pipeline.core.recsys.models.warm_start import warm_start_from


@dataclass
class CFParams(RecommenderParams):
    """Hyper-parameters of the BPR matrix factorisation (mirrored as Dagster config)."""

    epochs: int = 40
    patience: int = 5
    dim: int = 64
    lr: float = 0.01
    l2: float = 1e-5  # penalty on the embeddings touched by a batch
    batch_size: int = 4096
    n_negatives: int = 4  # sampled negatives per positive (user, item) pair
    count_weighting: bool = True  # repeat-bought items are sampled as positives more often (log1p count)


class BPRModule(nn.Module):
    """User and item embeddings plus an item bias; ``forward(user_idx) -> (B, n_items)`` scores."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.bias = nn.Parameter(torch.zeros(n_items))
        nn.init.normal_(self.user.weight, std=0.05)
        nn.init.normal_(self.item.weight, std=0.05)

    def forward(self, user_idx: torch.Tensor) -> torch.Tensor:
        return self.user(user_idx) @ self.item.weight.T + self.bias

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of ``items`` (B,) or (B, n) for ``users`` (B,)."""
        u = self.user(users)
        v = self.item(items)
        if v.dim() == 3:
            return (u.unsqueeze(1) * v).sum(-1) + self.bias[items]
        return (u * v).sum(-1) + self.bias[items]

    def completion_scores(self, basket_multi_hot: torch.Tensor) -> torch.Tensor:
        """(B, n_items) scores from the mean item vector of each (multi-hot) partial basket."""
        n = basket_multi_hot.sum(-1, keepdim=True).clamp(min=1.0)
        q = (basket_multi_hot @ self.item.weight) / n
        return q @ self.item.weight.T + self.bias


def user_item_counts(bs: BasketSet) -> tuple[pd.Index, sp.csr_matrix]:
    """Known users (sorted ids) and their users x items purchase counts (baskets holding the item)."""
    users = bs.baskets["user_id"]
    known = users.notna().to_numpy()
    codes, uniq = pd.factorize(users[known].astype(str), sort=True)
    rows = np.flatnonzero(known)
    assign = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (codes, rows)), shape=(len(uniq), bs.n_baskets)
    )
    counts = (assign @ bs.matrix.astype(np.float32)).tocsr()
    counts.sort_indices()
    return pd.Index(np.asarray(uniq, dtype=str)), counts


class CFRecommender(TrainedRecommender):
    """BPR matrix factorisation as a :class:`Recommender` (next-basket for known users, completion)."""

    name = "cf_bpr"
    kind = "cf_bpr"
    params_cls = CFParams

    def __init__(self, params: CFParams | None = None) -> None:
        super().__init__(params)
        self.user_index: pd.Index = pd.Index([], dtype=str)

    # ---------------------------------------------------------------- training
    def fit(
        self,
        train: BasketSet,
        validation: BasketSet | None = None,
        *,
        on_epoch: EpochCallback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        init_from: CFRecommender | None = None,
    ) -> Self:
        """Train on ``train``; with ``validation`` stop early on next-basket NDCG@10 of its users.

        Without ``validation`` it trains exactly ``params.epochs`` (refit on train_full with the
        best epoch found on validation). ``init_from``: start from that model's user and item
        vectors (matched by id; new users and items start fresh) instead of random ones.
        """
        p = self.params
        device = self._start_fit(train)
        self.user_index, counts = user_item_counts(train)
        if counts.nnz == 0:
            raise ValueError("cf: the training baskets have no known users (user_id all null)")
        self.module = BPRModule(len(self.user_index), self.n_items, p.dim).to(device)
        if init_from is not None:
            self.warm_start = warm_start_from(
                self, init_from, item_rows=("item.weight", "bias"), user_rows=("user.weight",)
            )
        coo = counts.tocoo()
        pos_u = torch.as_tensor(coo.row, dtype=torch.long)
        pos_i = torch.as_tensor(coo.col, dtype=torch.long)
        weights = np.log1p(coo.data) if p.count_weighting else np.ones_like(coo.data)
        probs = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        opt = torch.optim.Adam(self.module.parameters(), lr=p.lr)
        gen = torch.Generator().manual_seed(p.seed)
        module = self.module

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            n = len(pos_u)
            if p.count_weighting:
                order = torch.multinomial(probs, n, replacement=True, generator=gen)
            else:
                order = torch.randperm(n, generator=gen)
            total, steps = 0.0, 0
            for start in range(0, n, p.batch_size):
                if ctx.out_of_time():
                    break
                idx = order[start : start + p.batch_size]
                u, i = pos_u[idx].to(device), pos_i[idx].to(device)
                j = torch.randint(0, self.n_items, (len(idx), p.n_negatives), generator=gen).to(device)
                with ctx.autocast():
                    s_pos = module.pair_scores(u, i)
                    s_neg = module.pair_scores(u, j)
                    loss = -nn.functional.logsigmoid(s_pos.unsqueeze(1) - s_neg).mean()
                    reg = (
                        module.user(u).pow(2).sum()
                        + module.item(i).pow(2).sum()
                        + module.item(j).pow(2).sum()
                    ) / len(idx)
                    loss_total = loss + p.l2 * reg
                total += ctx.optimize(loss_total, opt)
                steps += 1
            return {"loss": total / max(steps, 1)}

        validate = next_basket_validation(self, train, validation, "cf") if validation is not None else None

        self.result = train_loop(
            module,
            train_epoch,
            p,
            validate=validate,
            monitor="val_ndcg@10",
            on_epoch=on_epoch,
            checkpoint_path=checkpoint_path,
            device=device,
        )
        return self

    # ---------------------------------------------------------------- scoring
    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        """Scores for each user; unknown users get the item bias (learned popularity)."""
        module = self._require()
        dev = next(module.parameters()).device
        idx = self.user_index.get_indexer(pd.Index([str(u) for u in user_ids]))
        out = np.empty((len(idx), self.n_items), dtype=np.float32)
        was_training = module.training
        module.eval()
        with torch.no_grad():
            known = np.flatnonzero(idx >= 0)
            for s in range(0, len(known), 2048):
                rows = known[s : s + 2048]
                out[rows] = module(torch.as_tensor(idx[rows], device=dev)).float().cpu().numpy()
            out[idx < 0] = module.bias.detach().float().cpu().numpy()
        module.train(was_training)
        return out

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        module = self._require()
        dev = next(module.parameters()).device
        out = np.empty((len(partial_baskets), self.n_items), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, len(partial_baskets), 2048):
                chunk = partial_baskets[s : s + 2048]
                x = torch.zeros(len(chunk), self.n_items, device=dev)
                for r, b in enumerate(chunk):
                    x[r, torch.as_tensor(np.asarray(b, dtype=np.int64), device=dev)] = 1.0
                out[s : s + len(chunk)] = module.completion_scores(x).float().cpu().numpy()
        return out

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        return {"user_ids": [str(u) for u in self.user_index]}

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.user_index = pd.Index(list(ckpt["user_ids"]), dtype=str)

    def _build_module(self, ckpt: dict[str, Any]) -> BPRModule:
        return BPRModule(len(self.user_index), self.n_items, self.params.dim)

    def input_example(self, n: int = 2) -> torch.Tensor:
        """A valid input for ``module.forward`` (user indices), e.g. for mlflow.pytorch.log_model."""
        return torch.arange(min(n, max(len(self.user_index), 1)), dtype=torch.long)
