"""A small real serving state for the A/B tests: planted baskets, a split, a real MLflow registry.

The planted baskets (users re-buy their favourite items) are stored as the ``baskets`` asset
would store them, with a ``split.json`` as the ``split`` asset writes it, and one CF version
(2 epochs) is registered in a SQLite MLflow store in the same data folder: the challenger. No
champion is promoted, so the champion arm is the labelled popularity baseline, as in a fresh
project. Built once per session in a few seconds; ../shared is not needed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assoc_pipeline_tests.models.conftest import planted_baskets

VALIDATION_CUTOFF, TEST_CUTOFF = "2024-05-01", "2024-06-01"
N_USERS = 600  # enough for the default minimum of 200 users per arm at share 0.5


@dataclasses.dataclass
class ABState:
    settings: object
    tracker: object
    challenger: str  # the registered CF version

    @property
    def assets(self) -> Path:
        return self.settings.data_dir / "assets"


@pytest.fixture(scope="session")
def ab_state(tmp_path_factory: pytest.TempPathFactory) -> ABState:
    from assoc_pipeline.core.data.baskets import save_basket_set
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
    from assoc_pipeline.core.recsys.models.cf import CFParams
    from assoc_pipeline.core.recsys.split import split_record, temporal_split
    from assoc_pipeline.core.tables import write_json
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.resources.artifacts import ArtifactStore
    from assoc_pipeline.services.training import train_recommender
    from assoc_pipeline.settings import get_settings

    data_dir = tmp_path_factory.mktemp("ab_data")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, ab_test={})
    baskets = planted_baskets(n_users=N_USERS, n_baskets=8, seed=3)
    split = temporal_split(baskets, VALIDATION_CUTOFF, TEST_CUTOFF)
    save_basket_set(baskets, data_dir / "assets" / "baskets")
    write_json(split_record(split), data_dir / "assets" / "split.json")
    tracker = build_resources(settings)["mlflow"]
    trained = train_recommender(
        MODEL_TYPES["cf"], CFParams(epochs=2, patience=0, dim=8), split, tracker,
        ArtifactStore(base_dir=str(data_dir / "artifacts")), log=lambda _: None,
    )  # fmt: skip
    return ABState(settings, tracker, str(trained.metadata["mlflow_model_version"]))
