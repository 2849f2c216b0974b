"""Recurrent next-basket recommender: a GRU over each user's baskets on top of a repeat prior.

This is the seeds' "RNN for temporal associations": the association it can learn and the other
models cannot is *ordered*, "item A in one basket -> item B in the next one" (a refill cycle, a
follow-up purchase). The user's baskets, in time order, are read by a GRU; each basket enters as
the mean embedding of its items plus log(1 + days since the previous basket) and log(1 + size).
The state after basket t, concatenated with a skip connection from basket t's own embedding (so
"A now -> B next" is a bilinear term that need not pass through the recurrence first), scores
every item for basket t + 1 (dot product with output item vectors plus an item bias); training
maximises the multinomial (softmax) likelihood of the items of basket t + 1, for every user and
every position t >= 1.

Why a repeat prior: in grocery/gift retail most of a user's next basket repeats their own
history (Li et al. 2023), so a network that has to rediscover "people re-buy what they bought"
through its hidden state loses to personal top-frequency (see ``dnn.py``). The logits therefore
add, for items the user already bought in the history read so far, a learned linear function of
log1p(count), share of history baskets, time-decayed recency and "in the latest basket", plus a
per-item repeat propensity and a GRU-dependent shift (how repeat-prone this moment of the
sequence is). The prior starts at personal top-frequency + recency, the output item vectors at
zero and the bias at log popularity, so at step 0 the model ranks like top-frequency (with a
popularity fall-back) and the GRU only adds the sequential signal on top.

Histories are truncated to the last ``max_baskets`` baskets; in training each user's sequence is
cut into windows of ``max_baskets + 1`` baskets (targets = all but the first basket of a window),
so every target sees at most ``max_baskets`` baskets of history, as in scoring. Windows of similar
length are batched together, padded at the end and run through the GRU without packing (a GRU is
causal: trailing padding never changes an earlier output). Users with no history (or anonymous
baskets, which are skipped) get the output bias: learned popularity.

Basket completion reads the partial basket as a one-basket history and returns the next-basket
scores: the model is not trained for completion (no within-basket examples), so expect it to be
weak there; it is a next-basket model. On the bundled Online Retail sample the GRU path adds
nothing measurable over the prior (validation NDCG@10 equal with or without it); on data with
ordered patterns (refills, follow-ups) it is what lifts the due item above the user's regulars.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.dnn import multinomial_loss
from assoc_pipeline.core.recsys.models.trained import RecommenderParams, TrainedRecommender
from assoc_pipeline.core.recsys.models.training import (
    EpochCallback,
    StepContext,
    next_basket_validation,
    train_loop,
)

NO_PURCHASE_DAY = -1e9  # "last bought" day of items not in the history (recency decays to 0)


@dataclass
class SequenceParams(RecommenderParams):
    """Hyper-parameters of the GRU next-basket model (mirrored as Dagster config)."""

    epochs: int = 10
    patience: int = 3
    dim: int = 64  # item embedding size (input and output)
    hidden: int = 128  # GRU state size
    max_baskets: int = 50  # history baskets read per user (the most recent ones)
    dropout: float = 0.2  # on basket embeddings and on the GRU output
    lr: float = 2e-3
    weight_decay: float = 1e-5
    batch_size: int = 256  # target baskets per step (windows of similar length are batched together)
    half_life_days: float = 90.0  # time decay of the recency feature of the repeat prior
    clip_norm: float = 5.0


# --------------------------------------------------------------------------- data
@dataclass
class BasketSequences:
    """Each known user's baskets in time order: users -> baskets -> items (two CSR levels).

    ``indptr`` (n_users + 1) indexes baskets, ``basket_indptr`` (n_baskets + 1) indexes ``items``,
    ``days`` (n_baskets,) is each basket's time in days since the epoch.
    """

    user_ids: pd.Index
    indptr: np.ndarray
    basket_indptr: np.ndarray
    items: np.ndarray
    days: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def batch(self, starts: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded windows of baskets ``[start, start + length)``: items (B, T, K) and days (B, T).

        ``items`` holds item index + 1 (0 = padding), ``days`` counts from each window's first
        basket (0 in padding).
        """
        starts = np.asarray(starts, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        n, t_max = len(starts), max(int(lengths.max(initial=0)), 1)
        valid = np.arange(t_max)[None, :] < lengths[:, None]
        bids = (starts[:, None] + np.arange(t_max)[None, :])[valid]
        slots = np.flatnonzero(valid.ravel())
        lo, sizes = self.basket_indptr[bids], np.diff(self.basket_indptr)[bids]
        k_max = max(int(sizes.max(initial=0)), 1)
        first = np.cumsum(sizes) - sizes
        total = int(sizes.sum())
        within = np.arange(total) - np.repeat(first, sizes)
        pos = np.repeat(lo, sizes) + within
        items = np.zeros((n * t_max, k_max), dtype=np.int64)
        items[np.repeat(slots, sizes), within] = self.items[pos] + 1
        days = np.zeros(n * t_max, dtype=np.float64)
        days[slots] = self.days[bids]
        days = days.reshape(n, t_max)
        days = np.where(valid, days - days[:, :1], 0.0)
        return (
            torch.as_tensor(items.reshape(n, t_max, k_max)),
            torch.as_tensor(days.astype(np.float32)),
        )


def _days(times: pd.Series) -> np.ndarray:
    t = pd.to_datetime(times)
    if t.dt.tz is not None:
        t = t.dt.tz_convert(None)
    sec = t.to_numpy().astype("datetime64[s]")
    out = sec.astype(np.float64) / 86400.0
    out[np.isnat(sec)] = 0.0
    return out


def basket_sequences(bs: BasketSet, max_baskets: int | None = None) -> BasketSequences:
    """Known users' non-empty baskets sorted by (user, basket_time, row); anonymous baskets skipped.

    With ``max_baskets`` only each user's most recent ``max_baskets`` baskets are kept.
    """
    users = bs.baskets["user_id"]
    sizes = np.diff(bs.matrix.indptr)
    keep = np.flatnonzero(users.notna().to_numpy() & (sizes > 0))
    ids = users.iloc[keep].astype(str).to_numpy().astype(object)
    days = _days(bs.baskets["basket_time"])[keep]
    order = np.lexsort((keep, days, ids))
    rows, ids, days = keep[order], ids[order], days[order]
    uniq, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if max_baskets is not None and len(rows):
        pos = np.arange(len(rows)) - np.repeat(first, counts)
        tail = pos >= np.repeat(counts - max_baskets, counts)
        rows, days = rows[tail], days[tail]
        counts = np.minimum(counts, max_baskets)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    m = bs.matrix[rows]
    return BasketSequences(
        user_ids=pd.Index(np.asarray(uniq, dtype=str)),
        indptr=indptr,
        basket_indptr=m.indptr.astype(np.int64),
        items=m.indices.astype(np.int64),
        days=days.astype(np.float64),
    )


def training_windows(seqs: BasketSequences, max_baskets: int) -> tuple[np.ndarray, np.ndarray]:
    """(first basket, length) of each training window: users cut into ``max_baskets + 1`` baskets.

    Consecutive windows overlap by one basket, so each basket after a user's first is a target
    exactly once, predicted from at most ``max_baskets`` earlier baskets.
    """
    lens = seqs.lengths
    n_win = np.where(lens >= 2, -(-(lens - 1) // max_baskets), 0)
    user = np.repeat(np.arange(len(lens)), n_win)
    k = np.arange(int(n_win.sum())) - np.repeat(np.cumsum(n_win) - n_win, n_win)
    starts = seqs.indptr[user] + k * max_baskets
    lengths = np.minimum(max_baskets + 1, lens[user] - k * max_baskets)
    return starts.astype(np.int64), lengths.astype(np.int64)


def length_batches(cost: np.ndarray, budget: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Groups of sequence indices of similar ``cost`` (length), each with count x max cost <= ``budget``.

    With ``rng`` the order inside equal costs and the order of the groups are shuffled.
    """
    cost = np.maximum(np.asarray(cost, dtype=np.int64), 1)
    n = len(cost)
    tie = rng.permutation(n) if rng is not None else np.arange(n)
    order = np.lexsort((tie, cost))
    batches, s = [], 0
    for e in range(1, n + 1):
        # sorted ascending: the newest member is the longest of the group
        if e - s > 1 and (e - s) * int(cost[order[e - 1]]) > budget:
            batches.append(order[s : e - 1])
            s = e - 1
    if s < n:
        batches.append(order[s:])
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


# --------------------------------------------------------------------------- network
class SequenceNet(nn.Module):
    """GRU over baskets + repeat prior. ``forward(x)`` -> (B, n_items) next-basket logits.

    ``x`` (B, T, K + 1) float: ``x[..., :K]`` = item index + 1 of each basket's items (0 = padding),
    ``x[..., K]`` = the basket's day (any origin); a user's baskets are left-aligned in time order
    and a basket with no items is padding. The logits are those of the basket after the last one.
    """

    def __init__(self, n_items: int, dim: int, hidden: int, dropout: float, half_life_days: float) -> None:
        super().__init__()
        self.n_items = n_items
        self.half_life_days = float(half_life_days)
        self.item_in = nn.EmbeddingBag(n_items + 1, dim, mode="mean", padding_idx=0)
        nn.init.normal_(self.item_in.weight, std=0.1)
        with torch.no_grad():
            self.item_in.weight[0].zero_()
        self.gru = nn.GRU(dim + 2, hidden, batch_first=True)
        self.in_drop = nn.Dropout(dropout)
        self.out_drop = nn.Dropout(dropout)
        self.skip_norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(hidden + dim, dim)
        # zero output vectors: the sequential path starts as a residual of 0 on the priors
        self.item_out = nn.Parameter(torch.zeros(n_items, dim))
        self.bias = nn.Parameter(torch.zeros(n_items))  # set to log popularity in ``fit``
        # repeat logit of a bought item: w . [log1p(count), share, recency, in latest basket] + b
        # (starts as personal top-frequency + recency), + per-item propensity, + GRU shift
        self.repeat_w = nn.Parameter(torch.tensor([4.0, 0.0, 2.0, 0.0]))
        self.repeat_b = nn.Parameter(torch.tensor(3.0))
        self.repeat_item = nn.Parameter(torch.zeros(n_items))
        self.repeat_gate = nn.Linear(hidden + dim, 1)
        nn.init.zeros_(self.repeat_gate.weight)
        nn.init.zeros_(self.repeat_gate.bias)

    # the pieces, shared by training (every position) and scoring (last position)
    def encode(self, items: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
        """(B, T, hidden + dim): GRU state and latest basket embedding after each basket.

        ``items`` (B, T, K) long (item index + 1, 0 = padding), ``days`` (B, T).
        """
        b, t, k = items.shape
        emb = self.item_in(items.reshape(b * t, k)).reshape(b, t, -1)
        gap = torch.diff(days, dim=1, prepend=days[:, :1]).clamp(min=0)
        size = (items > 0).sum(-1).to(emb.dtype)
        x = torch.cat(
            [self.in_drop(emb), torch.log1p(gap).unsqueeze(-1), torch.log1p(size).unsqueeze(-1)], -1
        )
        h, _ = self.gru(x)
        # skip connection from the latest basket: "A now -> B next" is then a bilinear term that
        # does not have to travel through the recurrent state first (faster, steadier learning)
        return torch.cat([h, self.skip_norm(emb)], -1)

    def history_stacks(
        self, items: torch.Tensor, days: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per position t: multi-hot of basket t, counts and last purchase day over baskets <= t."""
        b, t, _ = items.shape
        x = torch.zeros(b, t, self.n_items + 1, device=items.device)
        x.scatter_(2, items, 1.0)
        x = x[..., 1:]
        counts = x.cumsum(1)
        last = torch.where(x > 0, days.unsqueeze(-1), torch.full_like(x, NO_PURCHASE_DAY)).cummax(1).values
        return x, counts, last

    def head(
        self,
        h: torch.Tensor,
        x: torch.Tensor,
        counts: torch.Tensor,
        last: torch.Tensor,
        day: torch.Tensor,
        n_hist: torch.Tensor,
    ) -> torch.Tensor:
        """(P, n_items) logits from P states and the history stacks at the same positions."""
        has = (counts > 0).to(counts.dtype)
        rec = torch.exp2(-(day.unsqueeze(-1) - last).clamp(min=0) / self.half_life_days) * has
        share = counts / n_hist.unsqueeze(-1)
        w = self.repeat_w
        rep = w[0] * torch.log1p(counts) + w[1] * share + w[2] * rec + w[3] * x
        rep = has * (rep + self.repeat_b + self.repeat_item + self.repeat_gate(h).float())
        seq = self.proj(self.out_drop(h)) @ self.item_out.T + self.bias
        return seq.float() + rep

    def logits_at(
        self, items: torch.Tensor, days: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for the basket after position (rows[i], cols[i]); also the (B, T, n_items) multi-hot."""
        h = self.encode(items, days)
        x, counts, last = self.history_stacks(items, days)
        logits = self.head(
            h[rows, cols],
            x[rows, cols],
            counts[rows, cols],
            last[rows, cols],
            days[rows, cols],
            (cols + 1).to(x.dtype),
        )
        return logits, x

    def last_stacks(
        self, items: torch.Tensor, days: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`history_stacks` where scoring reads them, after each sequence's last basket: the
        last basket's multi-hot, and counts and last purchase day over the whole window, each
        (B, n_items). Padding holds no item, so whole-window totals equal the running ones at the
        last basket, exactly. Scattered from the item indices (a basket's items are distinct):
        the (B, T, n_items) multi-hot was 178 MB per batch at 22k items, built twice."""
        b, t, k = items.shape
        flat = items.reshape(b, t * k)
        width = self.n_items + 1  # column 0 takes the padding, then is dropped
        counts = torch.zeros(b, width, device=items.device).scatter_add_(
            1, flat, torch.ones(flat.shape, device=items.device)
        )[:, 1:]
        # days count up from each window's first basket (>= 0): an unbought item's 0 is replaced below
        bought_on = days.unsqueeze(-1).expand(b, t, k).reshape(b, t * k).to(counts.dtype)
        last = torch.zeros(b, width, device=items.device).scatter_reduce_(1, flat, bought_on, "amax")[:, 1:]
        last = torch.where(counts > 0, last, NO_PURCHASE_DAY)
        final = items[torch.arange(b, device=items.device), lengths.long() - 1]
        x = torch.zeros(b, width, device=items.device).scatter_(1, final, 1.0)[:, 1:]
        return x, counts, last

    def score_last(self, items: torch.Tensor, days: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, n_items) logits for the basket after each sequence's last one (``lengths`` >= 1);
        the same as :meth:`logits_at` at those positions."""
        rows = torch.arange(len(lengths), device=items.device)
        cols = lengths.long() - 1
        x, counts, last = self.last_stacks(items, days, lengths)
        h = self.encode(items, days)
        return self.head(h[rows, cols], x, counts, last, days[rows, cols], (cols + 1).to(x.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        items = x[..., :-1].round().long()
        days = x[..., -1].float()
        lengths = (items > 0).any(-1).sum(1).clamp(min=1)
        return self.score_last(items, days, lengths)


# --------------------------------------------------------------------------- recommender
class SequenceRecommender(TrainedRecommender):
    """The GRU above as a :class:`Recommender`; each user's recent baskets are kept for scoring."""

    name = "sequence_gru"
    kind = "sequence_gru"
    params_cls = SequenceParams
    reads_history = True

    def __init__(self, params: SequenceParams | None = None) -> None:
        super().__init__(params)
        self.sequences: BasketSequences = _empty_sequences()

    @property
    def user_index(self) -> pd.Index:
        return self.sequences.user_ids

    def fit(
        self,
        train: BasketSet,
        validation: BasketSet | None = None,
        *,
        on_epoch: EpochCallback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        init_from: Any = None,
    ) -> Self:
        """Train on ``train``; with ``validation`` stop early on next-basket NDCG@10 of its users."""
        if init_from is not None:
            raise ValueError("sequence model: warm start is not supported")
        p = self.params
        if p.max_baskets < 1:
            raise ValueError(f"sequence model: max_baskets must be >= 1, got {p.max_baskets}")
        device = self._start_fit(train)
        seqs = basket_sequences(train)
        starts, lengths = training_windows(seqs, p.max_baskets)
        if len(starts) == 0:
            raise ValueError("sequence model: no training examples (no user has two baskets)")
        self.sequences = basket_sequences(train, p.max_baskets)
        self.module = SequenceNet(self.n_items, p.dim, p.hidden, p.dropout, p.half_life_days)
        pop = np.asarray(train.matrix.getnnz(axis=0), dtype=np.float64)
        log_pop = np.log1p(pop)
        with torch.no_grad():
            self.module.bias.copy_(torch.as_tensor(log_pop - log_pop.mean(), dtype=torch.float32))
        self.module.to(device)
        module = self.module
        opt = torch.optim.AdamW(module.parameters(), lr=p.lr, weight_decay=p.weight_decay)

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            total, seen = 0.0, 0
            for group in length_batches(lengths - 1, p.batch_size, ctx.rng):
                if ctx.out_of_time():
                    break
                items, days = seqs.batch(starts[group], lengths[group])
                items, days = items.to(device), days.to(device)
                n_out = torch.as_tensor(lengths[group] - 1, device=device)
                t = items.shape[1]
                mask = torch.arange(t - 1, device=device).unsqueeze(0) < n_out.unsqueeze(1)
                rows, cols = mask.nonzero(as_tuple=True)
                with ctx.autocast():
                    logits, x = module.logits_at(items, days, rows, cols)
                loss = multinomial_loss(logits, x[rows, cols + 1])
                total += ctx.optimize(loss, opt, clip_norm=p.clip_norm) * len(rows)
                seen += len(rows)
            return {"loss": total / max(seen, 1)}

        validate = (
            next_basket_validation(self, train, validation, "sequence model")
            if validation is not None
            else None
        )

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

    def with_history(self, baskets: BasketSet) -> Self:
        """Replace the users' basket sequences (e.g. train_full for the test period); no retraining."""
        if baskets.n_items != self.n_items:
            raise ValueError("sequence model: history baskets must share the model's vocabulary")
        self.sequences = basket_sequences(baskets, self.params.max_baskets)
        return self

    # ---------------------------------------------------------------- scoring
    def _score_sequences(
        self, seqs: BasketSequences, starts: np.ndarray, lengths: np.ndarray, budget: int = 2048
    ) -> np.ndarray:
        """Logits after the last basket of each window (grouped by length to limit padding)."""
        module = self._require()
        dev = next(module.parameters()).device
        out = np.empty((len(starts), self.n_items), dtype=np.float32)
        was = module.training
        module.eval()
        with torch.no_grad():
            for group in length_batches(lengths, budget, None):
                items, days = seqs.batch(starts[group], lengths[group])
                lens = torch.as_tensor(lengths[group], device=dev)
                out[group] = module.score_last(items.to(dev), days.to(dev), lens).float().cpu().numpy()
        module.train(was)
        return out

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        """Scores after each user's recent baskets; users without history get the output bias."""
        module = self._require()
        seqs = self.sequences
        idx = seqs.user_ids.get_indexer(pd.Index([str(u) for u in user_ids], dtype=str))
        out = np.empty((len(idx), self.n_items), dtype=np.float32)
        out[:] = module.bias.detach().float().cpu().numpy()
        known = np.flatnonzero(idx >= 0)
        if len(known):
            u = idx[known]
            out[known] = self._score_sequences(seqs, seqs.indptr[u], seqs.lengths[u])
        return out

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        """Scores with each partial basket read as a one-basket history."""
        seqs = _one_basket_sequences(partial_baskets)
        n = len(partial_baskets)
        return self._score_sequences(seqs, np.arange(n, dtype=np.int64), np.ones(n, dtype=np.int64))

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        """The users' basket sequences: needed to score users again."""
        s = self.sequences
        return {
            "user_ids": [str(u) for u in s.user_ids],
            "seq_indptr": torch.as_tensor(s.indptr),
            "seq_basket_indptr": torch.as_tensor(s.basket_indptr),
            "seq_items": torch.as_tensor(s.items),
            "seq_days": torch.as_tensor(s.days),
        }

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.sequences = BasketSequences(
            user_ids=pd.Index(list(ckpt["user_ids"]), dtype=str),
            indptr=ckpt["seq_indptr"].numpy(),
            basket_indptr=ckpt["seq_basket_indptr"].numpy(),
            items=ckpt["seq_items"].numpy(),
            days=ckpt["seq_days"].numpy(),
        )

    def _build_module(self, ckpt: dict[str, Any]) -> SequenceNet:
        p = self.params
        return SequenceNet(self.n_items, p.dim, p.hidden, p.dropout, p.half_life_days)

    def input_example(self, user_ids: Sequence[str] | None = None) -> torch.Tensor:
        """A (B, T, K + 1) float tensor valid for ``module.forward`` (for mlflow.pytorch.log_model)."""
        s = self.sequences
        users = list(user_ids) if user_ids is not None else [str(u) for u in s.user_ids[:2]]
        idx = s.user_ids.get_indexer(pd.Index(users, dtype=str))
        idx = idx[idx >= 0]
        if len(idx) == 0:
            return torch.zeros(1, 1, 2)
        items, days = s.batch(s.indptr[idx], s.lengths[idx])
        return torch.cat([items.float(), days.unsqueeze(-1)], dim=-1)


def _empty_sequences() -> BasketSequences:
    z = np.zeros(1, dtype=np.int64)
    return BasketSequences(pd.Index([], dtype=str), z, z, np.zeros(0, np.int64), np.zeros(0, np.float64))


def _one_basket_sequences(baskets: Sequence[np.ndarray]) -> BasketSequences:
    lens = np.fromiter((len(b) for b in baskets), dtype=np.int64, count=len(baskets))
    items = (
        np.concatenate([np.asarray(b, dtype=np.int64) for b in baskets])
        if lens.sum()
        else np.zeros(0, np.int64)
    )
    return BasketSequences(
        user_ids=pd.Index([str(i) for i in range(len(baskets))], dtype=str),
        indptr=np.arange(len(baskets) + 1, dtype=np.int64),
        basket_indptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        items=items,
        days=np.zeros(len(baskets), dtype=np.float64),
    )
