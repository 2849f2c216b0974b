"""Adding a model type = one model class + one registry line: a tiny model registered here is
trained, logged, evaluated and gated by the real Dagster graph and MLflow store, with no other
edit anywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys import model_types
from assoc_pipeline.core.recsys.model_types import MODEL_TYPES, ModelType
from assoc_pipeline.core.recsys.models.trained import TrainedRecommender
from assoc_pipeline.core.recsys.models.training import LoopParams, StepContext, train_loop
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS

pytestmark = pytest.mark.slow


@dataclass
class TinyParams(LoopParams):
    """One learned score per item: its log-share of basket lines."""

    epochs: int = 3
    patience: int = 0
    lr: float = 0.1


class ItemBias(nn.Module):
    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_items))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1)


class TinyRecommender(TrainedRecommender):
    name = "tiny"
    kind = "tiny_item_bias"
    params_cls = TinyParams

    def fit(self, train: BasketSet, validation: BasketSet | None = None, *, on_epoch=None, init_from=None):
        device = self._start_fit(train)
        self.module = ItemBias(self.n_items).to(device)
        counts = torch.as_tensor(np.asarray(train.matrix.sum(axis=0)).ravel(), dtype=torch.float32)
        opt = torch.optim.Adam(self.module.parameters(), lr=self.params.lr)

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            loss = -(counts * torch.log_softmax(self.module.bias, 0)).sum() / counts.sum()
            return {"loss": ctx.optimize(loss, opt)}

        self.result = train_loop(self.module, train_epoch, self.params, on_epoch=on_epoch, device=device)
        return self

    def _scores(self, n: int) -> np.ndarray:
        bias = self._require().bias.detach().cpu().numpy().astype(np.float32)
        return np.tile(bias, (n, 1))

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        return self._scores(len(user_ids))

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        return self._scores(len(partial_baskets))

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, ckpt: dict[str, Any]) -> None:
        pass

    def _build_module(self, ckpt: dict[str, Any]) -> nn.Module:
        return ItemBias(self.n_items)

    def input_example(self) -> torch.Tensor:
        return torch.zeros(1, 1)


TINY = ModelType("tiny", TinyRecommender, TinyParams, "A learned item bias (the registry test's model).")


def test_a_registered_model_is_trained_evaluated_and_gated(
    tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path, text_cache: Path, monkeypatch
):
    import dagster as dg

    from assoc_pipeline.definitions import all_checks, assets_for
    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    monkeypatch.setitem(MODEL_TYPES, TINY.name, TINY)  # the one registry line
    data_dir = tmp_path_factory.mktemp("registry")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    resources = sample_resources(settings, text_cache)
    instance = dg.DagsterInstance.ephemeral()
    graph = [*assets_for(MODEL_TYPES.values()), *all_checks]

    def materialize(selection: list[str], partition: str | None = None, config: dict | None = None):
        return dg.materialize(
            graph, selection=selection, partition_key=partition, instance=instance, resources=resources,
            run_config=config or {},
        )  # fmt: skip

    assert "tiny_model" in {k.to_user_string() for a in graph for k in a.keys}
    for key in DEMO_PARTITIONS:
        materialize(["raw_events", "clean_events"], key)
    materialize(["baskets", "split", "item_embeddings", "baseline_tuning", "hybrid_model"])
    # only the tiny model is trained; the other registered types are left out of this report
    only_tiny = assets_for([TINY])
    result = dg.materialize(
        [*only_tiny, *all_checks],
        selection=["tiny_model", "finetuned_model", "evaluation_report", "champion"],
        instance=instance,
        resources=resources,
        run_config={
            "ops": {
                "finetuned_model": {"config": {"start_from": "none"}},
                "champion": {"config": {"require_baselines": False}},
            }
        },
    )
    trained = result.asset_materializations_for_node("tiny_model")[0].metadata
    version = trained["mlflow_model_version"].value
    assert trained["model_type"].value == "tiny" and trained["best_epoch"].value >= 1

    report = result.output_for_node("evaluation_report")
    tiny_rows = report[report["method"] == "tiny"]
    assert set(tiny_rows["task"]) >= {"next_basket", "completion"}
    assert (tiny_rows["model_version"] == version).all()

    verdict = result.output_for_node("champion")
    assert verdict["candidate"] == "tiny" and verdict["promoted"] is True, verdict["reasons"]
    tracker = resources["mlflow"]
    champion = tracker.alias_version()
    assert str(champion.version) == version and champion.tags["model_type"] == "tiny"
    # the registered checkpoint loads back into the class the registry names, with the same scores
    reloaded = tracker.load_version(champion)
    assert isinstance(reloaded, TinyRecommender)
    model = result.output_for_node("tiny_model")
    np.testing.assert_allclose(
        reloaded.score_completion([np.array([0])]), model.score_completion([np.array([0])])
    )


def test_an_unregistered_checkpoint_kind_is_refused(tmp_path):
    from assoc_pipeline.core.recsys.models.checkpoint_files import (
        UnsafeCheckpointError,
        load_model,
        save_model,
    )

    model = TinyRecommender()
    model.n_items, model.module = 3, ItemBias(3)
    save_model(model, tmp_path / "tiny.pt")
    with pytest.raises(UnsafeCheckpointError, match="'tiny_item_bias' is not one of ours"):
        load_model(tmp_path / "tiny.pt")
    assert "tiny" not in model_types.MODEL_TYPES


def test_the_gan_checkpoint_kind_matches_its_class():
    from assoc_pipeline.core.recsys.model_types import GAN_KIND, checkpoint_class
    from assoc_pipeline.core.recsys.models.gan import BasketGANModel

    assert BasketGANModel.kind == GAN_KIND and checkpoint_class(GAN_KIND) is BasketGANModel
