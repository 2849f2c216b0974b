"""The one rule pipeline: itemsets -> rules -> lift filter -> redundancy pruning -> labels -> sorted.

The command line (``assoc-pipeline mine``), the ``association_rules`` asset and the category rules
(:mod:`.aggregate`) all call :func:`build_rules`, so a threshold means the same everywhere (the
CLI used to skip ``min_lift``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from assoc_pipeline.core.errors import InputError

from .itemsets import FrequentItemsets
from .redundancy import prune_redundant as drop_redundant
from .rules import derive_rules
from .selection import label_rules


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


def build_rules(
    itemsets: FrequentItemsets,
    item_names: Sequence[str] | Mapping[int, str] | np.ndarray,
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
    check_rule_settings(
        min_confidence=min_confidence, min_lift=min_lift, max_consequent_len=max_consequent_len
    )
    rules = derive_rules(itemsets, min_confidence, max_consequent_len=max_consequent_len)
    derived = len(rules)
    if min_lift is not None:
        rules = rules[rules["lift"].to_numpy() >= float(min_lift)]
    if prune_redundant:
        rules = drop_redundant(rules)
    order = np.lexsort((-rules["confidence"].to_numpy(), -rules["lift"].to_numpy()))
    rules = rules.iloc[order].reset_index(drop=True)
    return RuleSet(label_rules(rules, item_names), derived)
