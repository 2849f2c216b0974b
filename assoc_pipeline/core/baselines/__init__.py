"""Baselines every model is measured against, each a :class:`Recommender` (issue 5)."""

from assoc_pipeline.core.baselines.ease import EASERecommender
from assoc_pipeline.core.baselines.item_knn import ItemKNNRecommender
from assoc_pipeline.core.baselines.popularity import PopularityRecommender
from assoc_pipeline.core.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline.core.baselines.top_frequency import PersonalTopFrequencyRecommender

__all__ = [
    "EASERecommender",
    "ItemKNNRecommender",
    "PersonalTopFrequencyRecommender",
    "PopularityRecommender",
    "TIFUKNNRecommender",
]
