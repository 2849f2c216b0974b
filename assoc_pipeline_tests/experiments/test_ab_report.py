"""The A/B report on replayed data: a planted effect gives the right sign and an interval; too few
users give "not enough data"; no exposures give an empty report at once."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from assoc_pipeline.core.experiments.comparison import NOT_ENOUGH
from assoc_pipeline.core.experiments.exposure_table import read_exposures
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET, baseline_recommender
from assoc_pipeline.services.ab_report import ABReportSettings, build_ab_report, load_stored_baskets
from assoc_pipeline.services.recommendations import Served
from assoc_pipeline.serving.ab import ABRouter, Experiment
from assoc_pipeline.serving.ab_replay import history_before_test, replay_requests
from assoc_pipeline.serving.exposure_log import ExposureLog
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import ScoringState


def baseline_state(stored, method: str) -> ScoringState:
    """``method`` for users' next baskets (popularity completes baskets: only users are replayed)."""

    def served(name: str, task: str) -> Served:
        return Served(baseline_recommender(name, task).fit(stored.baskets), f"baseline {name}", False,
                      model_type=name)  # fmt: skip

    return ScoringState(stored, served(method, NEXT_BASKET), served("popularity", COMPLETION))


def replayed(ab_state, out: Path, champion: str, challenger: str, share: float = 0.5) -> dict:
    """Replay the fixture's test period with two baselines as the arms (a known quality gap:
    users re-buy their favourites, which popularity cannot know and their own top items do)."""
    stored, test_baskets = history_before_test(ab_state.assets)
    champ = baseline_state(stored, champion)
    holder = ChampionHolder(lambda: champ, lambda: None, poll_seconds=0)
    exp = Experiment(f"planted-{champion}-vs-{challenger}", share, baseline_state(stored, challenger),
                     ExposureLog(out), "replay")  # fmt: skip
    router = ABRouter(holder, exp)
    router.start()
    counts = replay_requests(router, test_baskets)
    router.stop()
    return counts


def report(ab_state, out: Path, **settings):
    return build_ab_report(out, lambda: load_stored_baskets(ab_state.assets), ABReportSettings(**settings))


@pytest.fixture(scope="module")
def planted_replay(ab_state, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("exposures")
    return out, replayed(ab_state, out, "popularity", "personal_top_frequency")


def test_a_planted_better_challenger_is_called_better_with_an_interval_above_zero(ab_state, planted_replay):
    out, counts = planted_replay
    exposures = read_exposures(out)
    assert len(exposures) == counts["requests"] > 0
    assert (exposures["source"] == "replay").all()
    record, metadata = report(ab_state, out)
    arms = {a["arm"]: a for a in record["arms"]}
    assert min(a["units"] for a in arms.values()) >= 200, arms
    hit = next(d for d in record["differences"] if d["metric"] == "hit_rate")
    assert hit["difference"] > 0 and 0 < hit["low"] < hit["difference"] < hit["high"], hit
    assert arms["challenger"]["hit_rate"] > arms["champion"]["hit_rate"]
    assert record["enough_data"] and record["verdict"].startswith("challenger better")
    assert "| champion" in metadata["report"] and "challenger - champion" in metadata["report"]


def test_the_same_gap_the_other_way_round_is_called_worse(ab_state, tmp_path):
    replayed(ab_state, tmp_path, "personal_top_frequency", "popularity")
    record, _ = report(ab_state, tmp_path)
    hit = next(d for d in record["differences"] if d["metric"] == "hit_rate")
    assert hit["high"] < 0 and record["verdict"].startswith("challenger worse"), record["verdict"]


def test_below_the_minimum_sample_the_report_refuses_a_verdict(ab_state, planted_replay):
    out, _ = planted_replay
    record, _ = report(ab_state, out, min_units_per_arm=100_000)
    assert not record["enough_data"]
    assert record["verdict"].startswith(NOT_ENOUGH) and "100000 per arm" in record["verdict"]
    # the figures are still given, with the interval: only the verdict is withheld
    assert all(a["exposures"] > 0 for a in record["arms"])


def test_a_share_too_small_for_the_minimum_is_not_enough_data_at_the_default(ab_state, tmp_path):
    replayed(ab_state, tmp_path, "popularity", "personal_top_frequency", share=0.05)
    record, _ = report(ab_state, tmp_path)
    units = {a["arm"]: a["units"] for a in record["arms"]}
    assert 0 < units["challenger"] < 200 <= units["champion"]
    assert record["verdict"].startswith(NOT_ENOUGH)


def test_exposures_whose_window_is_still_open_are_pending_not_misses(ab_state, planted_replay):
    out, _ = planted_replay
    short, _ = report(ab_state, out, window_days=1)
    long, _ = report(ab_state, out, window_days=60)  # the last 60 days of data cannot be judged
    assert long["pending_exposures"] > short["pending_exposures"] >= 0
    assert sum(a["exposures"] for a in long["arms"]) == long["exposures"] - long["pending_exposures"]


def test_no_exposures_is_an_empty_report_without_reading_the_baskets(tmp_path):
    started = time.perf_counter()

    def never():
        raise AssertionError("the baskets must not be loaded for an empty experiment")

    record, metadata = build_ab_report(tmp_path / "none", never, ABReportSettings())
    assert record["experiment"] is None and record["exposures"] == 0 and not record["enough_data"]
    assert "no exposures recorded" in metadata["verdict"]
    assert time.perf_counter() - started < 1.0


def test_a_named_experiment_that_is_not_there_is_a_clear_error(planted_replay):
    from assoc_pipeline.core.errors import InputError

    out, _ = planted_replay
    with pytest.raises(InputError, match="experiment='nope': no exposures of it"):
        build_ab_report(out, lambda: None, dataclasses.replace(ABReportSettings(), experiment="nope"))
