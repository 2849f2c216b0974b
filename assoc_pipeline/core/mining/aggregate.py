"""Multi-level rules: baskets of items -> baskets of categories (arules ``aggregate()``), then rules.

A category rule such as {sausage} => {bread and backed goods} can hold when no single pair of
items does: its support is spread over many item pairs, each too rare on its own. Aggregating
first and mining the category baskets with the ordinary miner finds those rules, with the same
inclusive thresholds and the same rule table as item-level mining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError

from .api import Backend, mine_itemsets
from .limits import MAX_ITEMSETS
from .rule_pipeline import build_rules

Unmapped = Literal["error", "keep"]
CategoryMap = Mapping[str, str] | Sequence[str | None] | np.ndarray | pd.Series


def _category_per_item(item_to_category: CategoryMap, keys: np.ndarray) -> np.ndarray:
    """The category of every vocabulary column (object array; None where there is none)."""
    if isinstance(item_to_category, Mapping):
        lookup = {str(k): v for k, v in item_to_category.items()}
        found = [lookup.get(k) for k in keys]  # one pass over the vocabulary, not the baskets
    elif isinstance(item_to_category, (str, bytes)):
        raise TypeError("item_to_category must be a mapping or a sequence of labels, not a string")
    else:
        found = list(np.asarray(item_to_category, dtype=object).ravel())
        if len(found) != len(keys):
            raise InputError(
                f"item_to_category has {len(found)} labels but the baskets have {len(keys)} items "
                "(a sequence must give one category per vocabulary column, in column order)"
            )
    return np.array(
        [None if c is None or pd.isna(c) or str(c) == "" else str(c) for c in found], dtype=object
    )


def aggregate_baskets(
    baskets: BasketSet,
    item_to_category: CategoryMap,
    by: str = "item_name",
    *,
    unmapped: Unmapped = "error",
) -> BasketSet:
    """The same baskets with every item replaced by its category, each category once per basket.

    ``item_to_category`` is either a mapping keyed by the vocabulary column ``by`` ("item_name" or
    "item_id"; keys not in the baskets are ignored) or one label per vocabulary column in column
    order (like arules' ``by=itemInfo$level2``; a pandas Series counts as positional — pass
    ``series.to_dict()`` for a keyed one). Items without a category raise an
    :class:`InputError` (``unmapped="error"``) or stay as their own category named by their ``by``
    value (``unmapped="keep"``; a kept item whose name equals a category label joins it).
    Categories become the vocabulary (item_id = item_name = label, sorted); the basket table is
    kept row for row, with ``n_items`` recounted in categories.
    """
    if unmapped not in ("error", "keep"):
        raise ValueError(f"unmapped must be 'error' or 'keep', got {unmapped!r}")
    vocab = baskets.vocabulary
    if by not in vocab.columns:
        raise InputError(f"by={by!r} is not a vocabulary column (have {', '.join(map(str, vocab.columns))})")
    keys = vocab[by].astype(str).to_numpy(dtype=object)
    cats = _category_per_item(item_to_category, keys)
    missing = np.flatnonzero(pd.isna(cats))
    if missing.size:
        if unmapped == "error":
            examples = ", ".join(repr(keys[i]) for i in missing[:5])
            raise InputError(
                f"{missing.size} of {len(keys)} items have no category (matched on {by}), e.g. {examples}; "
                "extend the map or pass unmapped='keep'"
            )
        cats[missing] = keys[missing]
    codes, labels = pd.factorize(pd.Series(cats, dtype=object), sort=True)
    n_items, n_cats = len(keys), len(labels)
    # items x categories indicator: the basket x category counts are one sparse product
    indicator = sp.csr_matrix(
        (np.ones(n_items, dtype=np.int32), (np.arange(n_items), codes)), shape=(n_items, n_cats)
    )
    counts = sp.csr_matrix(baskets.matrix, dtype=np.int32) @ indicator
    matrix = sp.csr_matrix(counts > 0, dtype=bool)
    matrix.eliminate_zeros()
    matrix.sort_indices()
    table = baskets.baskets.copy()
    table["n_items"] = np.diff(matrix.indptr).astype(np.int64)
    names = [str(x) for x in labels]
    vocabulary = pd.DataFrame(
        {
            "item_idx": np.arange(n_cats, dtype=np.int64),
            "item_id": names,
            "item_name": names,
            "n_baskets": np.bincount(matrix.indices, minlength=n_cats).astype(np.int64),
        }
    )
    return BasketSet(matrix, table, vocabulary)


def category_rules(
    baskets: BasketSet,
    item_to_category: CategoryMap,
    min_support: float | int,
    min_confidence: float,
    *,
    by: str = "item_name",
    unmapped: Unmapped = "error",
    max_len: int | None = 10,
    max_consequent_len: int | None = 1,
    min_lift: float | None = None,
    prune_redundant: bool = False,
    backend: Backend = "native",
    max_itemsets: int | None = MAX_ITEMSETS,
    **backend_options: Any,
) -> pd.DataFrame:
    """Association rules between categories: :func:`aggregate_baskets`, then the ordinary miner.

    Thresholds mean what they mean for items (``min_support`` a fraction or a count, inclusive).
    The table has the item-level rule columns (``derive_rules`` + ``label_rules``), sorted by lift
    then confidence; ``antecedent``/``consequent`` index the aggregated vocabulary (categories in
    sorted order), ``antecedent_names``/``consequent_names``/``rule`` spell the categories.
    """
    agg = aggregate_baskets(baskets, item_to_category, by, unmapped=unmapped)
    itemsets = mine_itemsets(
        agg.matrix,
        min_support,
        max_len=max_len,
        backend=backend,
        max_itemsets=max_itemsets,
        **backend_options,
    )
    return build_rules(
        itemsets,
        agg.item_names(),
        min_confidence,
        max_consequent_len=max_consequent_len,
        min_lift=min_lift,
        prune_redundant=prune_redundant,
    ).rules
