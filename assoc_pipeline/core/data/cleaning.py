"""Cleaning of retail event logs, each dropped row counted so that raw = kept + sum(dropped).

The rules themselves are in :mod:`~assoc_pipeline.core.data.drop_rules` (one pure function per
reason) and the choice of rules per source format in :mod:`~assoc_pipeline.core.data.rule_sets`:
Online Retail keeps its own rules (5-digit product codes, ``C`` invoices), any other log gets the
generic ones. Rules run in the order of ``DROP_REASONS`` and each dropped row is counted under
the FIRST enabled rule it meets:

0. ``missing_id``        — no basket id or no item id (cannot be placed in a basket);
1. ``cancellation``      — cancelled order lines (Online Retail: invoice number starts with ``C``);
2. ``return``            — returns / negative quantities that are not cancellations;
3. ``non_product_code``  — item ids that do not match the product-code pattern (Online Retail:
   postage, fees, discounts, manual adjustments; products are 5 digits plus optional letters);
4. ``non_positive_price``— unit price zero or negative (free samples, write-offs, bad debt);
5. ``zero_quantity``     — quantity 0 (nothing was bought);
6. ``extreme_quantity``  — quantities above a cap (bulk orders and data-entry errors that would
   dominate item popularity); Online Retail only unless enabled;
7. ``duplicate``         — exact duplicates of an earlier kept line (all columns equal).

Missing customer ids are NOT dropped: anonymous baskets still carry item co-occurrence for
mining; user-level models exclude them (``missing_user_id`` is reported, not subtracted).
Item names are normalised (surrounding and repeated whitespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assoc_pipeline.core.data.drop_rules import DROP_REASONS, DROP_RULES
from assoc_pipeline.core.data.rule_sets import ONLINE_RETAIL_PRODUCT_CODE, CleaningRules

__all__ = [
    "DROP_REASONS",
    "ONLINE_RETAIL_PRODUCT_CODE",
    "CleaningReport",
    "CleaningRules",
    "clean_events",
    "normalise_names",
]
EXAMPLES_PER_REASON = 3
# what an example of a dropped row shows: no customer id (examples land in run metadata)
EXAMPLE_COLUMNS = ["event_time", "basket_id", "item_id", "item_name", "quantity", "unit_price", "event_type"]


@dataclass
class CleaningReport:
    raw_rows: int
    kept_rows: int
    dropped: dict[str, int] = field(default_factory=dict)  # per enabled rule, in application order
    missing_user_id: int = 0
    names_normalised: int = 0
    rule_set: str = ""
    pattern: str = ""
    examples: pd.DataFrame | None = None  # a few dropped rows per reason, column ``reason`` first

    def reconciles(self) -> bool:
        return self.raw_rows == self.kept_rows + sum(self.dropped.values())

    def as_dict(self) -> dict[str, int]:
        return {
            "raw_rows": self.raw_rows,
            "kept_rows": self.kept_rows,
            **{f"dropped_{k}": v for k, v in self.dropped.items()},
            "missing_user_id": self.missing_user_id,
            "names_normalised": self.names_normalised,
        }


def normalise_names(names: pd.Series) -> pd.Series:
    """Trim and collapse whitespace; empty names become missing."""
    out = names.str.strip().str.replace(r"\s+", " ", regex=True)
    return out.where(out.str.len() > 0, None)


def drop_reasons(events: pd.DataFrame, rules: CleaningRules) -> np.ndarray:
    """Per row, the first enabled rule that drops it ("" = kept)."""
    reason = np.full(len(events), "", dtype=object)
    for name in rules.enabled:
        reason[(reason == "") & DROP_RULES[name].rows(events, rules)] = name
    return reason


def _examples(events: pd.DataFrame, reason: np.ndarray) -> pd.DataFrame:
    dropped = events.loc[reason != "", EXAMPLE_COLUMNS].assign(reason=reason[reason != ""])
    head = dropped.groupby("reason", sort=False).head(EXAMPLES_PER_REASON)
    return head[["reason", *EXAMPLE_COLUMNS]].reset_index(drop=True)


def clean_events(
    events: pd.DataFrame, rules: CleaningRules | None = None
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the enabled rules; returns the kept rows (canonical schema) and the counts.

    Without ``rules``: Online Retail's rule set (the shipped log); other sources pass
    ``CleaningRules(rule_set=rule_set_for_format(fmt))``.
    """
    rules = rules or CleaningRules()
    reason = drop_reasons(events, rules)
    kept = events.loc[reason == ""].copy()
    before = kept["item_name"]
    kept["item_name"] = normalise_names(before)
    changed = int((before.fillna("") != kept["item_name"].fillna("")).sum())
    kept = kept.reset_index(drop=True)
    counts = pd.Series(reason[reason != ""]).value_counts()
    report = CleaningReport(
        raw_rows=len(events),
        kept_rows=len(kept),
        dropped={r: int(counts.get(r, 0)) for r in rules.enabled},
        missing_user_id=int(kept["user_id"].isna().sum()),
        names_normalised=changed,
        rule_set=rules.rule_set,
        pattern=rules.pattern,
        examples=_examples(events, reason),
    )
    return kept, report
