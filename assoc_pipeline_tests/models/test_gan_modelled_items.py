"""Which items the basket GAN models: the items that hold a pair at the rules' support."""

from __future__ import annotations

import numpy as np
import pytest

from assoc_pipeline.core.data.baskets import basket_set_from_lists
from assoc_pipeline.core.recsys.models.gan import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.gan.modelled_items import choose_modelled_items, items_holding_a_pair

# 20 baskets: {0, 1} 6 times, {2} alone 8 times (the most frequent item, never with another),
# {3, 4} twice, {0, 5} once, {3} alone 3 times
BASKETS = [[0, 1]] * 6 + [[2]] * 8 + [[3, 4]] * 2 + [[0, 5]] + [[3]] * 3
BY_COUNT = np.array([2, 0, 3, 1, 4, 5])


def matrix(baskets: list[list[int]], n_items: int = 6):
    return basket_set_from_lists([np.asarray(b) for b in baskets], [f"i{i}" for i in range(n_items)]).matrix


def test_items_holding_a_pair_at_the_support() -> None:
    m = matrix(BASKETS)
    assert items_holding_a_pair(m, 0.1).tolist() == [0, 1, 3, 4]  # {0, 5}: 1 of 20 < 10%
    assert items_holding_a_pair(m, 0.05).tolist() == [0, 1, 3, 4, 5]
    assert items_holding_a_pair(m, 0.5).tolist() == []


def test_the_modelled_items_are_those_holding_a_pair_most_wanted_first() -> None:
    m = matrix(BASKETS)
    assert choose_modelled_items(BY_COUNT, m, 10, 0.1).tolist() == [0, 1, 3, 4]  # not 2: never paired
    assert choose_modelled_items(BY_COUNT, m, 3, 0.1).tolist() == [0, 1, 3]  # the cap, in BY_COUNT order
    assert choose_modelled_items(BY_COUNT, m, 3, None).tolist() == [0, 2, 3]  # by count alone
    # fewer than two items hold a pair: nothing joint to learn, the most wanted items as before
    assert choose_modelled_items(BY_COUNT, m, 3, 0.5).tolist() == [0, 2, 3]
    # a support of 0 would make every pair count (and a pair matrix over every item): no choice
    assert choose_modelled_items(BY_COUNT, m, 3, 0.0).tolist() == [0, 2, 3]
    with pytest.raises(ValueError, match="pair support must be positive"):
        items_holding_a_pair(m, 0.0)


@pytest.mark.parametrize("paired_only", [True, False])
def test_a_pair_of_less_frequent_items_is_modelled_instead_of_items_bought_alone(paired_only: bool) -> None:
    """Six items bought alone outnumber a pair of items always bought together: with 8 places, the
    pair is modelled (and drawn together) when only items holding a pair are modelled; by count it
    falls to the tail, where its items are drawn independently."""
    rng = np.random.default_rng(0)
    lists = []
    for _ in range(600):
        r = rng.random()
        if r < 0.5:
            lists.append([int(rng.integers(2, 8))])  # items 2-7: bought alone, ~8% each
        elif r < 0.56:
            lists.append([0, 1])  # the pair: 6% of baskets
        else:
            lists.append(sorted(rng.choice(np.arange(8, 14), 2, replace=False).tolist()))
    fit = basket_set_from_lists([np.asarray(b) for b in lists], [f"i{i}" for i in range(14)])
    params = GANParams(
        seed=1, n_modelled_items=8, paired_items_only=paired_only, epochs=1, pretrain_epochs=1, lr=0.0,
        affinity_lr=0.0, calibration_rounds=0, device="cpu", threads=1, eval_samples=200,
        noise_dim=8, hidden=16, disc_hidden=8, batch_size=64, max_basket_size=4, clip_items=4,
    )  # fmt: skip
    gan = BasketGANModel(params).fit(fit, fit)
    modelled = gan.modelled_items.tolist()
    # items 8-13 (~15% each, in pairs) come first either way; then the pair, or two loners
    assert (modelled[:2] == [0, 1]) if paired_only else not ({0, 1} & set(modelled))
    assert set(range(8, 14)) <= set(modelled) and len(modelled) == 8
    drawn = gan.sample(3000, seed=2)
    together = np.mean([1 in b for b in drawn if 0 in b])
    assert (together > 0.8) if paired_only else (together < 0.3), together


def test_under_dp_the_modelled_items_come_from_the_released_counts_alone() -> None:
    fit = basket_set_from_lists([np.asarray(b) for b in BASKETS * 30], [f"i{i}" for i in range(6)])
    common = dict(seed=1, n_modelled_items=3, dp=True, epochs=1, pretrain_epochs=1, device="cpu", threads=1)
    chosen = [
        BasketGANModel(GANParams(paired_items_only=flag, **common)).fit(fit, fit).modelled_items.tolist()
        for flag in (True, False)
    ]
    assert chosen[0] == chosen[1] and 2 in chosen[0]  # 2, the most frequent item, is never paired
