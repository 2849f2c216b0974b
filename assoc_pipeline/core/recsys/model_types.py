"""THE registry of trainable recommender types: one line per model.

Everything else is derived from it: the Dagster training assets and their Launchpad config, the
inputs of the evaluation report, the retrain job, which registered versions can be fine-tuned,
and the classes a checkpoint may be loaded into. Adding a model = one model file + one line in
:data:`MODEL_TYPES` + its tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.models.cf import CFParams, CFRecommender
from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline.core.recsys.models.ranker import RankerParams, RankerRecommender
from assoc_pipeline.core.recsys.models.sequence import SequenceParams, SequenceRecommender
from assoc_pipeline.core.recsys.models.trained import TrainedRecommender
from assoc_pipeline.core.recsys.models.training import LoopParams

NEXT_BASKET, COMPLETION = "next_basket", "completion"
ITEM_VECTORS = "item_vectors"  # fit input: description embeddings (the item_embeddings asset)
# the default training budget of every type: `make demo` trains every model within a few minutes
# on 2 CPU cores; the full settings are Launchpad config (time_budget_s=0 and more epochs)
DEMO_BUDGET = {"time_budget_s": 20.0}


@dataclass(frozen=True)
class ModelType:
    """One trainable recommender and what the pipeline needs to know about it.

    * ``recommender`` / ``params``: the class and its hyper-parameter dataclass (the Launchpad
      shows every field); ``param_defaults`` override dataclass defaults for this type;
    * ``fit_inputs``: extra inputs of ``fit`` beyond the baskets (e.g. ``item_vectors``);
    * ``fine_tunable``: a registered version may be warm-started on new baskets (``finetuned_model``);
    * ``fallback_base``: with no fine-tunable champion, ``finetuned_model`` may start from the newest
      earlier version of this type (a type whose fine-tune is costly is fine-tuned as the champion only);
    * ``tasks``: the report tasks it is scored on and may be promoted for.
    Whether it must be refit on ``train_full`` after early stopping follows from the class: a model
    that reads history as input (``reads_history``) takes the new history instead, unless ``refit``
    says otherwise (a model that reads history but also learns from recent examples gains from them).
    """

    name: str
    recommender: type[TrainedRecommender]
    params: type[LoopParams]
    description: str
    param_defaults: Mapping[str, Any] = field(default_factory=dict)
    fit_inputs: tuple[str, ...] = ()
    fine_tunable: bool = False
    fallback_base: bool = True
    tasks: tuple[str, ...] = (NEXT_BASKET, COMPLETION)
    refit: bool | None = None  # None: refit exactly when the class does not read history

    @property
    def asset_name(self) -> str:
        return f"{self.name}_model"

    @property
    def refit_on_train_full(self) -> bool:
        return (not self.recommender.reads_history) if self.refit is None else self.refit

    def default_params(self, **overrides: Any) -> LoopParams:
        """The hyper-parameters this type trains with unless config says otherwise."""
        return self.params(**{**self.param_defaults, **overrides})

    def param_fields(self) -> dict[str, tuple[type, Any]]:
        """(type, default) of every hyper-parameter, with this type's defaults applied."""
        import typing

        hints = typing.get_type_hints(self.params)
        return {
            f.name: (hints[f.name], self.param_defaults.get(f.name, f.default))
            for f in dataclasses.fields(self.params)
        }


MODEL_TYPES: dict[str, ModelType] = {
    t.name: t
    for t in (
        ModelType(
            "cf",
            CFRecommender,
            CFParams,
            "Implicit-feedback matrix factorisation (BPR, negative sampling), early stopping on "
            "validation NDCG@10, refit on everything before the test cutoff.",
            param_defaults=DEMO_BUDGET,
            fine_tunable=True,
        ),
        ModelType(
            "dnn",
            DNNRecommender,
            DNNParams,
            "Neural next-basket recommender: learned co-occurrence + gated repeat signal over the "
            "user's time-decayed history; also item-to-item association scores.",
            param_defaults=DEMO_BUDGET,
            fine_tunable=True,
        ),
        # Retired 2026-12-03: "dnn_text" (the DNN with description embeddings, text_features=True,
        # fit_inputs=(ITEM_VECTORS,)) was dominated by "dnn" on every task (docs/models.md); one
        # line here brings it back for a catalogue with richer descriptions.
        ModelType(
            "sequence",
            SequenceRecommender,
            SequenceParams,
            "GRU over each user's chronological baskets (what follows what) on top of a personal "
            "repeat prior; next-basket scores from the whole sequence.",
            param_defaults=DEMO_BUDGET,
        ),
        ModelType(
            "ranker",
            RankerRecommender,
            RankerParams,
            "Two-stage ranker: the user's history + EASE neighbours + trending items as candidates, "
            "re-ordered by an MLP over purchase-cycle / recency / rank features (LambdaRank loss); "
            "completion: a second MLP re-orders personal EASE's candidates of the basket from basket, "
            "customer-habit and item-trend features (listwise softmax).",
            # 40 s, not 20: its fit (10 epochs of ~1.5 s with validation) and refit (6 of ~2.6 s)
            # came within 2-4 s of 20 in the demo, so a busy machine cut the refit mid-epoch
            param_defaults={"time_budget_s": 40.0},
            # the next-basket network starts from the base's weights (item embedding rows by id, its
            # standardisation with them); the completion head, small and quick, is trained afresh.
            # Only as the champion: its fine-tune rebuilds its training lists (217 s at 100k items,
            # where the DNN's took 150 s on the same VM, and the whole graph has a 30-minute bar)
            fine_tunable=True,
            fallback_base=False,
            refit=True,  # the months just before the test cutoff are its most useful training lists
        ),
    )
}


def model_type(name: str) -> ModelType:
    """The registered type ``name``, or an error listing the known ones."""
    try:
        return MODEL_TYPES[name]
    except KeyError:
        raise InputError(f"unknown model type {name!r}: expected one of {', '.join(MODEL_TYPES)}") from None


def registered_name(model: object) -> str | None:
    """The registered type of a trained model (pruned or not), None for anything else: what names
    a model whose lineage was not recorded (a run on an ephemeral Dagster instance)."""
    from assoc_pipeline.core.recsys.item_pruning import unwrapped

    inner = unwrapped(model)
    return next((t.name for t in MODEL_TYPES.values() if type(inner) is t.recommender), None)


GAN_KIND = "basket_gan"  # BasketGANModel.kind (a test checks they agree)


def checkpoint_class(kind: str, path: object = "checkpoint") -> type:
    """The class a checkpoint of ``kind`` loads into: registered recommenders and the basket GAN."""
    from assoc_pipeline.core.recsys.item_pruning import PrunedRecommender
    from assoc_pipeline.core.recsys.models.checkpoint_files import UnsafeCheckpointError

    classes: dict[str, Any] = {t.recommender.kind: t.recommender for t in MODEL_TYPES.values()}
    if kind == GAN_KIND:  # imported only for a GAN checkpoint: it pulls in opacus (seconds)
        from assoc_pipeline.core.recsys.models.gan import BasketGANModel

        classes[GAN_KIND] = BasketGANModel
    else:
        classes[GAN_KIND] = None  # named in the error below, not imported
    classes[PrunedRecommender.kind] = PrunedRecommender  # a registered type trained on fewer items
    if kind not in classes:
        raise UnsafeCheckpointError(
            f"{path}: refused: model kind {kind!r} is not one of ours ({', '.join(sorted(classes))})"
        )
    return classes[kind]
