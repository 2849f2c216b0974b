"""The data-loss guard of cleaning: did the rules keep most of what the source sold?

A rule written for one retailer's conventions can drop nearly everything of another's (Online
Retail's 5-digit product-code rule kept 0.14% of a log with 7-digit ids) while every schema
contract passes: the kept rows are perfectly clean, there are just almost none. So the clean
table is also judged against its raw input: the kept share of rows, and of the distinct
products, baskets and customers that had a purchase line, must stay above floors, and no single
rule may drop more than a ceiling share of the rows.

Distinct products / baskets / customers are counted among the raw *purchase* lines: a
cancellation invoice or a return order is not a basket cleaning could lose (Online Retail has
3,836 cancellation invoices, 15% of its invoices, all rightly dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:  # settings check these floors on every command, `recommend` included: no pandas
    import pandas as pd

    from assoc_pipeline.core.data.cleaning import CleaningReport

KEPT_MEASURES = {"products": "item_id", "baskets": "basket_id", "customers": "user_id"}


@dataclass(frozen=True)
class DataLossFloors:
    """Shares in [0, 1] (mirrored as Dagster config on ``clean_events``)."""

    min_kept_rows: float = 0.8
    min_kept_products: float = 0.8
    min_kept_baskets: float = 0.8
    min_kept_customers: float = 0.8
    max_reason_share: float = 0.2

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise InputError(f"setting {name}={value} must be a share between 0 and 1")

    def floor(self, measure: str) -> float:
        return getattr(self, f"min_kept_{measure}")


@dataclass
class DataLossVerdict:
    kept_shares: dict[str, float | None]  # rows, products, baskets, customers (None: none in the source)
    reason_shares: dict[str, float]  # share of the raw rows each rule dropped
    floors: DataLossFloors
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def message(self, report: CleaningReport) -> str:
        """One line for the check's description and the run's error."""
        shares = ", ".join(f"{m} {s:.1%}" for m, s in self.kept_shares.items() if s is not None)
        if self.passed:
            return f"kept {shares} (floors met)"
        return (
            f"data loss: {'; '.join(self.problems)} (rule set {report.rule_set}, product_code_pattern "
            f"{_quoted(report.pattern)}). Check the source format and the cleaning settings "
            "(rules, product_code_pattern: [cleaning] in assoc-pipeline.toml or the clean_events "
            "config), or lower the floors if this loss is intended"
        )


def _quoted(pattern: str) -> str:
    return f"'{pattern}'" if pattern else "none"  # as the user writes it (repr doubles backslashes)


def _share(kept: int, total: int) -> float | None:
    return kept / total if total else None


def assess_data_loss(
    raw: pd.DataFrame, kept: pd.DataFrame, report: CleaningReport, floors: DataLossFloors | None = None
) -> DataLossVerdict:
    """Kept shares against the floors; ``kept`` must still carry the source's ids (before
    pseudonymisation) so that its customers compare with the raw ones."""
    floors = floors or DataLossFloors()
    purchases = raw.loc[raw["event_type"] == "purchase"]
    kept_shares: dict[str, float | None] = {"rows": _share(report.kept_rows, report.raw_rows)}
    for measure, column in KEPT_MEASURES.items():
        kept_shares[measure] = _share(kept[column].nunique(), purchases[column].nunique())
    reason_shares = {r: n / report.raw_rows for r, n in report.dropped.items()} if report.raw_rows else {}
    problems = []
    for measure, share in kept_shares.items():
        if share is not None and share < floors.floor(measure):
            problems.append(f"kept {share:.1%} of {measure} (floor {floors.floor(measure):.0%})")
    for rule, share in reason_shares.items():
        if share > floors.max_reason_share:
            problems.append(
                f"{rule} dropped {share:.1%} of rows (ceiling {floors.max_reason_share:.0%} per reason)"
            )
    return DataLossVerdict(kept_shares, reason_shares, floors, problems)
