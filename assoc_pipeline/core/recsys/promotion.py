"""The promotion gate as a pure decision: figures and check statuses in, promote or refuse out.

The candidate is the trained model with the best *validation* figure on the selection metric
(choosing the best of several models on the test set would make its test score optimistic); the
test set then only confirms. It replaces the champion only if

(a) every blocking data-contract check passed on the exact data it was trained on (a check that
    never ran on that data counts as not passed);
(b) the evaluation report's own contract passed;
(c) on each task it would serve (next basket, completion), on the test set:
    - the test set is big enough (``min_queries``) for a verdict,
    - it beats the best baseline's primary metric by the relative ``margin``, and
    - the paired 95 % bootstrap interval of its difference to that baseline excludes zero;
(d) it beats the current champion (if any) by ``champion_margin``, and serves every task the
    current champion serves (a promotion never hands a task back to a baseline).

With ``per_task`` (the pipeline's default) the candidate is promoted for the tasks where (c)
holds, provided it holds on at least one: the best baseline keeps serving the others, so a model
that wins at completion but not at next basket serves completion only. Without it every task must
hold. ``require_baselines=False`` turns (c) into notes; it exists for tests of the gate's plumbing
and is never a production setting. Every failed condition becomes one reason, so a refusal says
everything that stands in the way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckStatus:
    """One blocking check as the gate sees it: passed True/False, or None = no usable result."""

    name: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class TaskEvidence:
    """What the test set says about the candidate on one task's primary metric."""

    task: str
    metric: str
    candidate_value: float
    n_queries: int
    min_queries: int
    baseline: str | None = None
    baseline_value: float | None = None
    diff_low: float | None = None  # paired 95 % interval of candidate - baseline
    diff_high: float | None = None


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reasons: list[str]  # why not (empty when promoted)
    notes: list[str] = field(default_factory=list)  # what was checked and held
    tasks: list[str] = field(default_factory=list)  # what the promoted model serves (empty: refused)

    @property
    def verdict(self) -> str:
        return "promoted" if self.promoted else "refused"

    def as_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict}


def pick_candidate(validation_values: Mapping[str, float]) -> tuple[str, float] | None:
    """The model with the highest finite validation value (ties: first in name order), or None."""
    finite = {m: v for m, v in validation_values.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    best = max(sorted(finite), key=lambda m: finite[m])
    return best, finite[best]


def held_tasks(evidence: Sequence[TaskEvidence], margin: float) -> list[str]:
    """The tasks on which the candidate meets condition (c), in the evidence's order."""
    return [e.task for e in evidence if not _task_findings("", e, margin, [])]


def decide(
    *,
    metric: str,
    candidate: str | None,
    candidate_value: float | None,
    upstream_checks: Sequence[CheckStatus],
    report_check: CheckStatus,
    evidence: Sequence[TaskEvidence] = (),
    champion: str | None = None,
    champion_value: float | None = None,
    candidate_is_champion: bool = False,
    candidate_version: str | None = "?",
    margin: float = 0.05,
    champion_margin: float = 0.0,
    champion_tasks: Sequence[str] = (),
    champion_metric: str | None = None,
    require_baselines: bool = True,
    per_task: bool = False,
) -> Decision:
    """Apply conditions (a)-(d) of the module docstring. ``candidate_value`` is the candidate's
    test value on ``metric`` (compared with the champion's on the same metric); margins are
    relative (0.05 = 5 %). ``champion_tasks``: what the current champion serves; ``champion_metric``:
    what the two values are, when not ``metric`` (a candidate that serves completion only is
    compared with the champion at completion)."""
    for name, m in (("margin", margin), ("champion_margin", champion_margin)):
        if m < 0 or not math.isfinite(m):
            raise ValueError(f"promotion {name} must be a finite number >= 0, got {m}")
    reasons: list[str] = []
    notes: list[str] = []
    # (a) upstream data contracts of the data the candidate was trained on
    if not upstream_checks:
        reasons.append("no upstream data-contract check results found: the training data is unverified")
    for c in upstream_checks:
        if c.passed is True:
            notes.append(f"{c.name} passed{_detail(c)}")
        elif c.passed is False:
            reasons.append(f"data contract {c.name} failed{_detail(c)}")
        else:
            reasons.append(
                f"data contract {c.name} has no result for the data the model was trained on{_detail(c)}"
            )
    # (b) the report's contract
    if report_check.passed is True:
        notes.append(f"{report_check.name} passed")
    elif report_check.passed is False:
        reasons.append(f"the evaluation report's contract {report_check.name} failed{_detail(report_check)}")
    else:
        reasons.append(
            f"the evaluation report's contract {report_check.name} has no result{_detail(report_check)}"
        )
    if candidate is None or candidate_value is None or not math.isfinite(candidate_value):
        reasons.append(f"no trained model has a validation value for {metric} to be chosen on")
        return Decision(False, reasons, notes)
    if candidate_version is None:
        reasons.append(f"{candidate} has no registered model version to point the alias at")
    # (c) every task, on the test set
    if not evidence:
        reasons.append(f"the report holds no test figures of {candidate} on the tasks it would serve")
    findings = {e.task: _task_findings(candidate, e, margin, notes) for e in evidence}
    tasks = [t for t, found in findings.items() if not found or not require_baselines]
    if not require_baselines:
        notes.extend(f for found in findings.values() for f in found)
        notes.append("beating the baselines was not required (require_baselines=False: tests only)")
    elif per_task and tasks:
        for t, found in findings.items():
            if found:
                notes.append(f"{t} stays with the best baseline: " + "; ".join(found))
    else:
        reasons.extend(f for found in findings.values() for f in found)
    given_back = [t for t in champion_tasks if t not in tasks]
    refused_on_tasks = require_baselines and not per_task and any(findings.values())
    if champion is not None and not candidate_is_champion and given_back and tasks and not refused_on_tasks:
        reasons.append(
            f"the current champion {champion} serves {', '.join(given_back)}, where {candidate} does "
            "not hold: promoting it would hand that task back to a baseline"
        )
    # (d) the current champion
    if candidate_is_champion:
        reasons.append(f"{candidate} is already the champion: nothing to move")
    elif champion is None:
        notes.append("no champion yet")
    elif champion_value is None or not math.isfinite(champion_value):
        reasons.append(
            f"the current champion {champion} has no comparable {champion_metric or metric}: "
            "cannot show the candidate beats it"
        )
    elif not _beats(candidate_value, champion_value, champion_margin):
        reasons.append(
            f"{candidate} {champion_metric or metric} = {candidate_value:.4f} does not beat the current "
            f"champion {champion} "
            f"({champion_value:.4f}) by {champion_margin:.0%}"
        )
    else:
        notes.append(f"beats the champion {champion}: {candidate_value:.4f} vs {champion_value:.4f}")
    return Decision(not reasons, reasons, notes, tasks if not reasons else [])


def _task_findings(candidate: str, e: TaskEvidence, margin: float, notes: list[str]) -> list[str]:
    """Why ``candidate`` falls short on task ``e`` (empty when it holds; what held goes to notes)."""
    what = f"{e.task} {e.metric}@10"
    found = []
    if e.n_queries < e.min_queries:
        found.append(
            f"the {e.task} test set has {e.n_queries} queries, "
            f"fewer than the {e.min_queries} needed for a verdict"
        )
    if e.baseline is None or e.baseline_value is None or not math.isfinite(e.baseline_value):
        found.append(f"no baseline has a value for {what}: cannot show the candidate beats the baselines")
        return found
    text = (
        f"{candidate} {what} = {e.candidate_value:.4f} vs best baseline {e.baseline} {e.baseline_value:.4f}"
    )
    if not _beats(e.candidate_value, e.baseline_value, margin):
        found.append(f"not {margin:.0%} better than the best baseline: {text}")
    if (
        e.diff_low is None
        or e.diff_high is None
        or not (math.isfinite(e.diff_low) and math.isfinite(e.diff_high))
    ):
        found.append(f"no interval for the difference on {what}")
    elif not e.diff_low > 0:
        found.append(
            f"the 95 % interval of the difference to {e.baseline} on {what}, "
            f"[{e.diff_low:+.4f}, {e.diff_high:+.4f}], "
            + ("lies below zero (the candidate is worse)" if e.diff_high < 0 else "includes zero")
        )
    if not found:
        notes.append(
            f"beats the best baseline by {e.candidate_value / e.baseline_value - 1:+.1%}: {text}; "
            f"difference interval [{e.diff_low:+.4f}, {e.diff_high:+.4f}] on {e.n_queries} queries"
        )
    return found


def _beats(value: float, other: float, relative_margin: float) -> bool:
    return value > other and value >= other * (1.0 + relative_margin)


def _detail(c: CheckStatus) -> str:
    return f": {c.detail}" if c.detail else ""
