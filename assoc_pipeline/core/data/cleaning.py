"""Cleaning rules for retail event logs, each counted so that raw = kept + sum(dropped).

Rules are applied in this order and each dropped row is counted under the FIRST rule it meets:

0. ``missing_id``        — no basket id or no item id (cannot be placed in a basket);
1. ``cancellation``      — cancelled invoices (Online Retail: invoice number starts with ``C``);
2. ``return``            — returns / negative quantities that are not cancellations;
3. ``non_product_code``  — postage, fees, discounts, manual adjustments… (item ids that do not
   match the product-code pattern; Online Retail products are 5 digits plus optional letters);
4. ``non_positive_price``— unit price zero or negative (free samples, write-offs, bad debt);
5. ``zero_quantity``     — quantity 0 (nothing was bought);
6. ``extreme_quantity``  — quantities above a cap (bulk orders and data-entry errors that would
   dominate item popularity);
7. ``duplicate``         — exact duplicates of an earlier kept line (all columns equal).

Missing customer ids are NOT dropped: anonymous baskets still carry item co-occurrence for
mining; user-level models exclude them (``missing_user_id`` is reported, not subtracted).
Item names are normalised (surrounding and repeated whitespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assoc_pipeline.core.errors import InputError

DROP_REASONS = (
    "missing_id",
    "cancellation",
    "return",
    "non_product_code",
    "non_positive_price",
    "zero_quantity",
    "extreme_quantity",
    "duplicate",
)
ONLINE_RETAIL_PRODUCT_CODE = r"^\d{5}[A-Za-z]*$"


@dataclass(frozen=True)
class CleaningRules:
    """Thresholds of the cleaning rules (mirrored as Dagster config on ``clean_events``)."""

    product_code_pattern: str = ONLINE_RETAIL_PRODUCT_CODE
    max_quantity: int = 10_000

    def __post_init__(self) -> None:
        try:
            re.compile(self.product_code_pattern)
        except re.error as exc:
            raise InputError(
                f"setting product_code_pattern={self.product_code_pattern!r} is not a regex: {exc}"
            ) from exc
        if self.max_quantity < 1:
            raise InputError(f"setting max_quantity={self.max_quantity} must be >= 1")


@dataclass
class CleaningReport:
    raw_rows: int
    kept_rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    missing_user_id: int = 0
    names_normalised: int = 0

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


def clean_events(
    events: pd.DataFrame, rules: CleaningRules | None = None
) -> tuple[pd.DataFrame, CleaningReport]:
    """Apply the rules above; returns the kept rows (canonical schema) and the counts."""
    rules = rules or CleaningRules()
    n = len(events)
    reason = np.full(n, "", dtype=object)

    def mark(name: str, mask: np.ndarray) -> None:
        reason[(reason == "") & mask] = name

    qty = events["quantity"].to_numpy()
    price = events["unit_price"].to_numpy(dtype=float)
    mark("missing_id", (events["basket_id"].isna() | events["item_id"].isna()).to_numpy())
    mark("cancellation", (events["event_type"] == "cancellation").to_numpy())
    mark("return", (events["event_type"] == "return").to_numpy() | (qty < 0))
    if rules.product_code_pattern:
        is_product = (
            events["item_id"]
            .fillna("")
            .str.fullmatch(rules.product_code_pattern)
            .fillna(False)
            .to_numpy(dtype=bool)
        )
        mark("non_product_code", ~is_product)
    mark("non_positive_price", price <= 0)  # NaN (no price in the source) is kept
    mark("zero_quantity", qty == 0)
    mark("extreme_quantity", qty > rules.max_quantity)
    candidates = reason == ""
    dup = np.zeros(n, dtype=bool)
    dup[candidates] = events.loc[candidates].duplicated(keep="first").to_numpy()
    mark("duplicate", dup)

    kept = events.loc[reason == ""].copy()
    before = kept["item_name"]
    kept["item_name"] = normalise_names(before)
    changed = int((before.fillna("") != kept["item_name"].fillna("")).sum())
    kept = kept.reset_index(drop=True)
    counts = pd.Series(reason[reason != ""]).value_counts()
    report = CleaningReport(
        raw_rows=n,
        kept_rows=len(kept),
        dropped={r: int(counts.get(r, 0)) for r in DROP_REASONS},
        missing_user_id=int(kept["user_id"].isna().sum()),
        names_normalised=changed,
    )
    return kept, report
