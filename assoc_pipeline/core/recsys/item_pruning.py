"""Item pruning for model training: rarely bought items are left out of a model's item tables.

A catalogue of 100k products gives every model 100k-row embedding tables (and EASE / the DNN a
dense item x item matrix), while most of those items were bought a handful of times: too rarely
to learn anything about them. ``min_item_baskets`` keeps the items bought in at least that many
baskets of the period a model is fitted on (the training part while validation scores it, then
everything before the test cutoff for the refit): the period a model is scored on never decides
what it keeps. The model is fitted on those items only and :class:`PrunedRecommender` puts its
scores back into the whole catalogue, every pruned item ranked below every kept one. Evaluation
still scores against every target item, so a pruned item bought in the test period counts as a
miss: pruning can only cost accuracy there, never hide it. The default, 1, keeps every item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.recommender import Recommender


def supported_items(baskets: BasketSet, min_baskets: int) -> np.ndarray:
    """Sorted indices of the items that appear in at least ``min_baskets`` baskets."""
    counts = np.diff(baskets.matrix.tocsc().indptr)
    return np.flatnonzero(counts >= min_baskets)


def restrict_items(baskets: BasketSet, kept: np.ndarray) -> BasketSet:
    """``baskets`` over the ``kept`` items only; baskets left without any item are dropped."""
    matrix = baskets.matrix[:, kept].tocsr()
    sizes = np.diff(matrix.indptr)
    rows = np.flatnonzero(sizes > 0)
    table = baskets.baskets.iloc[rows].reset_index(drop=True)
    if "n_items" in table:
        table = table.assign(n_items=sizes[rows].astype(np.int64))
    vocabulary = baskets.vocabulary.iloc[kept].reset_index(drop=True)
    if "item_idx" in vocabulary:
        vocabulary = vocabulary.assign(item_idx=np.arange(len(kept), dtype=np.int64))
    return BasketSet(matrix[rows], table, vocabulary)


@dataclass(frozen=True)
class ItemPruning:
    """The items a model is trained on (``kept`` indices into the full vocabulary of ``n_items``)."""

    kept: np.ndarray
    n_items: int

    @classmethod
    def of(cls, fitted_on: BasketSet, min_item_baskets: int) -> ItemPruning | None:
        """The pruning of ``min_item_baskets`` for a model fitted on ``fitted_on`` (None when it
        keeps every item)."""
        if min_item_baskets < 1:
            raise InputError(f"setting min_item_baskets={min_item_baskets} must be >= 1")
        if min_item_baskets == 1:  # every item, also those the period never saw (as without pruning)
            return None
        kept = supported_items(fitted_on, min_item_baskets)
        if len(kept) == fitted_on.n_items:
            return None
        if len(kept) == 0:
            raise InputError(
                f"setting min_item_baskets={min_item_baskets}: no item is in that many baskets "
                f"of the {fitted_on.n_baskets:,} training baskets; lower it"
            )
        return cls(kept, fitted_on.n_items)

    def baskets(self, bs: BasketSet) -> BasketSet:
        return restrict_items(bs, self.kept)

    def wrap(self, model: Recommender, item_ids: Sequence[str]) -> PrunedRecommender:
        return PrunedRecommender(model, self.kept, self.n_items, list(item_ids))


def unwrapped(model: Any) -> Any:
    """The trained model inside a :class:`PrunedRecommender` (e.g. to warm-start from it)."""
    return model.inner if isinstance(model, PrunedRecommender) else model


class PrunedRecommender(Recommender):
    """A model trained on the ``kept`` items, scoring the whole catalogue of ``n_items``.

    Pruned items score just below the row's lowest kept score (finite, so score blending and
    normalisation downstream stay well defined); partial baskets lose their pruned items before
    the inner model sees them. Training state (``module``, ``params``, ``result``,
    ``warm_start``) is the inner model's.
    """

    kind: ClassVar[str] = "pruned"

    def __init__(self, inner: Any, kept: np.ndarray, n_items: int, item_ids: list[str]) -> None:
        self.inner = inner
        self.kept = np.asarray(kept, dtype=np.int64)
        self.n_items = int(n_items)
        self.item_ids = item_ids  # the full vocabulary's ids (the inner model keeps the kept ones)
        self.name = inner.name
        self.supports_next_basket = inner.supports_next_basket
        self.supports_completion = inner.supports_completion
        self.reads_history = inner.reads_history  # type: ignore[misc]

    def __getattr__(self, attribute: str) -> Any:
        inner = self.__dict__.get("inner")  # absent while copy/pickle rebuild the object
        if inner is not None and attribute in (
            "module",
            "params",
            "result",
            "warm_start",
            "input_example",
            "user_index",
        ):
            return getattr(inner, attribute)
        raise AttributeError(attribute)

    def fit(self, train: BasketSet) -> PrunedRecommender:
        raise TypeError("PrunedRecommender: fit the inner model on ItemPruning.baskets(...) instead")

    def with_history(self, baskets: BasketSet) -> PrunedRecommender:
        self.inner.with_history(restrict_items(baskets, self.kept))
        return self

    def _expand(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        floor = scores.min(axis=1, keepdims=True) - 1.0
        out = np.repeat(floor, self.n_items, axis=1)
        out[:, self.kept] = scores
        return out

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        return self._expand(self.inner.score_next_basket(user_ids))

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        mapped = []
        for items in partial_baskets:
            items = np.asarray(items, dtype=np.int64)
            pos = np.searchsorted(self.kept, items)
            ok = (pos < len(self.kept)) & (self.kept[np.minimum(pos, len(self.kept) - 1)] == items)
            mapped.append(pos[ok])
        return self._expand(self.inner.score_completion(mapped))

    # ---------------------------------------------------------------- persistence
    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "inner_kind": self.inner.kind,
            "inner": self.inner.to_checkpoint(),
            "kept": self.kept.tolist(),
            "n_items": self.n_items,
            "item_ids": self.item_ids,
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], device: str = "cpu") -> PrunedRecommender:
        from assoc_pipeline.core.recsys.model_types import checkpoint_class

        inner = checkpoint_class(str(ckpt["inner_kind"])).from_checkpoint(ckpt["inner"], device=device)
        return cls(inner, np.asarray(ckpt["kept"], dtype=np.int64), int(ckpt["n_items"]), ckpt["item_ids"])
