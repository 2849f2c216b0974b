"""The DNN's per-item history features: each user's full history (scoring) and every history
prefix of every user (the next-basket training examples).

Training examples are kept as one block per user, never concatenated into one set: a
concatenation holds every prefix twice at its peak (the per-user pieces and the result), and the
prefixes are what grows with a log (each example repeats its user's items so far). On a
20,000-user, 2M-basket log the concatenated form took the DNN past 11.9 GB before training began.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from assoc_pipeline.core.data.baskets import BasketSet

N_FEATURES = 4  # per item: log1p(count), decayed count, share of history baskets, recency


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
    """Per-row sparse item features: CSR pattern (indptr, indices) with (nnz, 4) values."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        pos = (
            np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)]) if len(rows) else []
        )
        pos = np.asarray(pos, dtype=np.int64)
        return ends - starts, self.indices[pos], self.values[pos]


@dataclass
class ExampleFeatures(SparseRows):
    """Training examples: example ``e`` is row ``row[e]`` of ``blocks[block[e]]`` (one block per
    user, int32 item indices)."""

    blocks: list[HistoryFeatures]
    block: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.block)

    def entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lens = np.zeros(len(rows), dtype=np.int64)
        indices, values = [], []
        for n, (b, j) in enumerate(zip(self.block[rows].tolist(), self.row[rows].tolist(), strict=True)):
            features = self.blocks[b]
            start, end = features.indptr[j], features.indptr[j + 1]
            lens[n] = end - start
            indices.append(features.indices[start:end])
            values.append(features.values[start:end])
        if not indices:
            return lens, np.zeros(0, dtype=np.int64), np.zeros((0, N_FEATURES), dtype=np.float32)
        return lens, np.concatenate(indices), np.concatenate(values)


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


PREFIX_CHUNK = 256  # history prefixes per dense (baskets x items) block of one user


def _features_for_user(
    bs: BasketSet,
    basket_days: np.ndarray,
    rows: np.ndarray,
    half_life: float,
    max_hist: int,
    all_prefixes: bool,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Features of each history prefix of one user (prefix t = baskets before t, t >= 1).

    Returns (item indices, feature values, target items) per prefix; with ``all_prefixes`` False
    only the full history (for scoring) and no target. A prefix reads only its last ``max_hist``
    baskets, so the dense (baskets x items) block is built for :data:`PREFIX_CHUNK` prefixes at a
    time and their window: a heavy user (a wholesaler, a shared loyalty card: 50k baskets over
    39k items in the 100k-item scale log, 2.9 GB as one block) costs what an ordinary one does.
    """
    m_all = bs.matrix[rows]
    n = len(rows)
    days = basket_days[rows]
    out_items, out_vals, out_targets = [], [], []
    ends = np.arange(1, n) if all_prefixes else np.array([n])
    for c in range(0, len(ends), PREFIX_CHUNK):
        chunk = ends[c : c + PREFIX_CHUNK]
        first, stop = max(0, int(chunk[0]) - max_hist), int(chunk[-1])
        m = m_all[first:stop]
        items, local = np.unique(m.indices, return_inverse=True)
        x = np.zeros((stop - first, len(items)), dtype=np.float32)
        x[np.repeat(np.arange(stop - first), np.diff(m.indptr)), local] = 1.0
        for t in map(int, chunk):
            lo = max(0, t - max_hist)
            hx = x[lo - first : t - first]
            w = np.power(0.5, (days[t - 1] - days[lo:t]) / half_life).astype(np.float32)
            cnt = hx.sum(0)
            keep = np.flatnonzero(cnt > 0)
            dec = (w[:, None] * hx).sum(0)
            rec = (w[:, None] * hx).max(0)
            vals = np.stack([np.log1p(cnt), dec, cnt / (t - lo), rec], axis=1)[keep]
            out_items.append(items[keep])
            out_vals.append(vals.astype(np.float32, copy=False))
            if all_prefixes:
                out_targets.append(m_all.indices[m_all.indptr[t] : m_all.indptr[t + 1]].astype(np.int64))
    return out_items, out_vals, out_targets


def pack_features(
    items: list[np.ndarray], vals: list[np.ndarray], index_dtype: type = np.int64
) -> HistoryFeatures:
    """Per-row item indices and values as one CSR block (no rows: an empty block)."""
    indptr = np.zeros(len(items) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i in items])
    indices = np.concatenate(items).astype(index_dtype) if items else np.zeros(0, dtype=index_dtype)
    values = np.concatenate(vals).astype(np.float32) if vals else np.zeros((0, N_FEATURES), dtype=np.float32)
    return HistoryFeatures(indptr, indices, values)


def user_history_features(
    bs: BasketSet, half_life_days: float, max_history_baskets: int
) -> tuple[pd.Index, HistoryFeatures]:
    """Each known user's full-history features (what next-basket scoring reads)."""
    ids, groups = _user_groups(bs)
    days = _basket_days(bs)
    items, vals = [], []
    for rows in groups:
        i, v, _ = _features_for_user(bs, days, rows, half_life_days, max_history_baskets, False)
        items += i
        vals += v
    return pd.Index(ids.astype(str)), pack_features(items, vals)


def next_basket_examples(
    bs: BasketSet, half_life_days: float, max_history_baskets: int
) -> tuple[ExampleFeatures, list[np.ndarray]]:
    """(history before basket t, basket t) for every user and every basket after their first."""
    _, groups = _user_groups(bs)
    days = _basket_days(bs)
    blocks, block, row, targets = [], [], [], []
    for rows in groups:
        if len(rows) < 2:
            continue
        i, v, t = _features_for_user(bs, days, rows, half_life_days, max_history_baskets, True)
        block.append(np.full(len(t), len(blocks), dtype=np.int32))
        row.append(np.arange(len(t), dtype=np.int32))
        blocks.append(pack_features(i, v, index_dtype=np.int32))
        targets += t
    empty = np.zeros(0, dtype=np.int32)
    return ExampleFeatures(
        blocks, np.concatenate(block) if block else empty, np.concatenate(row) if row else empty
    ), targets
