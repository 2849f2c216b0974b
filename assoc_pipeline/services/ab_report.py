"""The A/B report as the pipeline runs it: exposures from the serving log, purchases from ingest.

Reads the exposure part files the server (or ``assoc-pipeline ab-replay``) appended, picks one
experiment, joins it with the purchases in the stored baskets (loaded only when there are
exposures, so an empty experiment costs nothing in ``make demo``) and compares the arms with the
pure functions of ``core/experiments``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assoc_pipeline.core.data.baskets import BasketSet, load_basket_set
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.experiments.comparison import (
    DEFAULT_MIN_UNITS,
    DEFAULT_RESAMPLES,
    Comparison,
    compare_arms,
)
from assoc_pipeline.core.experiments.exposure_table import latest_experiment, read_exposures
from assoc_pipeline.core.experiments.outcomes import exposure_outcomes
from assoc_pipeline.core.rich_values import Image, Markdown

EMPTY = (
    "no exposures recorded: start `assoc-pipeline serve --challenger VERSION` "
    "or run `assoc-pipeline ab-replay`"
)


@dataclass(frozen=True)
class ABReportSettings:
    """How the arms are compared.

    ``window_days``: a purchase counts for an exposure when it follows within this many days.
    ``min_units_per_arm``: below this many users (or anonymous baskets) per arm with a closed
    window the report gives its figures but says "not enough data" instead of a verdict.
    ``experiment``: which experiment to report ("" = the one written last).
    """

    window_days: float = 7.0
    min_units_per_arm: int = DEFAULT_MIN_UNITS
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    experiment: str = ""

    def __post_init__(self) -> None:
        if not self.window_days > 0:
            raise InputError(f"ab_report config window_days={self.window_days}: must be > 0")
        if self.min_units_per_arm < 1:
            raise InputError(f"ab_report config min_units_per_arm={self.min_units_per_arm}: must be >= 1")
        if self.resamples < 100:
            raise InputError(f"ab_report config resamples={self.resamples}: use at least 100")


def load_stored_baskets(assets_dir: Path) -> BasketSet:
    """The ``baskets`` asset as stored under ``assets_dir``."""
    return load_basket_set(assets_dir / "baskets")


def purchases_of(baskets: BasketSet) -> pd.DataFrame:
    """One row per (basket, item) bought: basket_id, user_id, basket_time, item_id."""
    m = baskets.matrix
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    table = baskets.baskets.iloc[rows][["basket_id", "user_id", "basket_time"]].reset_index(drop=True)
    ids = baskets.vocabulary["item_id"].astype(str).to_numpy()
    return table.assign(
        basket_id=table["basket_id"].astype(str),
        user_id=table["user_id"].astype("string").astype(object).where(table["user_id"].notna(), None),
        item_id=ids[m.indices],
    )


def comparison_markdown(c: Comparison) -> str:
    """The per-arm figures and the differences as markdown tables (Dagster metadata, CLI)."""
    arms = c.arms.assign(hit_rate=c.arms["hit_rate"].round(4), recall=c.arms["recall"].round(4))
    diffs = c.differences.round(4).rename(columns={"difference": "challenger - champion"})
    return (
        f"**{c.verdict}**\n\n" + arms.to_markdown(index=False) + "\n\n" + diffs.to_markdown(index=False)
        + f"\n\n95% intervals: bootstrap over units within each arm; minimum {c.min_units} units per arm."
    )  # fmt: skip


def build_ab_report(
    exposures_dir: Path,
    load_baskets: Callable[[], BasketSet],
    settings: ABReportSettings,
    chart_path: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the stored record, the metadata) of the experiment in ``exposures_dir``."""
    exposures = read_exposures(exposures_dir)
    experiments = sorted(exposures["experiment"].dropna().unique().tolist())
    name = settings.experiment or latest_experiment(exposures)
    if settings.experiment and settings.experiment not in experiments:
        raise InputError(
            f"ab_report config experiment={settings.experiment!r}: no exposures of it in {exposures_dir} "
            f"(experiments there: {', '.join(experiments) or 'none'})"
        )
    if name is None:
        record = {"experiment": None, "verdict": EMPTY, "enough_data": False, "exposures": 0}
        return record, {**record, "experiments": experiments, "exposures_dir": str(exposures_dir)}
    chosen = exposures[exposures["experiment"] == name]
    outcomes, pending = exposure_outcomes(
        chosen, purchases_of(load_baskets()), pd.Timedelta(days=settings.window_days)
    )
    c = compare_arms(outcomes, settings.min_units_per_arm, settings.resamples, settings.seed)
    models = chosen.groupby("arm")["model_version"].agg(lambda v: sorted(set(map(str, v.dropna()))))
    record = {
        "experiment": name,
        "verdict": c.verdict,
        "enough_data": c.enough_data,
        "exposures": len(chosen),
        "pending_exposures": pending,
        "window_days": settings.window_days,
        "min_units_per_arm": settings.min_units_per_arm,
        "arms": c.arms.to_dict("records"),
        "differences": c.differences.to_dict("records"),
        "model_versions": {str(k): v for k, v in models.items()},
        "notes": c.notes,
    }
    metadata: dict[str, Any] = {
        "experiment": name,
        "verdict": c.verdict,
        "enough_data": c.enough_data,
        "exposures": len(chosen),
        "pending_exposures": pending,
        "report": Markdown(comparison_markdown(c)),
        "model_versions": record["model_versions"],
        "experiments": experiments,
    }
    if chart_path is not None and len(outcomes):
        from assoc_pipeline.core.plots import grouped_bars

        long = c.arms.melt(id_vars="arm", value_vars=["hit_rate", "recall"], var_name="metric")
        chart_path.parent.mkdir(parents=True, exist_ok=True)
        chart_path.write_bytes(grouped_bars(long, "metric", "arm", "value", f"A/B: {name}"))
        metadata["arms_chart"] = Image(chart_path)
    return record, metadata
