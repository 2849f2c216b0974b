"""Feature rows of many (user, candidate) lists in one CSR layout: what the ranker trains on and scores.

Why a layout of its own: training concatenates lists from a dozen prediction times, a mini-batch
takes a few hundred lists at random, and the list cache (:mod:`ranking_list_cache`) hands out the
lists of some users out of a larger set; all of that is row arithmetic on ``indptr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def rows_of_lists(indptr: np.ndarray, lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the given lists (in that order) and, per row, the list's position in ``lists``."""
    starts, lens = indptr[lists], indptr[lists + 1] - indptr[lists]
    seg = np.repeat(np.arange(len(lists)), lens)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]])
    rows = np.repeat(starts - offsets, lens) + np.arange(int(lens.sum()))
    return rows, seg


@dataclass
class RankingLists:
    """Feature rows of many candidate lists (CSR over lists), with labels when known."""

    features: np.ndarray  # (n_rows, n_features) float32
    items: np.ndarray  # (n_rows,) item index
    indptr: np.ndarray  # (n_lists + 1,)
    labels: np.ndarray  # (n_rows,) float32, 1 = in the target basket (zeros when scoring)
    user_ids: np.ndarray  # (n_lists,)
    at_days: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n_lists,) prediction day

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def list_of_row(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.features, self.items, self.indptr, self.labels, self.at_days))

    def take(self, lists: np.ndarray) -> RankingLists:
        """The given lists (positions), in that order, as new arrays."""
        lists = np.asarray(lists, dtype=np.int64)
        rows, _ = rows_of_lists(self.indptr, lists)
        sizes = np.diff(self.indptr)[lists]
        return RankingLists(
            self.features[rows],
            self.items[rows],
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            self.labels[rows],
            self.user_ids[lists],
            self.at_days[lists],
        )

    @staticmethod
    def concat(parts: Sequence[RankingLists], n_features: int) -> RankingLists:
        if not parts:
            return RankingLists(
                np.zeros((0, n_features), np.float32),
                np.zeros(0, np.int64),
                np.zeros(1, np.int64),
                np.zeros(0, np.float32),
                np.zeros(0, dtype=object),
                np.zeros(0),
            )
        sizes = np.concatenate([np.diff(p.indptr) for p in parts])
        return RankingLists(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.items for p in parts]),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.user_ids for p in parts]),
            np.concatenate([p.at_days for p in parts]),
        )
