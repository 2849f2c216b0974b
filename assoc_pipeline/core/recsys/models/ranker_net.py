"""The ranker's scoring network: standardised features (+ a learned item embedding) -> one logit per row.

Shared by the next-basket ranker and its completion head (:mod:`completion_head`); a file of its own
so both import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from assoc_pipeline.core.errors import InputError


class RankerNet(nn.Module):
    """(rows, n_features) features + item index -> (rows,) logits; standardisation is inside."""

    def __init__(
        self, n_features: int, n_items: int, hidden: int, layers: int, dropout: float, item_dim: int
    ):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("keep", torch.ones(n_features))  # 0 = feature ablated (held at its mean)
        self.item_dim = item_dim
        self.hold_items = False  # True: every item reads the mean embedding (a reading, never saved)
        if item_dim:
            self.item_embedding = nn.Embedding(n_items, item_dim)
            nn.init.normal_(self.item_embedding.weight, std=0.01)
        blocks: list[nn.Module] = []
        width = n_features + item_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        self.mlp = nn.Sequential(*blocks, nn.Linear(width, 1))
        self.linear = nn.Linear(n_features, 1)  # a linear path beside the MLP: stable from step 0

    def score(self, x: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(rows, n_features) raw features and (rows,) item indices -> (rows,) logits."""
        z = (x - self.mean) / self.std * self.keep
        if self.item_dim:
            e = self.item_embedding(items)
            if getattr(self, "hold_items", False):  # modules pickled before it existed lack it
                e = self.item_embedding.weight.mean(0).expand_as(e)
            z_all = torch.cat([z, e], dim=-1)
        else:
            z_all = z
        return (self.mlp(z_all) + self.linear(z)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-tensor form (export / mlflow): the features with the item index as the last column."""
        return self.score(x[:, :-1], x[:, -1].long())


def group_mask(drop_groups: str, groups_of: dict[str, str], setting: str) -> np.ndarray:
    """1 per feature of ``groups_of`` (feature -> group), 0 for the features of the named groups
    (comma-separated); an unknown group is an error naming the ranker's ``setting``."""
    groups = {g.strip() for g in drop_groups.split(",") if g.strip()}
    unknown = groups - set(groups_of.values())
    if unknown:
        raise InputError(
            f"ranker config {setting}: unknown group(s) {', '.join(sorted(unknown))}; "
            f"expected some of {', '.join(dict.fromkeys(groups_of.values()))}"
        )
    return np.array([group not in groups for group in groups_of.values()], dtype=np.float32)


@contextmanager
def held_at_mean(net: RankerNet, keep: np.ndarray | None = None, items: bool = False) -> Iterator[RankerNet]:
    """``net`` scoring with the features where ``keep`` is 0 at their training mean (and, with
    ``items``, every item at the mean learned embedding); restored on exit. What the network
    reads, without retraining: the features it was trained on stay, only their values are held."""
    saved = net.keep.clone()
    try:
        if keep is not None:
            with torch.no_grad():
                net.keep.mul_(torch.as_tensor(keep, dtype=net.keep.dtype, device=net.keep.device))
        net.hold_items = items
        yield net
    finally:
        with torch.no_grad():
            net.keep.copy_(saved)
        net.hold_items = False
