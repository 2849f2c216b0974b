"""``mine_itemsets``: one entry point, one contract, a choice of backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from assoc_pipeline.core.data.basket_arrays import BasketArrays
from assoc_pipeline.core.errors import InputError

from .condensed import condense
from .itemsets import TARGETS, FrequentItemsets, min_count_for
from .limits import MAX_ITEMSETS, ItemsetExplosion

if TYPE_CHECKING:
    import scipy.sparse as sp

Backend = Literal["native", "mlxtend", "spark"]
BACKENDS: tuple[str, ...] = ("native", "mlxtend", "spark")


def mine_itemsets(
    matrix: sp.spmatrix | sp.sparray | BasketArrays,
    min_support: float | int,
    *,
    min_len: int = 1,
    max_len: int | None = None,
    target: Literal["all", "closed", "maximal"] = "all",
    backend: Backend = "native",
    max_itemsets: int | None = MAX_ITEMSETS,
    **backend_options: Any,
) -> FrequentItemsets:
    """Frequent itemsets of a baskets x items boolean matrix (scipy sparse, dense, or the
    :class:`BasketArrays` of a basket file, which the native backend mines without scipy).

    ``min_support`` is a fraction of baskets (float in (0, 1]) or an absolute count (int >= 1);
    the threshold is inclusive and applied to integer counts. ``target`` "closed" / "maximal"
    are computed from all itemsets up to ``max_len`` (as arules does with a maxlen).
    ``backend_options`` go to the backend (native: ``device``; mlxtend: ``algorithm``; spark:
    ``spark``, ``master``). ``max_itemsets`` (None: no limit) guards against an itemset explosion:
    the native backend stops as soon as it has found more, before memory runs out; the others can
    only check their result. Either way :class:`ItemsetExplosion` (an ``InputError``) says what to change.
    """
    if target not in TARGETS:
        raise InputError(f"target must be one of {TARGETS}, got {target!r}")
    if min_len < 1:
        raise InputError(f"min_len must be >= 1, got {min_len}")
    if max_len is not None and max_len < min_len:
        raise InputError(f"max_len ({max_len}) must be >= min_len ({min_len})")
    if isinstance(matrix, BasketArrays):
        if backend != "native":
            matrix = matrix.to_scipy()
    else:
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            matrix = sp.csr_matrix(np.asarray(matrix, dtype=bool))
    n_baskets, n_items = matrix.shape
    min_count = min_count_for(min_support, n_baskets)
    if backend == "native":
        from .native_backend import mine_levels
    elif backend == "mlxtend":
        from .mlxtend_backend import mine_levels
    elif backend == "spark":
        from .spark_backend import mine_levels
    else:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    try:
        if backend == "native":
            levels, item_counts = mine_levels(
                matrix, min_count, max_len, max_itemsets=max_itemsets, **backend_options
            )
        else:
            levels, item_counts = mine_levels(matrix, min_count, max_len, **backend_options)
            found = sum(len(c) for _, c in levels.values())
            if max_itemsets is not None and found > max_itemsets:
                raise ItemsetExplosion(found, max_itemsets, min_count, n_baskets, max_len)
    except ItemsetExplosion as exc:  # say it again in the caller's terms (min_support as written)
        raise ItemsetExplosion(
            exc.reached, exc.max_itemsets, min_count, n_baskets, max_len, min_support=min_support
        ) from None
    levels = condense(levels, n_items, target)
    return FrequentItemsets.from_levels(
        levels,
        n_baskets,
        min_count,
        target=target,
        min_len=min_len,
        max_len=max_len,
        item_counts=item_counts,
    )
