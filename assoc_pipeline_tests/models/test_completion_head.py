"""The ranker's completion head: its lists hold personal EASE's best items outside the basket, it
learns what personal EASE cannot see, its refit keeps its epoch count, its choices are explained by
what decided them, and old models still score."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baselines.personal_ease import PersonalEASERecommender
from assoc_pipeline.core.recsys.completion_lists import (
    COMPLETION_FEATURE_GROUPS,
    COMPLETION_FEATURES,
    CompletionContext,
    CompletionSettings,
    completion_batch,
    completion_training_lists,
)
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.explanations import ranked_basket_scores
from assoc_pipeline.core.recsys.models.completion_head import CANDIDATE_ORDER, CompletionHead, hit_at_10
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.ranking_lists import RankingLists
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import completion_task
from assoc_pipeline_tests.evaluation.helpers import baskets_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# the next-basket part as small as it goes: these tests are about completion
FAST = dict(epochs=1, hidden=16, item_dim=0, device="cpu", threads=1, n_neighbours=5, n_trending=3)
CPU = torch.device("cpu")
HEAD = dict(completion_epochs=15, completion_patience=5, completion_hidden=16, completion_lr=1e-2)


def column(lists: RankingLists, name: str) -> np.ndarray:
    return lists.features[:, COMPLETION_FEATURES.index(name)]


def test_a_list_holds_personal_eases_best_items_outside_the_basket_and_marks_the_hidden_one() -> None:
    bs = baskets_of(
        [
            ("2024-01-01", "a", ["x", "y", "z"]),
            ("2024-01-02", "a", ["x", "y"]),
            ("2024-01-03", "b", ["y", "w"]),
            ("2024-01-04", None, ["x", "v"]),
            ("2024-01-05", "b", ["w", "z"]),
        ]
    )
    ids = bs.vocabulary["item_id"].tolist()
    code = {item: ids.index(item) for item in ids}
    settings = CompletionSettings(k=3, ease_l2=1.0)
    ctx = CompletionContext.of(bs, settings)
    baskets = [np.array([code["x"]]), np.array([code["w"], code["y"]])]
    lists, personal = completion_batch(ctx, baskets, ["a", None], hidden=np.array([code["y"], code["x"]]))

    assert len(lists) == 2 and personal.shape == (2, len(ids))
    for q, basket in enumerate(baskets):
        items = lists.items[lists.indptr[q] : lists.indptr[q + 1]]
        assert not set(items) & set(basket)
        others = np.setdiff1d(np.arange(len(ids)), basket)
        best = others[np.argsort(-personal[q, others], kind="stable")][:3]
        assert sorted(items) == sorted(best)  # the 3 best by personal EASE, best first
        assert np.all(np.diff(personal[q, items]) <= 0)
    first = slice(lists.indptr[0], lists.indptr[1])
    assert lists.labels[first][lists.items[first] == code["y"]].tolist() == [1.0]
    assert lists.labels.sum() == 2
    # customer a: 2 baskets, both hold y, one holds z; the anonymous basket has no habit at all
    habit = dict(zip(lists.items[first], column(lists, "habit_share")[first], strict=True))
    assert habit[code["y"]] == 1.0 and habit[code["z"]] == 0.5
    assert set(column(lists, "known_customer")[first]) == {1.0}
    second = slice(lists.indptr[1], lists.indptr[2])
    assert set(column(lists, "known_customer")[second]) == {0.0}
    assert set(column(lists, "habit_share")[second]) == {0.0}
    # personal EASE = standardised EASE + 2 log(1 + 10 share); for the anonymous basket, EASE alone
    z, p = column(lists, "ease_z"), column(lists, "personal_ease")
    np.testing.assert_allclose(p[second], z[second], rtol=1e-6)
    np.testing.assert_allclose(
        p[first], z[first] + 2 * np.log1p(10 * column(lists, "habit_share")[first]), rtol=1e-5
    )


def test_hit_at_10_counts_an_unlisted_hidden_item_as_a_miss() -> None:
    indptr = np.array([0, 12, 24, 26])
    labels = np.zeros(26, np.float32)
    labels[[3, 23]] = 1  # list 0: ranked 4th of 12; list 1: ranked 12th of 12; list 2: not listed
    logits = np.concatenate([-np.arange(12.0), -np.arange(12.0), [0.0, 1.0]]).astype(np.float32)
    lists = RankingLists(
        np.zeros((26, 1), np.float32), np.arange(26), indptr, labels, np.array(["a", "b", "c"], object)
    )
    assert hit_at_10(logits, lists) == pytest.approx(1 / 3)


def discontinued_baskets(seed: int = 0, gone_day: int = 120, renewed_day: int = 240) -> BasketSet:
    """Thirty regular items bought at random all year; until ``gone_day`` every basket also holds one of
    six old favourites, which then leave the range and are never bought again. From ``renewed_day``
    the whole range is new: baskets hold only items nobody bought before.

    EASE and the customer's habit both still rank the old favourites high after that (they were
    among the most bought items, and every customer bought them); that nobody has bought one for
    months is what tells a model to leave them out."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for day in range(240):
        for _ in range(12):
            prefix = "R" if day < renewed_day else "N"
            items = [f"{prefix}{i:02d}" for i in rng.choice(30, int(rng.integers(2, 4)), replace=False)]
            if day < gone_day:
                items.append(f"O{int(rng.integers(6))}")
            rows.append((str(start + pd.Timedelta(days=day)), f"u{int(rng.integers(80))}", items))
    return baskets_of(rows)


def test_the_head_learns_what_personal_ease_cannot_see() -> None:
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    fitted = RankerRecommender(RankerParams(**FAST, **HEAD)).fit(split.train, split.validation)
    assert fitted.completion is not None and fitted.completion_result.best_epoch >= 1
    # kept because on validation it ranks better than the personal-EASE order it re-ranks
    assert fitted.completion_result.best_metric > fitted.result.extra[CANDIDATE_ORDER] > 0
    # what the asset serves: refit on everything before the test cutoff, no validation to stop on
    ranker = RankerRecommender(fitted.refit_params(fitted.params)).fit(split.train_full)
    refit = ranker.completion_result
    # every epoch trained and kept (no validation: the best by loss, which must be there to keep)
    assert refit.best_epoch == refit.epochs_run == fitted.completion_result.best_epoch >= 1
    task = completion_task(split.test, history=split.train_full)
    personal = PersonalEASERecommender(50.0, 2.0).fit(split.train_full)

    def hit(rec) -> float:
        out = evaluate(rec, task, ks=(10,))
        return float(out[(out.metric == "hit_rate") & (out.k == 10)].value.iloc[0])

    learned, counted = hit(ranker), hit(personal)
    # personal EASE spends top-10 slots on the six old favourites; the head has all ten for the 30
    assert learned > counted + 0.1, (learned, counted)


def test_a_head_no_better_than_personal_ease_on_validation_is_declined_and_not_refit() -> None:
    """From July the range is new, so no validation query's hidden item can be listed: neither the
    head nor personal EASE hits, and a head that adds nothing is not worth its refit and scoring."""
    split = temporal_split(discontinued_baskets(renewed_day=182), "2024-07-01", "2024-08-01")
    fitted = RankerRecommender(RankerParams(**FAST, **{**HEAD, "completion_epochs": 2})).fit(
        split.train, split.validation
    )
    extra = fitted.result.extra
    assert fitted.completion is None and fitted.completion_declined
    assert extra[CANDIDATE_ORDER] == extra["completion_best_hit@10"] == 0.0
    assert extra["completion"].startswith("personal EASE (completion head no better on validation")
    final = fitted.refit_params(fitted.params)
    assert final.completion_head is False
    refit = RankerRecommender(final).fit(split.train_full)
    assert refit.completion is None and "completion_state" not in refit.to_checkpoint()
    parts, users = [np.array([0, 3]), np.array([7])], ["u1", None]
    expected = PersonalEASERecommender(50.0, 2.0).fit(split.train_full).score_completion(parts, users)
    np.testing.assert_allclose(refit.score_completion(parts, users), expected, rtol=1e-5)


def test_training_lists_come_from_the_last_months_and_hold_their_hidden_item() -> None:
    bs = discontinued_baskets()
    settings = CompletionSettings(k=20)
    lists = completion_training_lists(bs, settings, times=2, draws=2, max_lists=400)
    assert 0 < len(lists) <= 400
    assert lists.features.shape == (len(lists.items), len(COMPLETION_FEATURES))
    positives = np.bincount(lists.list_of_row, weights=lists.labels, minlength=len(lists))
    assert np.all(positives == 1)  # one hidden item per list, and it made the list
    assert np.all(np.diff(lists.indptr) == 20)
    fewer = completion_training_lists(bs, settings, times=1, draws=1, max_lists=10_000)
    assert 0 < len(fewer) < len(completion_training_lists(bs, settings, times=2, draws=1, max_lists=10_000))


def test_the_refit_keeps_the_heads_best_epoch_and_a_log_too_short_falls_back_to_personal_ease() -> None:
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    ranker = RankerRecommender(RankerParams(**FAST, **{**HEAD, "completion_epochs": 3})).fit(
        split.train, split.validation
    )
    final = ranker.refit_params(ranker.params)
    assert final.completion_epochs == ranker.completion_result.best_epoch and final.completion_patience == 0
    assert final.epochs == ranker.result.best_epoch and final.patience == 0

    # two days of baskets: no prediction time with a month after it, so no list to learn from
    short = baskets_of([("2024-01-01", "a", ["x", "y"]), ("2024-01-02", "a", ["x", "z"])] * 2)
    settings = RankerParams(**FAST, **HEAD)
    assert (
        CompletionHead.fit(
            short, None, settings.completion, settings.completion_training, settings, device=CPU
        )
        is None
    )


def test_a_ranker_saved_without_a_head_reloads_with_personal_ease() -> None:
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    ranker = RankerRecommender(RankerParams(**FAST, **{**HEAD, "completion_epochs": 1})).fit(split.train)
    ckpt = ranker.to_checkpoint()
    assert "completion_state" in ckpt
    old = {k: v for k, v in ckpt.items() if k != "completion_state"}
    loaded = RankerRecommender.from_checkpoint(old)
    parts, users = [np.array([0, 3]), np.array([7])], ["u1", None]
    expected = PersonalEASERecommender(50.0, 2.0).fit(split.train).score_completion(parts, users)
    np.testing.assert_allclose(loaded.score_completion(parts, users), expected, rtol=1e-5)
    with_head = RankerRecommender.from_checkpoint(ckpt)
    np.testing.assert_array_equal(
        with_head.score_completion(parts, users), ranker.score_completion(parts, users)
    )


def test_an_ablated_head_group_is_held_at_its_mean_and_a_wrong_group_is_named() -> None:
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    params = RankerParams(**FAST, **{**HEAD, "completion_epochs": 1, "completion_drop_groups": "item"})
    head, _ = CompletionHead.fit(
        split.train, None, params.completion, params.completion_training, params, device=CPU
    )
    held = {f for f, k in zip(COMPLETION_FEATURES, head.net.keep.tolist(), strict=True) if k == 0}
    assert held == {f for f, g in COMPLETION_FEATURE_GROUPS.items() if g == "item"}
    wrong = RankerParams(**FAST, completion_drop_groups="items")
    with pytest.raises(InputError, match=r"completion_drop_groups: unknown group.*items"):
        CompletionHead.fit(split.train, None, wrong.completion, wrong.completion_training, wrong, device=CPU)


def test_a_completion_is_explained_by_what_decided_it_and_explaining_changes_no_score() -> None:
    """Old favourites left the range: the head ranks them low because nobody bought them lately, so
    the item group (its recent popularity) is what explains their low scores."""
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    ranker = RankerRecommender(RankerParams(**FAST, **HEAD)).fit(split.train_full)
    task = completion_task(split.test, history=split.train_full)
    n, vocab = 60, split.baskets.vocabulary
    args = (ranker, task.partial_baskets[:n], [str(i) for i in range(n)], vocab, 5)
    users = list(task.user_ids[:n])
    table = recommend_for_baskets(*args, user_ids=users, explain_top=3)
    plain = recommend_for_baskets(*args, user_ids=users, explain_top=0)
    assert table["item_id"].tolist() == plain["item_id"].tolist()
    np.testing.assert_array_equal(table["score"], plain["score"])
    assert "contributions" not in plain or not plain["contributions"].astype(bool).any()
    cells = [json.loads(c) if c else [] for c in table["contributions"]]
    assert all(len(c) == 3 and c[0]["why"] for c, r in zip(cells, table["rank"], strict=True) if r <= 3)
    assert all(not c for c, r in zip(cells, table["rank"], strict=True) if r > 3)
    assert {c["group"] for cell in cells for c in cell} <= {"basket", "habit", "item"}
    assert not any(name.startswith("O") for name in table["item_id"])  # the old favourites are gone

    scores, explain = ranked_basket_scores(ranker, task.partial_baskets[:n], users)
    np.testing.assert_array_equal(scores, ranker.score_completion(task.partial_baskets[:n], users))
    ids = vocab["item_id"].tolist()
    old = np.array([ids.index(f"O{i}") for i in range(6)])
    why_old = [json.loads(c) for c in explain(np.repeat(np.arange(n), 6), np.tile(old, n))]
    item_parts = [next(c for c in cell if c["group"] == "item") for cell in why_old]
    assert all(c["value"] < 0 for c in item_parts)
    assert {c["feature"] for c in item_parts} <= {"log_recent_popularity", "trend"}


def test_progress_lines_give_the_head_no_total_of_the_next_basket_networks(tmp_path) -> None:
    """The head has its own epoch count: "fit epoch 3/2" (the next-basket total) would misread. So
    does the refit's network, whose epochs follow from its own lists (``refit_steps``)."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
    from assoc_pipeline.resources.artifacts import ArtifactStore
    from assoc_pipeline.resources.mlflow_tracking import MLflowResource
    from assoc_pipeline.services.training import train_recommender

    tracker = MLflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=str(tmp_path / "mlartifacts")
    )
    split = temporal_split(discontinued_baskets(), "2024-07-01", "2024-08-01")
    params = RankerParams(**{**FAST, "epochs": 2, "patience": 0}, **{**HEAD, "completion_epochs": 3})
    lines: list[str] = []
    train_recommender(
        MODEL_TYPES["ranker"],
        params,
        split,
        tracker,
        ArtifactStore(base_dir=str(tmp_path / "a")),
        log=lines.append,
    )
    head = [line for line in lines if "completion_loss" in line]
    network = [line for line in lines if " epoch " in line and "loss=" in line and line not in head]
    assert head and all(re.match(r"(re)?fit epoch \d+: ", line) for line in head)  # no total
    fit = [line for line in network if line.startswith("fit ")]
    assert fit and all(re.match(r"fit epoch \d+/2: loss=", line) for line in fit)
    refit = [line for line in network if line.startswith("refit ")]
    assert refit and all(re.match(r"refit epoch \d+: loss=", line) for line in refit)  # no total
    assert any(re.search(r"refit_epochs=\d+ \(\d+ steps of the fit\)", line) for line in lines)
