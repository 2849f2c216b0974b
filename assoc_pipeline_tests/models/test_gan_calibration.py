"""The GAN's calibration figures on hand-made baskets (``calibration.py``): which pairs are
calibrated, what the draws measure and which way each step moves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import basket_set_from_lists
from assoc_pipeline.core.recsys.models.gan.calibration import (
    CalibrationTargets,
    DrawnShares,
    calibration_errors,
    confidence_steps,
    item_steps,
)

# 4 items over 10 baskets: {0, 1} together 6 times, {0, 2} once, {3} alone 3 times
BASKETS = [[0, 1]] * 6 + [[0, 2]] + [[3]] * 3


def matrix(baskets: list[list[int]]) -> sp.csr_matrix:
    return basket_set_from_lists([np.asarray(b) for b in baskets], [f"i{i}" for i in range(4)]).matrix


def test_targets_hold_item_shares_and_only_the_pairs_at_the_support() -> None:
    targets = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.2)
    assert targets.items == pytest.approx([0.7, 0.6, 0.1, 0.3])
    assert (targets.rows.tolist(), targets.cols.tolist()) == ([0], [1])  # {0, 2}: 0.1 < 0.2
    assert targets.pairs == pytest.approx([0.6])
    low = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.1)
    assert sorted(zip(low.rows.tolist(), low.cols.tolist(), strict=True)) == [(0, 1), (0, 2)]
    items_only = CalibrationTargets.of(matrix(BASKETS), min_pair_support=None)
    assert not items_only.has_pairs and items_only.items == pytest.approx(targets.items)


def test_drawn_baskets_that_match_the_training_ones_move_nothing() -> None:
    targets = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.1)
    drawn = DrawnShares.of([np.asarray(b) for b in BASKETS], targets)
    assert calibration_errors(targets, drawn) == pytest.approx((0.0, 0.0))
    assert item_steps(targets, drawn) == pytest.approx(np.zeros(4))
    assert confidence_steps(targets, drawn)[2] == pytest.approx(np.zeros(4))


def test_steps_raise_what_the_draws_lack_in_the_direction_of_the_rule() -> None:
    """Draws where 0 comes with 1 half as often as in training: conf(1 | 0) and conf(0 | 1) are
    both too low, so both affinity entries [0, 1] and [1, 0] go up; item 1 is drawn too rarely,
    so its bias goes up, and item 3 too often, so its bias goes down."""
    targets = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.2)
    drawn_lists = [[0, 1]] * 3 + [[0]] * 4 + [[3]] * 3 + [[3, 1]] * 2
    drawn = DrawnShares.of([np.asarray(b) for b in drawn_lists], targets)
    assert drawn.items == pytest.approx(np.array([7, 5, 0, 5]) / 12)
    assert drawn.pairs == pytest.approx([3 / 12])
    steps = item_steps(targets, drawn)
    assert steps[1] > 0 > steps[3]
    rows, cols, moves = confidence_steps(targets, drawn)
    by_entry = dict(zip(zip(rows.tolist(), cols.tolist(), strict=True), moves.tolist(), strict=True))
    assert set(by_entry) == {(0, 1), (1, 0)}
    # conf(1 | 0): 6/7 real vs 3/7 drawn; conf(0 | 1): 1 real vs 3/5 drawn
    assert by_entry[(0, 1)] == pytest.approx(np.log((6 / 7 + 0.02) / (3 / 7 + 0.02)))
    assert by_entry[(1, 0)] == pytest.approx(np.log((1 + 0.02) / (3 / 5 + 0.02)))
    item_error, pair_error = calibration_errors(targets, drawn)
    assert pair_error == pytest.approx(0.6 - 0.25) and item_error > 0


def test_released_targets_keep_the_pairs_at_the_support_and_draws_are_weighted_like_them() -> None:
    """Under DP the targets are the released moments (weighted shares, noise included): the pairs
    at the support come from the (n, n) release, and drawn baskets are measured with the same
    per-basket weights (a basket of m > clip items counts clip / m per item)."""
    items = np.array([0.5, 0.4, 0.05, 0.3])
    pairs = np.zeros((4, 4))
    pairs[0, 1] = pairs[1, 0] = 0.3
    pairs[0, 2] = pairs[2, 0] = 0.01
    targets = CalibrationTargets.released(items, pairs, min_pair_support=0.1, clip_items=2)
    assert (targets.rows.tolist(), targets.cols.tolist()) == ([0], [1])
    assert targets.pairs == pytest.approx([0.3]) and targets.clip_items == 2
    drawn = DrawnShares.of([np.array([0, 1]), np.array([0, 1, 3]), np.array([3])], targets)
    # basket {0, 1, 3} is above the clip of 2: items count 2/3, its pairs 2*1 / (3*2) = 1/3
    assert drawn.items == pytest.approx(np.array([1 + 2 / 3, 1 + 2 / 3, 0, 2 / 3 + 1]) / 3)
    assert drawn.pairs == pytest.approx([(1 + 1 / 3) / 3])
    unweighted = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.2)
    assert unweighted.clip_items is None
    assert DrawnShares.of([np.array([0, 1, 3])], unweighted).items == pytest.approx([1, 1, 0, 1])


def test_pairs_the_draws_hold_at_the_support_join_the_targets_with_their_training_shares() -> None:
    """A pair the drawn baskets hold at the support but the training baskets do not would be a
    false rule: it joins the calibrated pairs with its training share (0 where never bought
    together), so its confidence can be moved down; a pair drawn below the support stays out."""
    targets = CalibrationTargets.of(matrix(BASKETS), min_pair_support=0.2)
    drawn_lists = [[0, 2]] * 4 + [[1, 3]] * 3 + [[2, 3]] + [[0, 1]] * 2
    wider = targets.with_drawn_pairs(matrix(BASKETS), [np.asarray(b) for b in drawn_lists], 0.2)
    assert sorted(zip(wider.rows.tolist(), wider.cols.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 3)]
    pairs = zip(wider.rows.tolist(), wider.cols.tolist(), strict=True)
    by_pair = dict(zip(pairs, wider.pairs.tolist(), strict=True))
    assert by_pair == pytest.approx({(0, 1): 0.6, (0, 2): 0.1, (1, 3): 0.0})
    assert wider.items == pytest.approx(targets.items)
    drawn = DrawnShares.of([np.asarray(b) for b in drawn_lists], wider)
    rows, cols, moves = confidence_steps(wider, drawn)
    by_entry = dict(zip(zip(rows.tolist(), cols.tolist(), strict=True), moves.tolist(), strict=True))
    # conf(2 | 0): 1/7 in training, 4/6 drawn: down; conf(0 | 2) is 1 in training (4/5 drawn): up;
    # {1, 3} was never bought together: down both ways
    assert by_entry[(0, 2)] < 0 < by_entry[(2, 0)] and by_entry[(1, 3)] < 0 and by_entry[(3, 1)] < 0
    # the draws that match the training baskets add nothing
    same = targets.with_drawn_pairs(matrix(BASKETS), [np.asarray(b) for b in BASKETS], 0.2)
    assert (same.rows.tolist(), same.cols.tolist()) == (targets.rows.tolist(), targets.cols.tolist())
