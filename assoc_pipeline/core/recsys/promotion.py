"""The promotion gate as a pure decision: figures and check statuses in, promote or refuse out.

A candidate (the best trained model on the primary metric) replaces the champion only if

(a) every blocking data-contract check upstream of it passed for the data it was trained on
    (a check that never ran, or ran on an older materialization, counts as not passed);
(b) the evaluation report's own contract passed;
(c) it beats the current champion (if any) and — when ``require_baselines`` — the best baseline
    on the primary metric, each by at least ``margin`` (absolute, in metric units) and strictly.

Every failed condition becomes one reason, so a refusal says everything that stands in the way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckStatus:
    """One blocking check as the gate sees it: passed True/False, or None = no usable result."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reasons: list[str]  # why not (empty when promoted)
    notes: list[str] = field(default_factory=list)  # what was checked and held

    @property
    def verdict(self) -> str:
        return "promoted" if self.promoted else "refused"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def pick_candidate(model_values: Mapping[str, float]) -> tuple[str, float] | None:
    """The model with the highest finite value (ties: first in name order), or None."""
    finite = {m: v for m, v in model_values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    best = max(sorted(finite), key=lambda m: finite[m])
    return best, finite[best]


def decide(
    *,
    metric: str,
    candidate: str | None,
    candidate_value: float | None,
    upstream_checks: list[CheckStatus],
    report_check: CheckStatus,
    champion: str | None = None,
    champion_value: float | None = None,
    candidate_is_champion: bool = False,
    candidate_version: str | None = "?",
    best_baseline: tuple[str, float] | None = None,
    margin: float = 0.0,
    require_baselines: bool = True,
) -> Decision:
    """Apply conditions (a)-(c) of the module docstring; see there."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"promotion margin must be a finite number >= 0, got {margin}")
    reasons: list[str] = []
    notes: list[str] = []
    # (a) upstream data contracts
    if not upstream_checks:
        reasons.append("no upstream data-contract check results found: the training data is unverified")
    for c in upstream_checks:
        if c.passed is True:
            notes.append(f"{c.name} passed{_detail(c)}")
        elif c.passed is False:
            reasons.append(f"data contract {c.name} failed{_detail(c)}")
        else:
            reasons.append(f"data contract {c.name} has no result for the data in use{_detail(c)}")
    # (b) the report's contract
    if report_check.passed is True:
        notes.append(f"{report_check.name} passed")
    elif report_check.passed is False:
        reasons.append(f"the evaluation report's contract {report_check.name} failed{_detail(report_check)}")
    else:
        reasons.append(
            f"the evaluation report's contract {report_check.name} has no result{_detail(report_check)}"
        )
    # (c) figures
    if candidate is None or candidate_value is None or not math.isfinite(candidate_value):
        reasons.append(f"no trained model has a value for {metric} in the report")
        return Decision(False, reasons, notes)
    if candidate_version is None:
        reasons.append(f"{candidate} has no registered model version to point the alias at")
    if candidate_is_champion:
        reasons.append(f"{candidate} is already the champion: nothing to move")
    elif champion is None:
        notes.append("no champion yet")
    elif champion_value is None or not math.isfinite(champion_value):
        reasons.append(
            f"the current champion {champion} has no comparable {metric}: cannot show the candidate beats it"
        )
    elif not _beats(candidate_value, champion_value, margin):
        reasons.append(
            f"{candidate} {metric} = {candidate_value:.4f} does not beat the current champion {champion} "
            f"({champion_value:.4f}) by the margin {margin:g}"
        )
    else:
        notes.append(f"beats the champion {champion}: {candidate_value:.4f} vs {champion_value:.4f}")
    if best_baseline is None:
        if require_baselines:
            reasons.append(
                f"no baseline has a value for {metric}: cannot show the candidate beats the baselines"
            )
    else:
        name, bv = best_baseline
        beats = _beats(candidate_value, bv, margin)
        text = f"{candidate} {metric} = {candidate_value:.4f} vs best baseline {name} {bv:.4f}"
        text += f" (margin {margin:g})"
        if beats:
            notes.append(f"beats the best baseline: {text}")
        elif require_baselines:
            reasons.append(f"worse than the best baseline: {text}")
        else:
            notes.append(f"does not beat the best baseline (not required by config): {text}")
    return Decision(not reasons, reasons, notes)


def _beats(value: float, other: float, margin: float) -> bool:
    return value > other and value - other >= margin


def _detail(c: CheckStatus) -> str:
    return f": {c.detail}" if c.detail else ""
