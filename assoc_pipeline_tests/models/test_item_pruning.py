"""Item pruning (min_item_baskets): a model trained on the frequent items scores the whole
catalogue, pruned items ranked last, so a pruned item bought in the test period is a miss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.item_pruning import ItemPruning, PrunedRecommender, unwrapped
from assoc_pipeline.core.recsys.metrics import mean_metrics_at_k
from assoc_pipeline.core.recsys.model_types import registered_name
from assoc_pipeline.core.recsys.models.cf import CFParams, CFRecommender
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model, save_model
from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline.core.recsys.split import BasketSplit


def counts(split: BasketSplit) -> np.ndarray:
    return np.diff(split.train_full.matrix.tocsc().indptr)


@pytest.fixture(scope="module")
def pruning(planted_split: BasketSplit) -> ItemPruning:
    threshold = int(np.quantile(counts(planted_split), 0.3)) + 1  # about a third of the items pruned
    found = ItemPruning.of(planted_split.train_full, threshold)
    assert found is not None and 0 < len(found.kept) < planted_split.baskets.n_items
    return found


def test_kept_items_are_those_bought_often_enough_before_the_test_cutoff(planted_split, pruning) -> None:
    n = counts(planted_split)
    pruned = np.setdiff1d(np.arange(len(n)), pruning.kept)
    assert n[pruning.kept].min() > n[pruned].max()
    restricted = pruning.baskets(planted_split.train)
    assert restricted.n_items == len(pruning.kept) and (np.diff(restricted.matrix.indptr) > 0).all()
    assert (
        restricted.vocabulary["item_id"].tolist()
        == planted_split.baskets.vocabulary["item_id"].iloc[pruning.kept].tolist()
    )
    without_item_0 = planted_split.train.subset(planted_split.train.matrix[:, 0].toarray().ravel() == 0)
    assert ItemPruning.of(without_item_0, 1) is None  # the default keeps every item, even unseen ones
    assert 0 not in ItemPruning.of(without_item_0, 2).kept
    with pytest.raises(InputError, match="min_item_baskets=100000: no item"):
        ItemPruning.of(planted_split.train_full, 100_000)
    with pytest.raises(InputError, match="min_item_baskets=0 must be >= 1"):
        ItemPruning.of(planted_split.train_full, 0)


def test_pruned_items_rank_last_and_count_as_misses(planted_split, pruning, tmp_path: Path) -> None:
    ids = planted_split.baskets.vocabulary["item_id"].tolist()
    inner = CFRecommender(CFParams(epochs=2, patience=0, dim=8, min_item_baskets=2)).fit(
        pruning.baskets(planted_split.train_full)
    )
    model = pruning.wrap(inner, ids)
    # what the report names a fine-tuned model by when its lineage was not recorded
    assert registered_name(model) == registered_name(inner) == "cf" and registered_name(pruning) is None
    users = planted_split.test.baskets["user_id"].dropna().unique()[:20].tolist()
    scores = model.score_next_basket(users)
    pruned = np.setdiff1d(np.arange(len(ids)), pruning.kept)
    assert scores.shape == (len(users), len(ids))
    assert (scores[:, pruned].max(axis=1) < scores[:, pruning.kept].min(axis=1)).all()
    np.testing.assert_array_equal(scores[:, pruning.kept], inner.score_next_basket(users))
    # a user whose next basket holds only pruned items: a miss, not a query left out
    hit = mean_metrics_at_k(scores, [pruned[:1]] * len(users), 10)["hit_rate"]
    everything = mean_metrics_at_k(scores, [np.arange(len(ids))] * len(users), 10)["hit_rate"]
    assert hit == 0.0 and everything == 1.0

    partial = [np.array([pruning.kept[0], pruned[0]]), np.array([pruned[1]])]
    completion = model.score_completion(partial)
    assert completion.shape == (2, len(ids))
    expected = inner.score_completion([np.array([0]), np.array([], dtype=np.int64)])
    np.testing.assert_allclose(completion[:, pruning.kept], expected)

    save_model(model, tmp_path / "pruned.pt")
    loaded = load_model(tmp_path / "pruned.pt")
    assert isinstance(loaded, PrunedRecommender) and loaded.item_ids == ids
    np.testing.assert_array_equal(loaded.score_next_basket(users), scores)
    assert unwrapped(loaded).kind == "cf_bpr" and loaded.params.min_item_baskets == 2


def test_a_model_that_reads_history_takes_it_over_the_kept_items(planted_split, pruning) -> None:
    inner = DNNRecommender(DNNParams(epochs=1, patience=0)).fit(pruning.baskets(planted_split.train))
    model = pruning.wrap(inner, planted_split.baskets.vocabulary["item_id"].tolist())
    model.with_history(planted_split.train_full)
    users = planted_split.test.baskets["user_id"].dropna().unique()[:10].tolist()
    scores = model.score_next_basket(users)
    assert scores.shape == (len(users), planted_split.baskets.n_items) and np.isfinite(scores).all()


def test_training_service_prunes_logs_and_registers_the_whole_catalogue(
    planted_split, pruning, tmp_path: Path
) -> None:
    """train_recommender with min_item_baskets: the registered version scores every item, and a
    fine-tune warm-starts from it by item id."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
    from assoc_pipeline.resources.artifacts import ArtifactStore
    from assoc_pipeline.resources.mlflow_tracking import MLflowResource
    from assoc_pipeline.services.training import train_recommender

    tracker = MLflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=str(tmp_path / "mlartifacts")
    )
    artifacts = ArtifactStore(base_dir=str(tmp_path / "artifacts"))
    threshold = int(counts(planted_split)[pruning.kept].min())
    params = CFParams(epochs=2, patience=0, dim=8, min_item_baskets=threshold)
    trained = train_recommender(
        MODEL_TYPES["cf"], params, planted_split, tracker, artifacts, log=lambda _: None
    )
    assert isinstance(trained.model, PrunedRecommender)
    run_params = tracker.run_params(trained.metadata["mlflow_run_id"])
    assert int(run_params["refit/items_kept"]) == len(pruning.kept) and run_params["min_item_baskets"] == str(
        threshold
    )
    (version,) = tracker.versions()
    loaded = tracker.load_version(version)
    users = planted_split.test.baskets["user_id"].dropna().unique()[:5].tolist()
    assert loaded.score_next_basket(users).shape == (len(users), planted_split.baskets.n_items)

    tuned = train_recommender(
        MODEL_TYPES["cf"], params, planted_split, tracker, artifacts, log=lambda _: None, init_from=loaded
    )
    assert tuned.model.warm_start is not None and tuned.model.warm_start.as_params()
