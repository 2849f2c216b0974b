"""Which cleaning rules a source gets: the ONE place where a source format chooses its rule set.

Online Retail's rules describe Online Retail: its product codes are 5 digits plus optional
letters (postage, fees and manual adjustments are not), its cancellations are invoices starting
with ``C``. Another retailer's ids follow other conventions (7-digit numbers, SKUs with dashes),
so the generic ``events`` format gets only rules that hold for any retail log: missing ids,
cancellations and returns (``event_type`` or a negative quantity), non-positive prices, zero
quantities, duplicates. A user who knows their product-code convention sets
``product_code_pattern`` and the ``non_product_code`` rule runs with it; ``rules`` lists the
rules to run explicitly instead of the set's defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assoc_pipeline.core.data.drop_rules import DROP_RULES
from assoc_pipeline.core.errors import InputError

ONLINE_RETAIL_PRODUCT_CODE = r"^\d{5}[A-Za-z]*$"
RULE_SETS: dict[str, tuple[str, ...]] = {
    "online_retail": tuple(DROP_RULES),  # every rule, with the 5-digit product-code pattern
    "events": ("missing_id", "cancellation", "return", "non_positive_price", "zero_quantity", "duplicate"),
}
DEFAULT_PRODUCT_CODE = {"online_retail": ONLINE_RETAIL_PRODUCT_CODE}
# source format (core/data/schema.py FORMATS) -> its rule set; basket files carry no codes or prices
FORMAT_RULE_SETS = {
    "online_retail": "online_retail",
    "events": "events",
    "basket_lines": "events",
    "fimi": "events",
}


def rule_set_for_format(fmt: str) -> str:
    if fmt not in FORMAT_RULE_SETS:
        raise InputError(
            f"source format {fmt!r} has no cleaning rule set; known: {', '.join(FORMAT_RULE_SETS)}"
        )
    return FORMAT_RULE_SETS[fmt]


@dataclass(frozen=True)
class CleaningRules:
    """The cleaning settings (mirrored as Dagster config on ``clean_events``).

    ``rule_set``: ``online_retail`` or ``events`` (normally chosen from the source format);
    ``rules``: the rules to run (None: the set's defaults); ``product_code_pattern``: a regex
    every product's item id matches (None: the set's default, only Online Retail has one; "":
    none); ``max_quantity``: the cap of ``extreme_quantity``.
    """

    rule_set: str = "online_retail"
    rules: list[str] | None = None
    product_code_pattern: str | None = None
    max_quantity: int = 10_000

    def __post_init__(self) -> None:
        if self.rule_set not in RULE_SETS:
            raise InputError(f"setting rule_set={self.rule_set!r}: expected one of {', '.join(RULE_SETS)}")
        unknown = sorted(set(self.rules or ()) - set(DROP_RULES))
        if unknown:
            raise InputError(f"setting rules: unknown rule(s) {unknown}; known: {', '.join(DROP_RULES)}")
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InputError(
                f"setting product_code_pattern={self.product_code_pattern!r} is not a regex: {exc}"
            ) from exc
        if self.rules is not None and "non_product_code" in self.rules and not self.pattern:
            raise InputError(
                "setting rules lists non_product_code but no product_code_pattern is set for "
                f"rule set {self.rule_set!r}"
            )
        if self.max_quantity < 1:
            raise InputError(f"setting max_quantity={self.max_quantity} must be >= 1")

    @property
    def pattern(self) -> str:
        """The product-code regex in force ("" = no product-code rule)."""
        if self.product_code_pattern is not None:
            return self.product_code_pattern
        return DEFAULT_PRODUCT_CODE.get(self.rule_set, "")

    @property
    def enabled(self) -> tuple[str, ...]:
        """The rules that run, in application order.

        Without an explicit list: the set's defaults, and ``non_product_code`` exactly when a
        pattern is in force (the set's own, or the user's for their source).
        """
        if self.rules is not None:
            chosen = set(self.rules)
        else:
            chosen = set(RULE_SETS[self.rule_set]) - {"non_product_code"}
            if self.pattern:
                chosen.add("non_product_code")
        return tuple(r for r in DROP_RULES if r in chosen)
