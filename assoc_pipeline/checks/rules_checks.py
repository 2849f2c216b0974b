"""Sanity of the rules table: measures in range, sides non-empty and disjoint, no duplicates."""

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.core.mining import RANGES


def rules_problems(rules: pd.DataFrame) -> dict[str, int]:
    """Count of offending rules per problem (all zero for a sound table)."""
    problems: dict[str, int] = {}
    for measure, (low, high) in RANGES.items():
        if measure in rules.columns:
            v = rules[measure].to_numpy(dtype=float)
            bad = np.isnan(v) | (v < low - 1e-12) | (v > high + 1e-12)
            problems[f"{measure}_out_of_range"] = int(bad.sum())
    problems["empty_antecedent"] = int((rules["antecedent"].map(len) == 0).sum())
    problems["empty_consequent"] = int((rules["consequent"].map(len) == 0).sum())
    overlap = [bool(set(a) & set(c)) for a, c in zip(rules["antecedent"], rules["consequent"], strict=True)]
    problems["overlapping_sides"] = int(sum(overlap))
    problems["duplicates"] = int(rules.duplicated(["antecedent", "consequent"]).sum())
    return problems


@dg.asset_check(asset="association_rules", description="Measures in range, sides non-empty, no duplicates")
def rules_sanity(association_rules: pd.DataFrame) -> dg.AssetCheckResult:
    problems = rules_problems(association_rules)
    return dg.AssetCheckResult(
        passed=not any(problems.values()),
        metadata={k: v for k, v in problems.items()} | {"rules": len(association_rules)},
    )
