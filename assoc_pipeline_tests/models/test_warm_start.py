"""Warm start: weights move to the new model by id, new items start fresh, fine-tuning starts ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_events
from assoc_pipeline.core.recsys.models.cf import CFParams, CFRecommender
from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.models.warm_start import id_alignment
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline_tests.models.test_models import CF, DNN
from assoc_pipeline_tests.models.test_ranker import FAST

RANKER = {**FAST, "item_dim": 4, "completion_head": False}  # the head trains afresh either way

NEW_ITEMS = ["N00", "N01", "N02"]
DROPPED = "I39"


def grown(bs: BasketSet) -> BasketSet:
    """The same history with one product gone and three new ones sold by new users (new vocabulary)."""
    ids = bs.vocabulary["item_id"].to_numpy()
    rows = []
    for b, items in zip(bs.baskets.itertuples(), bs.item_lists(), strict=True):
        rows += [(b.basket_time, b.basket_id, b.user_id, ids[i]) for i in items if ids[i] != DROPPED]
    t0 = bs.baskets["basket_time"].min()
    for n in range(30):
        rows += [(t0 + pd.Timedelta(days=n), f"new{n}", f"nu{n % 5}", it) for it in NEW_ITEMS[: 2 + n % 2]]
    ev = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id"])
    ev["item_name"], ev["country"] = ev["item_id"], "GB"
    ev["user_id"] = ev["user_id"].astype("string")
    return basket_set_from_events(ev)


@pytest.fixture(scope="module")
def grown_split(planted):
    return temporal_split(grown(planted), "2024-05-20", "2024-06-19")


def frozen(params: dict) -> dict:
    """One epoch at learning rate 0: the weights after ``fit`` are exactly the warm-started ones."""
    return {**params, "epochs": 1, "patience": 0, "lr": 0.0}


def test_id_alignment_matches_by_id_not_position() -> None:
    new_pos, old_pos = id_alignment(["a", "b", "c"], ["c", "x", "a"])
    assert new_pos.tolist() == [0, 2] and old_pos.tolist() == [2, 0]


@pytest.mark.parametrize(
    ("cls", "params_cls", "params", "item_tensors"),
    [
        (CFRecommender, CFParams, CF, ("item.weight", "bias")),
        (DNNRecommender, DNNParams, DNN, ("item_in", "item_out", "bias", "repeat_item")),
        (RankerRecommender, RankerParams, RANKER, ("item_embedding.weight",)),
    ],
)
def test_warm_start_copies_rows_by_id_and_leaves_new_items_fresh(
    cls, params_cls, params, item_tensors, planted_split, grown_split
) -> None:
    base = cls(params_cls(**params)).fit(planted_split.train, planted_split.validation)
    warm = cls(params_cls(**frozen(params))).fit(grown_split.train, init_from=base)
    scratch = cls(params_cls(**frozen(params))).fit(grown_split.train)
    report = warm.warm_start
    assert report.new_items == len(NEW_ITEMS) and report.dropped_items == 1
    assert report.shared_items == base.n_items - 1
    new_pos, old_pos = id_alignment(base.item_ids, warm.item_ids)
    fresh = np.setdiff1d(np.arange(warm.n_items), new_pos)
    assert sorted(np.asarray(warm.item_ids)[fresh]) == NEW_ITEMS
    base_state, warm_state = base.module.state_dict(), warm.module.state_dict()
    scratch_state = scratch.module.state_dict()
    for name in item_tensors:
        assert torch.equal(warm_state[name][new_pos], base_state[name][old_pos]), name
        assert torch.equal(warm_state[name][fresh], scratch_state[name][fresh]), name  # fresh init
    if cls is DNNRecommender:  # closed-form layer is refit on the new data, not copied
        assert torch.equal(warm_state["item_item"], scratch_state["item_item"])
        assert torch.equal(warm_state["mlp.1.weight"], base_state["mlp.1.weight"])
    elif cls is RankerRecommender:  # the network and the standardisation its weights were fit on
        for name in ("mlp.0.weight", "linear.weight", "mean", "std"):
            assert torch.equal(warm_state[name], base_state[name]), name
        assert not torch.equal(scratch_state["mean"], base_state["mean"])  # so the copy is visible
    else:
        shared_users = set(base.user_index) & set(warm.user_index)
        assert report.shared_users == len(shared_users) > 0 and report.new_users == 5
        u_new = warm.user_index.get_indexer(sorted(shared_users))
        u_old = base.user_index.get_indexer(sorted(shared_users))
        assert torch.equal(warm_state["user.weight"][u_new], base_state["user.weight"][u_old])


@pytest.mark.parametrize(
    ("cls", "params_cls", "params"),
    [
        (CFRecommender, CFParams, CF),
        (DNNRecommender, DNNParams, DNN),
        (RankerRecommender, RankerParams, RANKER),
    ],
)
def test_a_base_reduced_to_a_warm_start_source_starts_the_same_model(
    cls, params_cls, params, planted_split, grown_split
) -> None:
    """What fine-tuning holds of its base: weights and ids; the DNN's EASE block and users'
    history features go, and the warm-started model is the same to the bit."""
    base = cls(params_cls(**params)).fit(planted_split.train, planted_split.validation)
    full = cls(params_cls(**frozen(params))).fit(grown_split.train, init_from=base)
    source = base.as_warm_start_source()
    slim = cls(params_cls(**frozen(params))).fit(grown_split.train, init_from=source)
    assert slim.warm_start == full.warm_start
    for name, tensor in full.module.state_dict().items():
        assert torch.equal(slim.module.state_dict()[name], tensor), name
    if cls is DNNRecommender:
        assert source.module.item_item.numel() == 0 and len(source.history.indptr) <= 1
        assert "item_item" not in source.result.best_state  # it shared the dropped tensor
    if cls is RankerRecommender:  # its stored history (the base's train_full) goes too
        assert source.history is None and source.completion is None


def test_a_ranker_fine_tune_early_stops_what_its_refit_fixed(planted_split) -> None:
    """A registered ranker holds its refit's settings (steps, the head's epochs without patience,
    or no head); a fine-tune of it decides them again on validation, as a fit from scratch does."""
    base = RankerRecommender(RankerParams(**{**RANKER, "completion_head": True, "epochs": 2}))
    base.fit(planted_split.train, planted_split.validation)
    refit = base.refit_params(base.params)
    assert refit.refit_steps > 0  # what the registered (refit) model holds
    assert refit.completion_patience == 0 or not refit.completion_head
    tuned = base.fine_tuning_params(refit)
    fresh = RankerParams()
    assert tuned.refit_steps == 0 and tuned.completion_head
    assert (tuned.completion_epochs, tuned.completion_patience) == (
        fresh.completion_epochs,
        fresh.completion_patience,
    )
    assert (tuned.hidden, tuned.item_dim, tuned.lr) == (
        refit.hidden,
        refit.item_dim,
        refit.lr,
    )  # the rest kept
    cf = CFRecommender(CFParams(**frozen(CF))).fit(planted_split.train)
    assert cf.fine_tuning_params(cf.params) is cf.params  # nothing else to reset for other models


# CF starts from random vectors: validation NDCG shows the head start. The DNN starts from its
# closed-form priors either way (validation is flat at epoch 1), so its training loss shows it.
@pytest.mark.parametrize(
    ("cls", "params_cls", "params", "monitor", "sign"),
    [
        (CFRecommender, CFParams, CF, "val_ndcg@10", 1),
        (DNNRecommender, DNNParams, DNN, "loss", -1),
        (RankerRecommender, RankerParams, RANKER, "loss", -1),
    ],
)
def test_fine_tuning_starts_where_the_base_model_left_off(
    cls, params_cls, params, monitor, sign, planted_split, grown_split
) -> None:
    base = cls(params_cls(**params)).fit(planted_split.train, planted_split.validation)
    one = {**params, "epochs": 1, "patience": 0}
    warm = cls(params_cls(**one)).fit(grown_split.train, grown_split.validation, init_from=base)
    scratch = cls(params_cls(**one)).fit(grown_split.train, grown_split.validation)
    first_warm, first_scratch = warm.result.history[0][monitor], scratch.result.history[0][monitor]
    assert sign * (first_warm - first_scratch) > 0.1 * abs(first_scratch), (first_warm, first_scratch)


def test_warm_start_refuses_another_model_class_or_a_model_without_item_ids(planted_split) -> None:
    cf = CFRecommender(CFParams(**frozen(CF))).fit(planted_split.train)
    with pytest.raises(ValueError, match="cannot initialise a DNNRecommender from a CFRecommender"):
        DNNRecommender(DNNParams(**frozen(DNN))).fit(planted_split.train, init_from=cf)
    cf.item_ids = None  # as loaded from a checkpoint written before warm-start support
    with pytest.raises(ValueError, match="no item ids"):
        CFRecommender(CFParams(**frozen(CF))).fit(planted_split.train, init_from=cf)
