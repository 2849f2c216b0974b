"""The DNN's per-item history features: each user's full history (scoring) and every history
prefix of every user (the next-basket training examples).

A row's features come from a *window* of one user's baskets (at most ``max_history_baskets``,
the most recent before the row's time) and are computed when a batch reads them
(:class:`BasketWindows`). Training examples are therefore never materialised: on a 20,000-user,
2M-basket log every prefix kept as features took 2.5 GB and 100 s before the first step, while
a 30 s training budget reads a fraction of them. Features per item of a window:
log1p(count), time-decayed count, share of the window's baskets, recency (the decayed weight
of its latest purchase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.index_ranges import ranges, row_entries

N_FEATURES = 4  # per item: log1p(count), decayed count, share of history baskets, recency
SCORING_CHUNK = 1024  # users whose full-history features are computed at a time


class SparseRows:
    """Rows of sparse per-item features as the tensors the network reads; subclasses say where
    a row's entries are (:meth:`entries`)."""

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(entries per row, item index per entry, (entries, 4) values), rows in order."""
        raise NotImplementedError

    def dense(self, rows: np.ndarray, n_items: int, device: torch.device) -> torch.Tensor:
        """(len(rows), 4, n_items) dense feature tensor for some rows."""
        lens, indices, values = self.entries(rows)
        r = np.repeat(np.arange(len(rows)), lens)
        x = torch.zeros(len(rows), N_FEATURES, n_items)
        if len(indices):
            vals = torch.as_tensor(values, dtype=torch.float32)  # (nnz, 4)
            x[torch.as_tensor(r), :, torch.as_tensor(indices, dtype=torch.long)] = vals
        return x.to(device)

    def sparse(
        self, rows: np.ndarray, n_items: int, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(decayed history (B, n_items), row, item, features) for ``forward_sparse``."""
        lens, indices, values = self.entries(rows)
        r = torch.as_tensor(np.repeat(np.arange(len(rows)), lens), dtype=torch.long)
        c = torch.as_tensor(indices, dtype=torch.long)
        v = torch.as_tensor(values, dtype=torch.float32)
        hist = torch.zeros(len(rows), n_items)
        if len(indices):
            hist[r, c] = v[:, 1]
        return hist.to(device), r.to(device), c.to(device), v.to(device)


@dataclass
class HistoryFeatures(SparseRows):
    """Per-row sparse item features, stored: CSR pattern (indptr, indices) with (nnz, 4) values."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        pos = ranges(starts, ends)
        return ends - starts, self.indices[pos], self.values[pos]


@dataclass
class BasketWindows(SparseRows):
    """Rows whose features are computed from windows of the users' baskets when read.

    ``rows`` holds basket rows of ``matrix``, each user's in time order, one user after another;
    row ``r`` of this object reads positions ``start[r]:end[r]`` of it, and as a training example
    its target is the basket at position ``end[r]``. A basket's items are distinct (a
    :class:`BasketSet`'s matrix is binary).
    """

    matrix: sp.csr_matrix
    rows: np.ndarray
    days: np.ndarray  # basket time in days, per position of ``rows``
    start: np.ndarray
    end: np.ndarray
    half_life: float

    def __len__(self) -> int:
        return len(self.start)

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        start, end = self.start[rows], self.end[rows]
        pos = ranges(start, end)
        window = np.repeat(np.arange(len(rows)), end - start)
        weight = np.power(0.5, (self.days[end - 1][window] - self.days[pos]) / self.half_life).astype(
            np.float32
        )
        indptr = self.matrix.indptr
        baskets = self.rows[pos]
        sizes = indptr[baskets + 1] - indptr[baskets]
        items = self.matrix.indices[row_entries(indptr, baskets)].astype(np.int64)
        key = np.repeat(window, sizes) * self.matrix.shape[1] + items
        order = np.argsort(key, kind="stable")  # by (row, item), each in time order
        key, weight = key[order], np.repeat(weight, sizes)[order]
        if len(key) == 0:
            return np.zeros(len(rows), dtype=np.int64), key, np.zeros((0, N_FEATURES), dtype=np.float32)
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        count = np.diff(np.r_[first, len(key)]).astype(np.float32)
        decayed = np.zeros(len(first), dtype=np.float32)
        np.add.at(decayed, np.repeat(np.arange(len(first)), count.astype(np.int64)), weight)  # in time order
        recency = np.maximum.reduceat(weight, first)
        row = key[first] // self.matrix.shape[1]
        share = count / (end - start)[row].astype(np.float32)
        values = np.stack([np.log1p(count), decayed, share, recency], axis=1)
        lens = np.bincount(row, minlength=len(rows)).astype(np.int64)
        return lens, key[first] % self.matrix.shape[1], values

    def targets(self, rows: np.ndarray) -> list[np.ndarray]:
        """The basket each training example predicts (item indices)."""
        indptr, indices = self.matrix.indptr, self.matrix.indices
        return [indices[indptr[b] : indptr[b + 1]].astype(np.int64) for b in self.rows[self.end[rows]]]

    def stored(self, chunk: int = SCORING_CHUNK) -> HistoryFeatures:
        """Every row's features computed once (scoring reads each user many times)."""
        parts = [self.entries(np.arange(s, min(s + chunk, len(self)))) for s in range(0, len(self), chunk)]
        indptr = np.zeros(len(self) + 1, dtype=np.int64)
        if parts:
            np.cumsum(np.concatenate([p[0] for p in parts]), out=indptr[1:])
        return HistoryFeatures(
            indptr,
            np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64),
            np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, N_FEATURES), dtype=np.float32),
        )


def _user_groups(bs: BasketSet) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted known user ids and, per user, their basket rows in time order."""
    users = bs.baskets["user_id"]
    known = np.flatnonzero(users.notna().to_numpy())
    if len(known) == 0:
        return np.zeros(0, dtype=object), []
    ids = users.iloc[known].astype(str).to_numpy()
    times = pd.to_datetime(bs.baskets["basket_time"]).to_numpy()[known]
    order = np.lexsort((known, times, ids))
    ids, rows = ids[order], known[order]
    uniq, first = np.unique(ids, return_index=True)
    groups = np.split(rows, first[1:])
    return uniq.astype(object), groups


def _basket_days(bs: BasketSet) -> np.ndarray:
    """Each basket's time in days (float64), converted once for all users."""
    times = pd.to_datetime(bs.baskets["basket_time"]).to_numpy()
    return times.astype("datetime64[s]").astype(np.float64) / 86400.0


def _windows(
    bs: BasketSet, half_life_days: float, max_hist: int, examples: bool
) -> tuple[np.ndarray, BasketWindows]:
    """Users' windows: every prefix after a user's first basket (``examples``) or each whole history."""
    ids, groups = _user_groups(bs)
    rows = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    lens = np.fromiter(map(len, groups), dtype=np.int64, count=len(groups))
    offset = np.cumsum(lens) - lens
    if examples:  # position p predicts basket p from the user's baskets before it
        user = np.repeat(np.arange(len(groups)), lens)
        end = np.flatnonzero(np.arange(len(rows)) > offset[user])
        user = user[end]
    else:
        end, user = offset + lens, np.arange(len(groups))
    start = np.maximum(offset[user], end - max_hist)
    days = _basket_days(bs)[rows]
    return ids, BasketWindows(bs.matrix, rows.astype(np.int64), days, start, end, half_life_days)


def user_history_features(
    bs: BasketSet, half_life_days: float, max_history_baskets: int
) -> tuple[pd.Index, HistoryFeatures]:
    """Each known user's full-history features (what next-basket scoring reads)."""
    ids, windows = _windows(bs, half_life_days, max_history_baskets, examples=False)
    return pd.Index(ids.astype(str)), windows.stored()


def next_basket_examples(bs: BasketSet, half_life_days: float, max_history_baskets: int) -> BasketWindows:
    """(history before basket t, basket t) for every user and every basket after their first,
    user by user in time order; features and targets are read per batch."""
    return _windows(bs, half_life_days, max_history_baskets, examples=True)[1]


def pack_features(items: list[np.ndarray], vals: list[np.ndarray]) -> HistoryFeatures:
    """Per-row item indices and values as one CSR block (no rows: an empty block)."""
    indptr = np.zeros(len(items) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i in items])
    indices = np.concatenate(items).astype(np.int64) if items else np.zeros(0, dtype=np.int64)
    values = np.concatenate(vals).astype(np.float32) if vals else np.zeros((0, N_FEATURES), dtype=np.float32)
    return HistoryFeatures(indptr, indices, values)
