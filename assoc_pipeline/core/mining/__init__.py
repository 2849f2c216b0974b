"""Frequent itemsets and association rules on the sparse basket matrix (no Dagster, no MLflow).

Backends (``native``, ``mlxtend``, ``spark``) share one contract: :func:`mine_itemsets` returns a
:class:`FrequentItemsets` in integer counts; :func:`derive_rules`, :func:`prune_redundant`,
:func:`filter_rules` and :func:`label_rules` work on it whatever backend produced it.
:func:`update_itemsets` adds baskets FUP-style to a result of :func:`mine_with_border`.
"""

from .api import BACKENDS, mine_itemsets
from .incremental import IncrementalReport, item_map_for, mine_with_border, negative_border, update_itemsets
from .itemsets import FrequentItemsets, min_count_for
from .limits import MAX_ITEMSETS, ItemsetExplosion
from .measures import MEASURES, RANGES, rule_measures
from .redundancy import is_redundant, prune_redundant
from .rules import RULE_COLUMNS, derive_rules
from .selection import filter_rules, label_rules

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
