"""Arms compared: hit rate and recall of the exposed items per arm, the difference with a 95 %
interval, and a verdict only above a stated minimum sample.

The unit of the interval is the assignment unit (the user, or the anonymous basket): one user's
exposures are not independent, so the bootstrap resamples units within each arm and recomputes
each arm's ratio of sums (a cluster bootstrap); the arms are independent samples.

* hit rate = exposures followed in the window by a purchase of at least one shown item / exposures;
* recall = over exposures followed by any purchase, the mean share of the purchased items that
  had been shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assoc_pipeline.core.experiments.assignment import ARMS, CHALLENGER, CHAMPION

DEFAULT_MIN_UNITS = 200  # per arm: below this the report gives numbers but no verdict
DEFAULT_RESAMPLES = 1000
METRICS = ("hit_rate", "recall")
NOT_ENOUGH = "not enough data"


@dataclass
class Comparison:
    """Per-arm figures, the challenger-minus-champion differences and what they allow one to say."""

    arms: pd.DataFrame  # arm, exposures, units, buying_exposures, hit_rate, recall
    differences: pd.DataFrame  # metric, difference, low, high (challenger - champion)
    verdict: str
    enough_data: bool
    min_units: int
    notes: list[str] = field(default_factory=list)


def unit_sums(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, unit): exposures, hits, exposures followed by a purchase, and their recall sum."""
    bought = outcomes["n_bought"] > 0
    rows = outcomes.assign(
        hits=(outcomes["n_hit"] > 0).astype(float),
        buying=bought.astype(float),
        recall=np.where(bought, outcomes["n_hit"] / outcomes["n_bought"].where(bought, 1), 0.0),
        exposures=1.0,
    )
    return rows.groupby(["arm", "unit_id"], as_index=False)[["exposures", "hits", "buying", "recall"]].sum()


def _rates(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hit rate, recall) from column sums [exposures, hits, buying, recall] (last axis)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[..., 1] / sums[..., 0], sums[..., 3] / sums[..., 2]


def _bootstrap(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, 4) column sums of ``values`` (units x 4) over units drawn with replacement."""
    n = len(values)
    out = np.empty((resamples, values.shape[1]))
    step = max(1, 2_000_000 // max(n, 1))  # bounds the index matrix at ~16 MB
    for i in range(0, resamples, step):
        idx = rng.integers(0, n, size=(min(step, resamples - i), n))
        out[i : i + len(idx)] = values[idx].sum(axis=1)
    return out


def compare_arms(
    outcomes: pd.DataFrame,
    min_units: int = DEFAULT_MIN_UNITS,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """The comparison of the arms in ``outcomes`` (rows of :func:`~.outcomes.exposure_outcomes`)."""
    per_unit = unit_sums(outcomes)
    cols = ["exposures", "hits", "buying", "recall"]
    rng = np.random.default_rng(seed)
    rows, draws, notes = [], {}, []
    for arm in ARMS:
        values = per_unit.loc[per_unit["arm"] == arm, cols].to_numpy(float)
        total = values.sum(axis=0) if len(values) else np.zeros(len(cols))
        hit, rec = _rates(total)
        rows.append(
            {"arm": arm, "exposures": int(total[0]), "units": len(values), "buying_exposures": int(total[2]),
             "hit_rate": float(hit), "recall": float(rec)}
        )  # fmt: skip
        draws[arm] = _rates(_bootstrap(values, resamples, rng)) if len(values) else None
    arms = pd.DataFrame(rows)
    both = set(per_unit.loc[per_unit["arm"] == CHAMPION, "unit_id"]) & set(
        per_unit.loc[per_unit["arm"] == CHALLENGER, "unit_id"]
    )
    if both:
        notes.append(f"{len(both)} unit(s) appear in both arms (the share or salt changed mid-experiment)")
    tail = (1 - confidence) / 2 * 100
    diffs = []
    for m, metric in enumerate(METRICS):
        by_arm = arms.set_index("arm")[metric]
        point = by_arm[CHALLENGER] - by_arm[CHAMPION]
        low = high = float("nan")
        if draws[CHAMPION] is not None and draws[CHALLENGER] is not None:
            d = draws[CHALLENGER][m] - draws[CHAMPION][m]
            if np.isfinite(d).any():
                low, high = (float(v) for v in np.nanpercentile(d, [tail, 100 - tail]))
        diffs.append({"metric": metric, "difference": float(point), "low": low, "high": high})
    differences = pd.DataFrame(diffs)
    enough = bool(arms["units"].min() >= min_units)
    verdict = _verdict(arms, differences, enough, min_units)
    return Comparison(arms, differences, verdict, enough, min_units, notes)


def _verdict(arms: pd.DataFrame, differences: pd.DataFrame, enough: bool, min_units: int) -> str:
    units = dict(zip(arms["arm"], arms["units"], strict=True))
    if not enough:
        return (
            f"{NOT_ENOUGH}: {units[CHAMPION]} champion and {units[CHALLENGER]} challenger units with a "
            f"closed window; at least {min_units} per arm are needed for a verdict"
        )
    hit = differences.set_index("metric").loc["hit_rate"]
    span = f"hit rate difference {hit['difference']:+.4f} (95% CI {hit['low']:+.4f} .. {hit['high']:+.4f})"
    if hit["low"] > 0:
        return f"challenger better: {span}"
    if hit["high"] < 0:
        return f"challenger worse: {span}"
    return f"no detectable difference: {span} includes zero"
