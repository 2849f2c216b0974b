"""The drop rules of cleaning: one small pure function per reason a purchase line is not kept.

Each rule looks at the canonical event table (core/data/schema.py) and returns a boolean mask of
the rows it would drop. Which rules run for a source is decided in one place,
:mod:`assoc_pipeline.core.data.rule_sets`; the order here is the order they are applied in (a
dropped row is counted under the first rule it meets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # settings check rule names on every command, `recommend` included: no pandas
    import pandas as pd


class RuleParams(Protocol):
    """The settings a rule may read (``CleaningRules`` provides them)."""

    @property
    def pattern(self) -> str: ...

    max_quantity: int


@dataclass(frozen=True)
class DropRule:
    name: str
    why: str  # one line, shown in the clean_events metadata beside the rule's count
    rows: Callable[[pd.DataFrame, RuleParams], np.ndarray]


def _missing_id(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    return (events["basket_id"].isna() | events["item_id"].isna()).to_numpy()


def _cancellation(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    # Online Retail: invoice number starts with "C"; generic logs: event_type = cancellation
    return (events["event_type"] == "cancellation").to_numpy()


def _return(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    return (events["event_type"] == "return").to_numpy() | (events["quantity"].to_numpy() < 0)


def _non_product_code(events: pd.DataFrame, params: RuleParams) -> np.ndarray:
    is_product = events["item_id"].fillna("").str.fullmatch(params.pattern).fillna(False)
    return ~is_product.to_numpy(dtype=bool)


def _non_positive_price(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    return events["unit_price"].to_numpy(dtype=float) <= 0  # NaN (no price in the source) is kept


def _zero_quantity(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    return events["quantity"].to_numpy() == 0


def _extreme_quantity(events: pd.DataFrame, params: RuleParams) -> np.ndarray:
    return events["quantity"].to_numpy() > params.max_quantity


def _duplicate(events: pd.DataFrame, _: RuleParams) -> np.ndarray:
    # every rule is a function of the row alone, so a copy meets the same rules as its first
    # occurrence: counted here only when the first one was kept
    return events.duplicated(keep="first").to_numpy()


DROP_RULES: dict[str, DropRule] = {
    r.name: r
    for r in (
        DropRule("missing_id", "no basket id or no item id", _missing_id),
        DropRule("cancellation", "cancelled order lines (event_type cancellation)", _cancellation),
        DropRule("return", "returns: event_type return or a negative quantity", _return),
        DropRule("non_product_code", "item id does not match product_code_pattern", _non_product_code),
        DropRule("non_positive_price", "unit price zero or negative", _non_positive_price),
        DropRule("zero_quantity", "quantity 0", _zero_quantity),
        DropRule("extreme_quantity", "quantity above max_quantity", _extreme_quantity),
        DropRule("duplicate", "exact duplicate of an earlier line (all columns equal)", _duplicate),
    )
}
DROP_REASONS = tuple(DROP_RULES)
