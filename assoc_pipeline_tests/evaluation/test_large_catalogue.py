"""Catalogues of 100k products: no baseline keeps an item x item or user x item dense matrix.

Each test builds a sparse basket set over 100,000 items (a few hundred baskets: seconds) and checks
the sizes of what the model keeps, then that the capped / sparse form scores what it should.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines import EASERecommender, ItemKNNRecommender, TIFUKNNRecommender
from assoc_pipeline.core.recsys.baselines import item_knn as item_knn_module
from assoc_pipeline.core.recsys.baselines.ease import ease_item_weights, ease_weights

N_ITEMS = 100_000
MB = 1 << 20


def wide_baskets(n_baskets: int = 600, n_items: int = N_ITEMS, seed: int = 0) -> BasketSet:
    """Baskets of 2-6 items: a popular head of 300 items, the rest spread over the catalogue."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_baskets):
        head = rng.choice(min(300, n_items // 2), size=rng.integers(1, 4), replace=False)
        tail = rng.choice(n_items, size=rng.integers(1, 3), replace=False)
        rows.append(np.unique(np.concatenate([head, tail])))
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    m = sp.csr_matrix((np.ones(indptr[-1], dtype=bool), np.concatenate(rows), indptr), (n_baskets, n_items))
    baskets = pd.DataFrame(
        {
            "basket_id": [f"b{i}" for i in range(n_baskets)],
            "user_id": pd.array([f"u{i % 50}" for i in range(n_baskets)], dtype="string"),
            "basket_time": pd.date_range("2011-01-01", periods=n_baskets, freq="h"),
            "country": "UK",
            "n_items": np.diff(indptr),
        }
    )
    vocab = pd.DataFrame({"item_idx": np.arange(n_items), "item_id": [f"i{i}" for i in range(n_items)]})
    return BasketSet(m, baskets, vocab)


@pytest.fixture(scope="module")
def wide() -> BasketSet:
    return wide_baskets()


def test_ease_above_max_items_keeps_a_block_of_the_items_in_most_baskets(wide):
    rec = EASERecommender(l2=5.0, max_items=200).fit(wide)
    w = rec.weights_
    assert w.block.shape == (200, 200) and w.n_items == N_ITEMS  # 160 kB, not 40 GB
    support = np.asarray(wide.matrix.getnnz(axis=0)).ravel()
    assert support[w.items].min() >= np.sort(support)[::-1][199]  # the 200 most supported
    # the block is exactly EASE on those items' columns
    assert np.array_equal(w.block, ease_weights(wide.matrix[:, w.items], 5.0))
    scores = rec.score_next_basket(["u0", "u1", "nobody"])
    assert scores.shape == (3, N_ITEMS) and scores.dtype == np.float32
    q = sp.csr_matrix(rec.history_[rec.users_.get_indexer(["u0"])])
    expected = np.zeros(N_ITEMS, dtype=np.float32)
    expected[w.items] = (q[:, w.items] @ w.block).ravel()
    assert scores[0] == pytest.approx(expected + rec.backoff_, abs=1e-6)
    outside = np.setdiff1d(np.arange(N_ITEMS), w.items)
    assert np.array_equal(scores[0, outside], rec.backoff_[outside])  # other items: popularity back-off
    completion = rec.score_completion([np.array([w.items[0], outside[0]])])
    assert completion.shape == (1, N_ITEMS)
    assert completion[0, w.items] == pytest.approx(w.block[0] + rec.backoff_[w.items], abs=1e-6)


def test_ease_within_max_items_is_the_exact_whole_matrix():
    small = wide_baskets(n_baskets=80, n_items=150)
    w = ease_item_weights(small.matrix, 3.0, max_items=150)
    assert w.items is None and np.array_equal(w.block, ease_weights(small.matrix, 3.0))
    capped = ease_item_weights(small.matrix, 3.0, max_items=149)
    assert capped.block.shape == (149, 149) and len(capped.items) == 149
    with pytest.raises(ValueError, match="max_items"):
        ease_item_weights(small.matrix, 3.0, max_items=0)


def test_ease_weights_are_in_c_order_so_sparse_products_read_them_in_place():
    """scipy's ``sparse @ dense`` copies a dense operand that is not C-contiguous on every call (the
    Fortran-order inverse cost 1.46 s per 568-query batch at 10k items, 5 ms in C order); the
    weights equal the textbook formula B = I - P diag(1 / diag(P)) with P = (X'X + lambda I)^-1."""
    small = wide_baskets(n_baskets=80, n_items=150)
    for w in (
        ease_item_weights(small.matrix, 3.0, max_items=150),
        ease_item_weights(small.matrix, 3.0, max_items=120),
    ):
        assert w.block.flags.c_contiguous
        x = (small.matrix if w.items is None else small.matrix[:, w.items]).toarray().astype(np.float64)
        x = x[:, x.sum(0) > 0] if w.items is None else x
        p = np.linalg.inv(x.T @ x + 3.0 * np.eye(x.shape[1]))
        textbook = -p / np.diag(p)[None, :]
        np.fill_diagonal(textbook, 0.0)
        block = (
            w.block
            if w.items is not None
            else w.block[np.ix_(*[np.flatnonzero(small.matrix.getnnz(axis=0) > 0)] * 2)]
        )
        assert np.allclose(block, textbook, atol=1e-4)


def test_an_ease_block_not_kept_is_the_callers_own_and_a_kept_one_is_shared(monkeypatch):
    """``keep=False`` (the DNN, which copies the block into its layer): the same weights, writable,
    and nothing stored; a block already stored is still read (read-only, the cache's copy)."""
    from assoc_pipeline.core.recsys.baselines import ease

    monkeypatch.setattr(ease, "_RECENT", {})
    small = wide_baskets(n_baskets=80, n_items=150)
    own = ease_item_weights(small.matrix, 3.0, max_items=120, keep=False)
    assert ease._RECENT == {} and own.block.flags.writeable
    kept = ease_item_weights(small.matrix, 3.0, max_items=120)
    assert len(ease._RECENT) == 1 and not kept.block.flags.writeable
    assert np.array_equal(own.items, kept.items) and np.array_equal(own.block, kept.block)
    again = ease_item_weights(small.matrix, 3.0, max_items=120, keep=False)
    assert again.block is kept.block and len(ease._RECENT) == 1


def test_item_knn_sparse_similarity_equals_the_dense_one(monkeypatch):
    small = wide_baskets(n_baskets=120, n_items=400, seed=1)
    dense = ItemKNNRecommender(shrink=2.0).fit(small)
    monkeypatch.setattr(item_knn_module, "DENSE_MAX_ITEMS", 100)
    sparse = ItemKNNRecommender(shrink=2.0).fit(small)
    assert sp.issparse(sparse.similarity_) and not sp.issparse(dense.similarity_)
    assert sparse.similarity_.toarray() == pytest.approx(dense.similarity_, abs=1e-6)
    users = ["u0", "u7", "nobody"]
    assert sparse.score_next_basket(users) == pytest.approx(dense.score_next_basket(users), abs=1e-5)
    part = [np.array([0, 5]), np.array([], dtype=np.int64)]
    assert sparse.score_completion(part) == pytest.approx(dense.score_completion(part), abs=1e-5)
    # each item's 3 nearest: the same similarities (ties may pick other items of equal similarity)
    top = ItemKNNRecommender(n_neighbors=3).fit(small).similarity_.toarray()
    full = ItemKNNRecommender().fit(small).similarity_.toarray()
    assert ((top > 0).sum(axis=1) <= 3).all()
    assert np.array_equal(top[top > 0], full[top > 0])
    expected = -np.sort(-full, axis=1)[:, :3]
    assert -np.sort(-top, axis=1)[:, :3] == pytest.approx(expected, abs=1e-6)


def test_item_knn_at_100k_items_keeps_only_co_bought_pairs(wide):
    rec = ItemKNNRecommender().fit(wide)
    assert sp.issparse(rec.similarity_)
    sim = rec.similarity_
    assert (sim.data.nbytes + sim.indices.nbytes + sim.indptr.nbytes) < 5 * MB
    assert rec.score_completion([np.array([0, 1])]).shape == (1, N_ITEMS)


def test_tifu_predictions_are_sparse_at_100k_items(wide):
    rec = TIFUKNNRecommender(n_neighbors=5).fit(wide, predict=True)
    p = rec.predictions_
    assert sp.issparse(p) and p.shape == (50, N_ITEMS)
    assert p.nnz < 50 * 2000  # only the items the user or a neighbour bought
    scores = rec.score_next_basket(["u3", "nobody"])
    assert scores.shape == (2, N_ITEMS)
    row = rec.users_.get_indexer(["u3"])[0]
    assert scores[0] == pytest.approx(p[row].toarray().ravel() + rec.backoff_, abs=1e-6)


def test_ranker_first_stage_in_user_blocks_gives_the_same_lists(monkeypatch):
    from assoc_pipeline.core.recsys import ranking_features
    from assoc_pipeline.core.recsys.candidates import prediction_day

    bs = wide_baskets(n_baskets=300, n_items=500, seed=2)
    users = [f"u{i}" for i in range(50)] + ["nobody"]
    at = prediction_day(bs)
    whole = ranking_features.scoring_lists(bs, users, at)
    monkeypatch.setattr(ranking_features, "FIRST_STAGE_CELLS", 500 * 7)  # blocks of 7 users
    blocks = ranking_features.scoring_lists(bs, users, at)
    assert np.array_equal(blocks.indptr, whole.indptr) and np.array_equal(blocks.items, whole.items)
    assert np.array_equal(blocks.features, whole.features)
    assert list(blocks.user_ids) == list(whole.user_ids)


def test_content_mean_in_one_product_above_the_dense_limit_equals_row_by_row(monkeypatch):
    from assoc_pipeline.core.content import content_recommender as content_module
    from assoc_pipeline.core.content.content_recommender import ContentRecommender, aggregate_for

    assert aggregate_for(N_ITEMS) == "mean" and aggregate_for(4000) == "max"
    small = wide_baskets(n_baskets=150, n_items=300, seed=4)
    vectors = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    row_by_row = ContentRecommender(vectors, aggregate="mean").fit(small)
    users = ["u0", "nobody", "u9"]
    part = [np.array([3, 3, 8]), np.array([], dtype=np.int64), np.array([299])]
    expected = row_by_row.score_next_basket(users), row_by_row.score_completion(part)
    assert not row_by_row._batched_mean()
    monkeypatch.setattr(content_module, "DENSE_SIMILARITY_LIMIT", 100)
    batched = ContentRecommender(vectors, aggregate="mean").fit(small)
    assert batched._batched_mean()
    assert batched.score_next_basket(users) == pytest.approx(expected[0], abs=1e-5)
    assert batched.score_completion(part) == pytest.approx(expected[1], abs=1e-5)
    with pytest.raises(ValueError, match="dense similarity"):  # "max" refuses, never allocates n x n
        ContentRecommender(vectors, aggregate="max").fit(small).score_completion(part)


def test_completion_queries_are_sampled_above_the_cap_only():
    from assoc_pipeline.core.recsys.tasks import completion_task, sampled_queries

    task = completion_task(wide_baskets(n_baskets=200, n_items=500, seed=5), seed=0)
    assert sampled_queries(task, 0) is task and sampled_queries(task, len(task)) is task
    sample = sampled_queries(task, 50, seed=1)
    assert len(sample) == 50 and len(sample.partial_baskets) == 50
    rows = [list(task.basket_ids).index(b) for b in sample.basket_ids]
    assert rows == sorted(rows)  # in their order, a fixed-seed draw
    assert all(task.hidden[r] == h for r, h in zip(rows, sample.hidden, strict=True))
    assert list(sampled_queries(task, 50, seed=1).basket_ids) == list(sample.basket_ids)
    with pytest.raises(ValueError, match="max_queries"):
        sampled_queries(task, -1)


def test_validation_next_basket_users_are_sampled_above_the_cap_only(monkeypatch):
    """Every validation (tuning grids, early stops, selection) scores the same fixed-seed sample
    of at most MAX_VALIDATION_USERS users, each with its own targets and history."""
    from assoc_pipeline.core.recsys import tasks

    bs = wide_baskets(n_baskets=400, n_items=300, seed=7)
    train, validation = bs.subset(np.arange(300)), bs.subset(np.arange(300, 400))
    whole = tasks.next_basket_task(train, validation)
    assert len(whole) > 30
    unchanged = tasks.validation_next_basket(train, validation)
    assert list(unchanged.user_ids) == list(whole.user_ids)
    monkeypatch.setattr(tasks, "MAX_VALIDATION_USERS", 30)
    sample = tasks.validation_next_basket(train, validation, seed=3)
    assert len(sample) == 30 and len(sample.targets) == len(sample.history_items) == 30
    rows = [list(whole.user_ids).index(u) for u in sample.user_ids]
    assert rows == sorted(rows) and len(set(rows)) == 30
    for r, i in zip(rows, range(30), strict=True):
        for field in ("targets", "repeat_targets", "explore_targets", "history_items"):
            assert getattr(sample, field)[i].tolist() == getattr(whole, field)[r].tolist()
    assert list(tasks.validation_next_basket(train, validation, seed=3).user_ids) == list(sample.user_ids)
    assert list(tasks.validation_next_basket(train, validation, seed=4).user_ids) != list(sample.user_ids)


def test_in_loop_validation_in_row_blocks_gives_the_same_means(monkeypatch):
    from assoc_pipeline.core.recsys.models import training

    rng = np.random.default_rng(6)
    scores = rng.normal(size=(53, 40)).astype(np.float32)
    targets = [rng.choice(40, size=rng.integers(1, 4), replace=False) for _ in range(53)]
    exclude = [rng.choice(40, size=2, replace=False) for _ in range(53)]
    candidates = rng.random(40) < 0.9
    whole = training.ranking_metrics(scores, targets, candidates, 10, exclude)
    calls = []

    def score(s: int, e: int) -> np.ndarray:
        calls.append(e - s)
        return scores[s:e]

    monkeypatch.setattr(training, "VALIDATION_CELLS", 40 * 10)  # blocks of 10 rows
    blocks = training.batched_ranking_metrics(score, 53, 40, targets, candidates, 10, exclude)
    assert calls == [10, 10, 10, 10, 10, 3]
    assert blocks == pytest.approx(whole, abs=1e-12)


@pytest.mark.parametrize("tifu_rows, neighbour_rows", [(512, 1024), (7, 4)])
def test_ranker_first_stage_above_the_ease_block_holds_no_users_x_items_matrix(
    monkeypatch, tifu_rows: int, neighbour_rows: int
):
    """Above the EASE block the first stage keeps users x block scores and TIFU-KNN's user vectors
    (predictions are blended where they are read, some users at a time); the pairs it is read at
    equal the dense scores, and the EASE neighbours all come from the block."""
    from assoc_pipeline.core.recsys import candidates as candidates_module
    from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
    from assoc_pipeline.core.recsys.candidates import (
        SOURCE_NEIGHBOUR,
        CandidateSettings,
        candidate_lists,
        first_stage,
        prediction_day,
    )

    monkeypatch.setattr(candidates_module, "TIFU_ROWS", tifu_rows)
    monkeypatch.setattr(candidates_module, "NEIGHBOUR_ROWS", neighbour_rows)
    bs = wide_baskets(n_baskets=300, n_items=5_000, seed=3)
    settings = CandidateSettings(n_neighbours=20, ease_max_items=200)
    users = [f"u{i}" for i in range(50)] + ["nobody"]
    stage = first_stage(bs, users, prediction_day(bs), settings)
    assert stage.ease.shape == (51, 200) and len(stage.ease_items) == 200
    assert stage.tifu.predictions_ is None and (stage.tifu_rows[:50] >= 0).all()  # nothing blended yet
    assert stage.tifu_rows[-1] == -1  # "nobody"

    lists = candidate_lists(stage, settings)
    lor, items = lists.list_of_row, lists.items
    keys = lor.astype(np.int64) * 5_000 + items
    assert len(np.unique(keys)) == len(keys)  # no item listed twice for a user
    neighbours = items[lists.source == SOURCE_NEIGHBOUR]
    assert len(neighbours) > 0 and np.isin(neighbours, stage.ease_items).all()
    assert np.diff(lists.indptr)[-1] == settings.n_trending  # "nobody": trending items only

    hist_users, counts = user_item_counts(bs)
    binary = counts[hist_users.get_indexer(users[:50])].copy()
    binary.data[:] = 1.0
    dense_ease = ease_item_weights(bs.matrix, settings.ease_l2, 200).scores(binary)
    tifu = TIFUKNNRecommender().fit(bs, predict=True)
    dense_tifu = tifu.predictions_[tifu.users_.get_indexer(users[:50])].toarray()
    known = lor < 50
    assert np.array_equal(stage.ease_at(lor, items)[known], dense_ease[lor[known], items[known]])
    assert np.array_equal(stage.tifu_at(lor, items)[known], dense_tifu[lor[known], items[known]])
    assert not stage.ease_at(lor, items)[~known].any() and not stage.tifu_at(lor, items)[~known].any()


def test_tifu_predictions_for_some_users_equal_their_rows_of_all_predictions(wide):
    """The ranker blends only the users it asks for (fit(predict=False)): the same rows, in any order."""
    everyone = TIFUKNNRecommender(n_neighbors=5).fit(wide, predict=True)
    lazy = TIFUKNNRecommender(n_neighbors=5).fit(wide)
    assert lazy.predictions_ is None  # the default: nothing blended at fit (GBs at 20k users)
    rows = np.array([7, 3, 41, 3, 0])
    some = lazy.predictions_for(rows)
    assert some.shape == (5, N_ITEMS) and some.has_canonical_format
    assert (some != everyone.predictions_[rows]).nnz == 0
    users = ["u3", "nobody", "u7", "u3"]
    assert np.array_equal(lazy.score_next_basket(users), everyone.score_next_basket(users))


def test_recommendation_tables_in_blocks_equal_one_block(monkeypatch):
    """Every user (20k) or item (59k) of a 100k-item log at once was 5-14 GB of scores: the
    tables are built a block of queries at a time, and each query's rows are the same."""
    from assoc_pipeline.core.recsys import evaluation
    from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
    from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets, recommend_for_users

    wide = wide_baskets(n_baskets=400, n_items=300, seed=9)
    users_200 = pd.array([f"u{i % 200}" for i in range(400)], dtype="string")
    bs = BasketSet(wide.matrix, wide.baskets.assign(user_id=users_200), wide.vocabulary)
    ease = EASERecommender(l2=5.0).fit(bs)
    users, history = user_item_counts(bs)
    items = [np.array([i]) for i in range(bs.n_items)]
    vocab = bs.vocabulary.assign(item_name=lambda v: "product " + v["item_id"])
    ids = vocab["item_id"].astype(str).tolist()

    def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            recommend_for_users(ease, list(users), history, vocab, 5),
            recommend_for_baskets(ease, items, ids, vocab, 5),
        )

    whole = tables()
    monkeypatch.setattr(evaluation, "BATCH_CELLS", 64 * bs.n_items)
    assert evaluation.batch_rows(bs.n_items) == 64  # 4 blocks of the 200 users, 5 of the items
    blocks = tables()
    assert len(whole[1]) == 5 * bs.n_items and whole[1]["query"].nunique() == bs.n_items
    for one, many in zip(whole, blocks, strict=True):
        pd.testing.assert_frame_equal(one, many)
