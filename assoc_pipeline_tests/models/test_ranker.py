"""The two-stage ranker: candidates hold the history, features are ranked within each user's list,
it learns purchase cycles that counting cannot see, and a saved ranker scores identically."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baselines.top_frequency import PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.candidates import (
    SOURCE_HISTORY,
    CandidateLists,
    CandidateSettings,
    candidate_lists,
    candidate_recall,
    first_stage,
    prediction_day,
)
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model, save_model
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender, feature_mask
from assoc_pipeline.core.recsys.ranking_features import (
    FEATURE_GROUPS,
    FEATURES,
    ranking_features,
    within_list_rank,
)
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import next_basket_task
from assoc_pipeline_tests.evaluation.helpers import baskets_of

FAST = dict(epochs=25, patience=5, hidden=32, item_dim=0, lr=3e-3, device="cpu", threads=1)
FAST |= dict(n_neighbours=5, n_trending=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cyclic_baskets(n_users: int = 120, n_baskets: int = 40, seed: int = 0) -> BasketSet:
    """Each user re-buys 12 own items on a 6-week cycle, two due per week, and shops in 80% of
    the weeks (items due in a skipped week wait for their next turn).

    Every item of a user is bought about equally often (skipped weeks make the counts differ at
    random), so counts (personal top-frequency) cannot tell which two are due next; the days since
    the user last bought each item can.
    """
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for u in range(n_users):
        own = rng.choice(60, 12, replace=False)
        offset = rng.integers(6)
        for b in range(n_baskets):
            if rng.random() < 0.2:
                continue
            due = [f"I{own[j]:02d}" for j in range(12) if j % 6 == (b + offset) % 6]
            if rng.random() < 0.3:
                due.append(f"I{int(rng.integers(60)):02d}")
            day = start + pd.Timedelta(days=7 * b + float(rng.uniform(0, 1)))
            rows.append((str(day), f"u{u}", due))
    return baskets_of(rows)


def test_candidates_hold_the_whole_history_most_bought_first_then_neighbours() -> None:
    bs = baskets_of(
        [
            ("2024-01-01", "a", ["x", "y"]),
            ("2024-01-05", "a", ["x", "z"]),
            ("2024-01-06", "b", ["y", "w"]),
            ("2024-01-07", "b", ["y", "v"]),
            ("2024-01-08", "c", ["x", "w"]),
        ]
    )
    ids = bs.vocabulary["item_id"].tolist()
    stage = first_stage(bs, ["a", "b", "nobody"], prediction_day(bs), CandidateSettings(2, 1, 0, 1.0))
    lists = candidate_lists(stage, CandidateSettings(2, 1, 0, 1.0))
    a = [ids[i] for i in lists.items_of(0)]
    assert a[:3] == ["x", "z", "y"]  # x twice, then z (bought later than y), then y
    assert (lists.source[:3] == SOURCE_HISTORY).all() and len(set(a)) == len(a)
    assert set(a) >= {"x", "y", "z"} and len(a) <= 3 + 2 + 1
    b = [ids[i] for i in lists.items_of(1)]
    assert b[0] == "y" and set(b[:3]) == {"y", "w", "v"}
    # a user without history gets the trending item only
    assert [ids[i] for i in lists.items_of(2)] == [ids[int(np.argmax(stage.recent))]]


def test_candidate_recall_counts_every_target_and_cuts_at_k() -> None:
    lists = CandidateLists(
        np.array(["a", "b"], dtype=object),
        np.array([0, 3, 5]),
        np.array([1, 2, 3, 4, 5]),
        np.zeros(5, dtype=np.int8),
    )
    targets = [np.array([1, 3, 9]), np.array([5])]  # 9 is in no list
    out = candidate_recall(lists, targets, ks=(1, 2))
    assert out["recall@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert out["recall@2"] == pytest.approx((1 / 3 + 1) / 2)
    assert out["recall@all"] == pytest.approx((2 / 3 + 1) / 2)


def test_within_list_ranks_restart_in_every_list() -> None:
    values = np.array([0.1, 0.9, 0.5, 3.0, -1.0])
    lists = np.array([0, 0, 0, 1, 1])
    np.testing.assert_array_equal(within_list_rank(values, lists), [2, 0, 1, 0, 1])
    bs = cyclic_baskets(n_users=6, n_baskets=8)
    stage = first_stage(bs, ["u0", "u1", "u2"], prediction_day(bs))
    lists_ = candidate_lists(stage)
    x = ranking_features(stage, lists_)
    rank = np.expm1(x[:, FEATURES.index("log_topfreq_rank")]).round().astype(int)
    for i in range(len(lists_)):
        r = rank[lists_.indptr[i] : lists_.indptr[i + 1]]
        np.testing.assert_array_equal(np.sort(r), np.arange(len(r)))


def test_ranker_learns_purchase_cycles_that_top_frequency_cannot_see() -> None:
    bs = cyclic_baskets()
    split = temporal_split(bs, "2024-07-29", "2024-09-09")  # whole 6-week cycles before each
    ranker = RankerRecommender(RankerParams(**FAST)).fit(split.train, split.validation)
    ranker.with_history(split.train_full)
    task = next_basket_task(split.train_full, split.test)
    top = PersonalTopFrequencyRecommender().fit(split.train_full)

    def recall_at_2(rec) -> float:
        out = evaluate(rec, task, ks=(2,))
        return float(out[(out.metric == "recall") & (out.k == 2)].value.iloc[0])

    learned, counted = recall_at_2(ranker), recall_at_2(top)
    assert ranker.result is not None and ranker.result.best_epoch >= 1
    # two of twelve about equally frequent items are due: counting is near chance, cycles are not
    assert counted < 0.35
    assert learned > counted + 0.3, (learned, counted)


def test_ranker_keeps_up_with_top_frequency_where_counts_decide(planted_split) -> None:
    """Stable favourites (no cycles): the re-ranker must not lose what counting gets."""
    split = planted_split
    ranker = RankerRecommender(RankerParams(**FAST)).fit(split.train, split.validation)
    ranker.with_history(split.train_full)
    task = next_basket_task(split.train_full, split.test)
    top = PersonalTopFrequencyRecommender().fit(split.train_full)
    recall = {}
    for rec in (ranker, top):
        out = evaluate(rec, task, ks=(10,))
        recall[rec.name] = float(out[(out.metric == "recall") & (out.k == 10)].value.iloc[0])
    assert recall["ranker"] >= 0.95 * recall["personal_top_frequency"], recall


def test_a_saved_ranker_reloads_with_identical_scores(tmp_path) -> None:
    bs = cyclic_baskets(n_users=40, n_baskets=30)
    split = temporal_split(bs, "2024-06-01", "2024-07-01")
    ranker = RankerRecommender(RankerParams(**{**FAST, "epochs": 2, "item_dim": 4})).fit(split.train)
    ranker.with_history(split.train_full)
    save_model(ranker, tmp_path / "ranker.pt")
    loaded = load_model(tmp_path / "ranker.pt")
    assert isinstance(loaded, RankerRecommender)
    users = ["u0", "u5", "u39", "nobody"]
    np.testing.assert_array_equal(loaded.score_next_basket(users), ranker.score_next_basket(users))
    parts = [np.array([0, 3]), np.array([7])]
    np.testing.assert_array_equal(loaded.score_completion(parts), ranker.score_completion(parts))


def test_the_refit_keeps_the_fits_optimizer_steps_not_its_epochs() -> None:
    """The refit on train_full has more lists (more prediction times): as many epochs over them
    overtrain, so it runs the fit's best epoch in steps; a fit with validation ignores the setting."""
    bs = cyclic_baskets(n_users=40, n_baskets=30)
    split = temporal_split(bs, "2024-03-01", "2024-07-01")
    params = RankerParams(
        **{**FAST, "epochs": 4, "patience": 0, "lists_per_batch": 8, "completion_head": False}
    )
    fitted = RankerRecommender(params).fit(split.train)  # no validation: every epoch kept, the last best
    n_fit = fitted.result.extra["n_training_lists"]
    final = fitted.refit_params(params)
    assert final.refit_steps == fitted.result.best_epoch * -(-n_fit // 8) > 0
    assert final.planned_epochs is None and params.planned_epochs == 4  # progress lines: no total
    refit = RankerRecommender(final).fit(split.train_full)
    n_refit = refit.result.extra["n_training_lists"]
    assert n_refit > 1.5 * n_fit
    epochs = refit.result.epochs_run
    assert epochs == round(final.refit_steps / -(-n_refit // 8)) < final.epochs, (epochs, final.epochs)
    assert refit.result.extra["refit_epochs"] == f"{epochs} ({final.refit_steps} steps of the fit)"
    refit_steps = dataclasses.replace(final, epochs=2)
    tuned = RankerRecommender(refit_steps).fit(split.train, split.validation)  # fine-tuning, not a refit
    assert tuned.result.epochs_run == 2 and "refit_epochs" not in tuned.result.extra


def test_an_ablated_group_is_held_out_and_a_wrong_group_is_named() -> None:
    mask = feature_mask("cycle, ranks", FEATURES)
    dropped = {f for f, m in zip(FEATURES, mask, strict=True) if m == 0}
    assert dropped == {f for f, g in FEATURE_GROUPS.items() if g in ("cycle", "ranks")}
    with pytest.raises(InputError, match=r"drop_groups: unknown group.*cycles"):
        feature_mask("cycles", FEATURES)
    # the rules group exists only where the model reads rule features
    with pytest.raises(InputError, match=r"drop_groups: unknown group.*rules"):
        feature_mask("rules", FEATURES)
    with_rules = RankerParams(rule_features=True).feature_names
    assert with_rules[: len(FEATURES)] == FEATURES
    assert feature_mask("rules", with_rules).tolist() == [1.0] * len(FEATURES) + [0.0] * 3
