"""Baselines every model is measured against, each a :class:`Recommender` (issue 5)."""

from assoc_pipeline.core.recsys.baselines.ease import EASERecommender
from assoc_pipeline.core.recsys.baselines.item_knn import ItemKNNRecommender
from assoc_pipeline.core.recsys.baselines.personal_ease import PersonalEASERecommender
from assoc_pipeline.core.recsys.baselines.popularity import PopularityRecommender
from assoc_pipeline.core.recsys.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline.core.recsys.baselines.top_frequency import PersonalTopFrequencyRecommender

__all__ = [
    "EASERecommender",
    "ItemKNNRecommender",
    "PersonalEASERecommender",
    "PersonalTopFrequencyRecommender",
    "PopularityRecommender",
    "TIFUKNNRecommender",
]
