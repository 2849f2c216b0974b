"""The "more associations" test and the report beside its ceiling, on hand-made baskets."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from assoc_pipeline.core.data.baskets import basket_set_from_lists
from assoc_pipeline.core.privacy.more_associations import more_associations, rules_holding, wilson_interval
from assoc_pipeline.core.privacy.synthetic_report import report_markdown, synthetic_data_report

NAMES = [f"i{i}" for i in range(6)]


def baskets(lists: list[list[int]]):
    return basket_set_from_lists([np.array(b) for b in lists], NAMES)


def test_extra_rules_from_synthetic_baskets_are_checked_in_the_later_period() -> None:
    # real: {0,1} is rare (2 of 40 baskets); synthetic baskets make it frequent; the later period
    # confirms 0 -> 1 and 1 -> 0 but not {2,3}, which only the lowered support finds
    real = baskets([[0, 1]] * 2 + [[2, 3]] * 2 + [[4]] * 18 + [[5]] * 18)
    synthetic = baskets([[0, 1]] * 20 + [[4]] * 20)
    later = baskets([[0, 1]] * 10 + [[2]] * 10 + [[3]] * 10 + [[5]] * 10)
    out = more_associations(
        real, synthetic, later, min_support=0.1, min_confidence=0.5, lowered_support_factor=0.4
    )
    assert out["real_rules"] == 0
    assert out["synthetic_extra_rules"] == 2 and out["synthetic_extra_hold_share"] == 1.0
    assert out["lowered_support_extra_rules"] == 4  # 0<->1 and 2<->3
    assert out["lowered_support_extra_hold_share"] == 0.5
    assert out["synthetic_extra_hold_share_lo"] < 1.0 <= out["synthetic_extra_hold_share_hi"] + 1e-9
    assert rules_holding({((2,), (3,))}, later, 0.5, 1.0).tolist() == [False]


def test_wilson_interval_brackets_the_share() -> None:
    lo, hi = wilson_interval(30, 100)
    assert lo < 0.3 < hi and hi - lo < 0.2
    assert np.isnan(wilson_interval(0, 0)[0])


def test_report_scores_real_copies_at_the_ceiling_and_renders() -> None:
    rng = np.random.default_rng(0)
    lists = [sorted(set(rng.choice(6, rng.integers(1, 4)).tolist()) | {0}) for _ in range(200)]
    train, holdout = baskets(lists[:120]), baskets(lists[120:])
    rep = synthetic_data_report(train, train, holdout, probe=False)
    for key in ("pair_corr", "item_freq_pearson", "rules_jaccard"):
        assert rep[f"fidelity/{key}"] == pytest.approx(rep[f"fidelity/{key}_ceiling"])
    assert rep["fidelity/pair_corr_of_ceiling"] == pytest.approx(1.0)
    assert rep["privacy/exact_match_share"] == 1.0  # the training baskets themselves: all copies
    table = report_markdown(rep)
    assert "| pair_corr |" in table and "membership-inference AUC" in table


def test_gan_parts_are_disjoint_and_cover_the_train_period(planted_split) -> None:
    from assoc_pipeline.core.recsys.models.gan.protocol import gan_data_parts

    train = planted_split.train
    parts = gan_data_parts(train, seed=0)
    rows = [parts.fit_rows, parts.epoch_choice_rows, parts.holdout_rows]
    joined = np.concatenate(rows)
    assert len(np.unique(joined)) == len(joined) == train.n_baskets  # disjoint, nothing dropped
    assert len(parts.holdout_rows) == round(0.2 * train.n_baskets)
    assert np.array_equal(gan_data_parts(train, seed=0).holdout_rows, parts.holdout_rows)
    with pytest.raises(ValueError, match="fraction"):
        gan_data_parts(train, epoch_choice_fraction=0.5, holdout_fraction=0.5)


class _Recorder:
    """A recommender that records what it was fitted on and scores at random."""

    fits: typing.ClassVar[list] = []

    def fit(self, train, validation=None, **kwargs):
        self.fits.append(validation)
        self.n_items = train.n_items
        return self

    def score_next_basket(self, users):
        return np.random.default_rng(0).random((len(users), self.n_items))

    def score_completion(self, partial):
        return np.random.default_rng(1).random((len(partial), self.n_items))


def test_utility_arms_never_early_stop_on_the_scored_period(planted_split) -> None:
    from assoc_pipeline.core.privacy.synthetic_quality import utility_comparison

    _Recorder.fits = []
    synthetic = planted_split.train.subset(np.arange(20))
    out = utility_comparison(planted_split.train, planted_split.validation, synthetic, _Recorder)
    assert _Recorder.fits == [None, None]  # both arms: fixed epochs, validation only scored
    assert {"real_ndcg@10", "augmented_ndcg@10"} <= set(out)
