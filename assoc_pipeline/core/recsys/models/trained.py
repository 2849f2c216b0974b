"""What every trained recommender shares, written once.

Each model had the same constructor (params, module, vocabulary ids for warm start, training
result), the same "is it fitted?" guard and the same checkpoint layout around its own state. Here
they live in one base class; a model supplies only what is its own: how to fit, how to score,
which extra state a checkpoint carries (``_state`` / ``_restore``) and how to rebuild its torch
module from that state (``_build_module``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import asdict, dataclass, replace
from typing import Any, ClassVar, Self

import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.training import (
    Checkpointable,
    LoopParams,
    TrainingResult,
    pick_device,
    seed_everything,
)
from assoc_pipeline.core.recsys.models.warm_start import WarmStartReport
from assoc_pipeline.core.recsys.recommender import Recommender


@dataclass
class RecommenderParams(LoopParams):
    """Settings every trained recommender shares besides the loop's (mirrored as Dagster config)."""

    # items bought in fewer of the training baskets are left out of the model (scored last,
    # counted as misses when bought): core/recsys/item_pruning.py; 1 keeps every item
    min_item_baskets: int = 1


class TrainedRecommender(Checkpointable, Recommender):
    """A torch model behind the :class:`Recommender` interface, saved and loaded as weights only.

    ``kind`` names the class in checkpoints (``checkpoint_files`` maps it back to the class, so
    loading never imports a path read from a file); ``params_cls`` is its hyper-parameter dataclass.
    """

    kind: ClassVar[str]
    params_cls: ClassVar[type[LoopParams]]

    def __init__(self, params: LoopParams | None = None) -> None:
        self.params: Any = params if params is not None else self.params_cls()
        self.module: nn.Module | None = None
        self.n_items = 0
        self.item_ids: list[str] | None = None  # vocabulary ids, so a later model can warm-start by id
        self.result: TrainingResult | None = None
        self.warm_start: WarmStartReport | None = None

    # ---------------------------------------------------------------- training
    def _start_fit(self, train: BasketSet) -> torch.device:
        """Seed, remember the vocabulary and pick the device: the first lines of every ``fit``."""
        seed_everything(self.params.seed)
        self.n_items = train.n_items
        self.item_ids = train.vocabulary["item_id"].astype(str).tolist()
        return pick_device(self.params.device)

    def refit_params(self, params: LoopParams) -> LoopParams:
        """The settings of the refit on train_full: this fit's best epoch count, no early stop."""
        best = self.result.best_epoch if self.result is not None else params.epochs
        return replace(params, epochs=max(best, 1), patience=0)

    def fine_tuning_params(self, params: LoopParams) -> LoopParams:
        """The settings a fine-tune of this (loaded) model starts from, given its own with the
        fine-tune's epochs, patience and learning rate: what its refit fixed, a fine-tune decides
        again on validation. Most models fix nothing beyond ``refit_params``' epochs."""
        return params

    def _require(self) -> Any:
        if self.module is None:
            raise RuntimeError(f"{self.name}: model is not fitted (call fit or load first)")
        return self.module

    def as_warm_start_source(self) -> Self:
        """Keep only what a warm start copies (weights and ids), for a base that only starts a new
        model: the module's ``fixed_state`` tensors, which the new model computes for itself, go
        (the DNN's EASE block: 400 MB at 10,000 items). The model no longer scores."""
        module = self._require()
        buffers = dict(module.named_buffers(recurse=False))
        for name in getattr(module, "fixed_state", ()):
            if name in buffers:
                module.register_buffer(name, torch.zeros(0, dtype=buffers[name].dtype))
                if self.result is not None:  # its best state shares the tensor (cpu_state)
                    self.result.best_state.pop(name, None)
        return self

    # ---------------------------------------------------------------- persistence
    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The model's own checkpoint entries besides params, vocabulary and weights."""

    @abstractmethod
    def _restore(self, ckpt: dict[str, Any]) -> None:
        """Set the model's own state from a checkpoint (the inverse of :meth:`_state`)."""

    @abstractmethod
    def _build_module(self, ckpt: dict[str, Any]) -> nn.Module:
        """An unfitted module of the checkpoint's shape, for ``load_state_dict``."""

    def to_checkpoint(self) -> dict[str, Any]:
        """Everything needed to rebuild the model, as plain types and tensors (``weights_only`` safe)."""
        module = self._require()
        return {
            "kind": self.kind,
            "params": asdict(self.params),
            "n_items": int(self.n_items),
            "item_ids": self.item_ids,
            **self._state(),
            "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], device: str = "cpu") -> Self:
        rec = cls(cls.params_cls(**ckpt["params"]))
        rec.n_items = int(ckpt["n_items"])
        rec.item_ids = ckpt.get("item_ids")
        rec._restore(ckpt)
        rec.module = rec._build_module(ckpt)
        rec.module.load_state_dict(ckpt["state_dict"])
        rec.module.to(pick_device(device)).eval()
        return rec
