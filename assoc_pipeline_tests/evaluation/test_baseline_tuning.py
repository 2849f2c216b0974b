"""The baselines' settings are chosen on validation in code, recorded, and used by the report."""

from __future__ import annotations

import pytest

from assoc_pipeline.core.recsys.baseline_tuning import (
    EASE_GRID,
    TIFU_GRID,
    BaselineSettings,
    primary_value,
    tune_baselines,
    validation_tasks,
)
from assoc_pipeline.core.recsys.baselines import PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET, baseline_specs
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline_tests.models.conftest import planted_baskets


@pytest.fixture(scope="module")
def planted_split():
    return temporal_split(planted_baskets(), "2024-05-20", "2024-06-19")


@pytest.fixture(scope="module")
def tuned(planted_split):
    return tune_baselines(planted_split, seed=0, log=lambda _: None)


def test_each_choice_is_the_best_point_of_its_validation_curve(tuned):
    settings, curves, _ = tuned
    for task in (NEXT_BASKET, COMPLETION):
        curve = curves[f"ease_l2/{task}"]
        assert set(curve) == {str(g) for g in EASE_GRID}
        assert curve[str(settings.ease_l2[task])] == max(curve.values())
    tifu = curves["tifu/next_basket"]
    assert len(tifu) == len(TIFU_GRID)
    assert tifu[str((settings.tifu_neighbors, settings.tifu_alpha))] == max(tifu.values())
    assert settings.chosen_on.startswith("validation (")


def test_tuning_side_by_side_chooses_the_same_settings_on_the_same_curves(tuned, planted_split):
    """... and says each grid point as it is scored (minutes a point on a 100k-item log)."""
    lines: list[str] = []
    assert tune_baselines(planted_split, seed=0, log=lines.append, workers=2) == tuned
    _, curves, _ = tuned
    ease = [line for line in lines if line.startswith("baseline tuning: EASE lambda ") and "/" in line]
    assert [line.split("(")[1].split(",")[0] for line in ease] == [
        f"{k}/{len(EASE_GRID)}" for k in range(1, len(EASE_GRID) + 1)
    ]
    first = curves[f"ease_l2/{NEXT_BASKET}"][str(EASE_GRID[0])]
    assert (
        ease[0].startswith(f"baseline tuning: EASE lambda {EASE_GRID[0]:g} (1/") and f"{first:.4f}" in ease[0]
    )
    tifu = [line for line in lines if line.startswith("baseline tuning: TIFU-KNN (neighbours, alpha)")]
    assert len(tifu) == len(TIFU_GRID) and f"({len(TIFU_GRID)}/{len(TIFU_GRID)}, " in tifu[-1]


def test_the_validation_figures_are_what_the_baselines_score_on_validation(tuned, planted_split):
    settings, curves, validation = tuned
    tasks = validation_tasks(planted_split)
    ptf = PersonalTopFrequencyRecommender().fit(planted_split.train)
    assert validation["personal_top_frequency"][NEXT_BASKET] == pytest.approx(
        primary_value(ptf, tasks.next_basket, NEXT_BASKET)
    )
    assert validation["ease"][COMPLETION] == max(curves[f"ease_l2/{COMPLETION}"].values())
    assert set(validation) == {s.method for s in baseline_specs(settings)}


def test_the_report_fits_the_chosen_settings_and_says_where_they_come_from(tuned):
    settings, _, _ = tuned
    ease = next(s for s in baseline_specs(settings) if s.method == "ease")
    assert ease.per_task[NEXT_BASKET].l2 == settings.ease_l2[NEXT_BASKET]
    assert ease.per_task[COMPLETION].l2 == settings.ease_l2[COMPLETION]
    assert "validation (" in ease.params
    defaults = next(s for s in baseline_specs(BaselineSettings()) if s.method == "ease")
    assert "defaults (not tuned" in defaults.params
    assert BaselineSettings.from_dict(settings.as_dict()) == settings  # what the asset stores round-trips
