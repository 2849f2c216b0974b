"""Frequent itemsets and association rules on the sparse basket matrix (no Dagster, no MLflow).

Backends (``native``, ``mlxtend``, ``spark``) share one contract: :func:`mine_itemsets` returns a
:class:`FrequentItemsets` in integer counts; :func:`derive_rules`, :func:`prune_redundant`,
:func:`filter_rules` and :func:`label_rules` work on it whatever backend produced it.
:func:`update_itemsets` adds baskets FUP-style to a result of :func:`mine_with_border`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import BACKENDS, mine_itemsets
    from .incremental import (
        IncrementalReport,
        item_map_for,
        mine_with_border,
        negative_border,
        update_itemsets,
    )
    from .itemsets import FrequentItemsets, min_count_for
    from .limits import MAX_ITEMSETS, ItemsetExplosion
    from .measures import MEASURES, RANGES, rule_measures
    from .redundancy import is_redundant, prune_redundant
    from .rules import RULE_COLUMNS, derive_rules
    from .selection import filter_rules, label_rules

# the public names and their modules, imported on first use: `assoc-pipeline mine` loads only
# what it runs (pandas and scipy cost more at import than mining a 100k-basket file)
_HOME = {
    "BACKENDS": "api",
    "mine_itemsets": "api",
    "IncrementalReport": "incremental",
    "item_map_for": "incremental",
    "mine_with_border": "incremental",
    "negative_border": "incremental",
    "update_itemsets": "incremental",
    "FrequentItemsets": "itemsets",
    "min_count_for": "itemsets",
    "MAX_ITEMSETS": "limits",
    "ItemsetExplosion": "limits",
    "MEASURES": "measures",
    "RANGES": "measures",
    "rule_measures": "measures",
    "is_redundant": "redundancy",
    "prune_redundant": "redundancy",
    "RULE_COLUMNS": "rules",
    "derive_rules": "rules",
    "filter_rules": "selection",
    "label_rules": "selection",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "BACKENDS",
    "MAX_ITEMSETS",
    "MEASURES",
    "RANGES",
    "RULE_COLUMNS",
    "FrequentItemsets",
    "IncrementalReport",
    "ItemsetExplosion",
    "derive_rules",
    "filter_rules",
    "is_redundant",
    "item_map_for",
    "label_rules",
    "min_count_for",
    "mine_itemsets",
    "mine_with_border",
    "negative_border",
    "prune_redundant",
    "rule_measures",
    "update_itemsets",
]
