"""The DNN's text features (the retired ``dnn_text`` model, now ``dnn_model`` config
``text_features=true``): description vectors reach items that never sold in training."""

from __future__ import annotations

import numpy as np
import pytest

from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline_tests.evaluation.helpers import make_baskets


def _planted(n_items: int = 12):
    """Items 0-5 and 6-10 are two families bought together; item 11 (a family-A product) never sells."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        family = range(0, 6) if u % 2 else range(6, 11)
        for d in range(4):
            items = list(rng.choice(list(family), 3, replace=False))
            rows.append((f"u{u}", f"2011-0{1 + d}-{1 + u % 27:02d}", items))
    vectors = np.zeros((n_items, 4), dtype=np.float32)
    vectors[:6, 0] = vectors[11, 0] = 1.0  # family A's descriptions
    vectors[6:11, 1] = 1.0
    return make_baskets(rows, n_items), vectors


def test_text_features_score_a_never_sold_item_by_its_description():
    train, vectors = _planted()
    params = DNNParams(epochs=3, patience=0, text_features=True, seed=0)
    model = DNNRecommender(params).fit(train, item_vectors=vectors)
    scores = model.score_completion([np.array([0, 1]), np.array([6, 7])])
    # the unsold family-A item ranks above every family-B item for a family-A basket, and not for B
    assert scores[0, 11] > scores[0, 6:11].max()
    assert scores[1, 11] < scores[1, 8:11].max()


def test_text_features_without_vectors_is_a_clear_error():
    train, _ = _planted()
    with pytest.raises(ValueError, match="text_features=True needs item_vectors"):
        DNNRecommender(DNNParams(epochs=1, text_features=True)).fit(train)
