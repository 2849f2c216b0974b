"""The one rule pipeline: itemsets -> rules -> lift filter -> redundancy pruning -> labels -> sorted.

The command line (``assoc-pipeline mine``), the ``association_rules`` asset and the category rules
(:mod:`.aggregate`) all call :func:`build_rules`, so a threshold means the same everywhere (the
CLI used to skip ``min_lift``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from assoc_pipeline.core.errors import InputError

from .itemsets import FrequentItemsets
from .rule_arrays import ItemNames, RuleArrays
from .rules import derive_rule_arrays

if TYPE_CHECKING:
    import pandas as pd


class RuleSet(NamedTuple):
    """The kept rules (labelled, sorted by lift then confidence) and how many were derived."""

    rules: pd.DataFrame
    derived: int


def check_rule_settings(
    *,
    min_confidence: float | None = None,
    min_lift: float | None = None,
    max_consequent_len: int | None = 1,
) -> None:
    """Raise :class:`InputError` naming the setting when a rule threshold is out of range."""
    if min_confidence is not None:
        c = float(min_confidence)
        if math.isnan(c) or not 0.0 <= c <= 1.0:
            raise InputError(f"min_confidence must be in [0, 1], got {min_confidence}")
    if min_lift is not None and (math.isnan(float(min_lift)) or float(min_lift) < 0):
        raise InputError(f"min_lift must be >= 0, got {min_lift}")
    if max_consequent_len is not None and int(max_consequent_len) < 1:
        raise InputError(f"max_consequent_len must be >= 1 (or None for any), got {max_consequent_len}")


def select_rules(
    itemsets: FrequentItemsets,
    min_confidence: float,
    *,
    max_consequent_len: int | None = 1,
    min_lift: float | None = None,
    prune_redundant: bool = False,
) -> tuple[RuleArrays, int]:
    """The kept rules as :class:`RuleArrays`, sorted by lift then confidence (both descending,
    ties in derivation order), and how many were derived. No pandas unless ``prune_redundant``."""
    check_rule_settings(
        min_confidence=min_confidence, min_lift=min_lift, max_consequent_len=max_consequent_len
    )
    rules = derive_rule_arrays(itemsets, min_confidence, max_consequent_len=max_consequent_len)
    derived = len(rules)
    if min_lift is not None:
        rules = rules.take(rules.measures(("lift",))["lift"] >= float(min_lift))
    if prune_redundant:
        from .redundancy import is_redundant

        rules = rules.take(~is_redundant(rules.to_frame(("support", "confidence"))))
    m = rules.measures(("confidence", "lift"))
    return rules.take(np.lexsort((-m["confidence"], -m["lift"]))), derived


def build_rules(
    itemsets: FrequentItemsets,
    item_names: ItemNames,
    min_confidence: float,
    *,
    max_consequent_len: int | None = 1,
    min_lift: float | None = None,
    prune_redundant: bool = False,
) -> RuleSet:
    """Rules with confidence >= ``min_confidence`` (and lift >= ``min_lift``), readable and sorted.

    ``max_consequent_len=1`` gives arules' single-item consequents, ``None`` every split.
    ``prune_redundant`` drops rules that a more general rule is at least as confident as
    (arules ``is.redundant``), after the lift filter. The table has :func:`derive_rules`' columns
    plus ``antecedent_names``/``consequent_names``/``rule``, sorted by lift then confidence.
    """
    rules, derived = select_rules(
        itemsets,
        min_confidence,
        max_consequent_len=max_consequent_len,
        min_lift=min_lift,
        prune_redundant=prune_redundant,
    )
    return RuleSet(labelled_frame(rules, item_names), derived)


def labelled_frame(rules: RuleArrays, item_names: ItemNames) -> pd.DataFrame:
    """The rules' table (:func:`derive_rules`' columns) with ``antecedent_names``,
    ``consequent_names`` and ``rule``, as :func:`.selection.label_rules` writes them."""
    import pandas as pd

    frame = rules.to_frame()
    lhs, rhs, text = rules.labels(item_names)
    frame["antecedent_names"] = pd.Series(lhs, index=frame.index, dtype=object)
    frame["consequent_names"] = pd.Series(rhs, index=frame.index, dtype=object)
    frame["rule"] = text
    return frame
