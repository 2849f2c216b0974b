"""The ranker's completion head: a small network that re-orders personal EASE's candidates of a
partial basket (features: :mod:`~assoc_pipeline.core.recsys.completion_lists`).

Why: the ``ease_personal`` baseline adds the customer's habit to the basket's EASE scores at one
weight for every basket; the head learns when each should decide from the basket, the customer and
the item. It trains with a listwise softmax on completion queries of the last few months inside the
training period (history before each month, one hidden item per basket and draw) and stops early on
hit@10 of the validation period's queries. Chosen on validation (benchmarks/RESULTS.md, "Ranker
completion head"): hit@10 +4.9% over ease_personal on the shipped data, 3 seeds.

Scores: listed items get the network's logit; every other item its personal-EASE score minus
``1e4``, so past the list the order is personal EASE's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.completion_lists import (
    COMPLETION_FEATURE_GROUPS,
    COMPLETION_FEATURES,
    CompletionContext,
    CompletionSettings,
    completion_batch,
    completion_training_lists,
    labelled_lists,
    query_batch,
)
from assoc_pipeline.core.recsys.models.list_epoch import list_epoch
from assoc_pipeline.core.recsys.models.ranker_net import RankerNet, group_mask
from assoc_pipeline.core.recsys.models.ranking_losses import listwise_softmax_loss
from assoc_pipeline.core.recsys.models.training import (
    EpochCallback,
    LoopParams,
    StepContext,
    TrainingResult,
    train_loop,
)
from assoc_pipeline.core.recsys.ranking_features import within_list_rank
from assoc_pipeline.core.recsys.ranking_lists import RankingLists

NOT_LISTED = -1e4  # offset of items outside the list (below every listed item)
MONITOR = "val_completion_hit@10"
CANDIDATE_ORDER = "completion_personal_ease_hit@10"  # the same queries in the lists' own order
VALIDATION_QUERIES = 3000  # the validation sample the baselines' tuning scores too
VALIDATION_SEED = 0


@dataclass(frozen=True)
class HeadTraining:
    """How the head is trained (the ranker's ``completion_*`` settings)."""

    epochs: int = 10
    patience: int = 3
    hidden: int = 64
    layers: int = 2
    lr: float = 3e-3
    weight_decay: float = 1e-4
    lists_per_batch: int = 256
    times: int = 2  # prediction times (month starts) inside train whose next month gives queries
    draws: int = 4  # hidden items drawn per basket
    max_lists: int = 10_000
    drop_groups: str = ""  # feature groups held at their mean (ablations; COMPLETION_FEATURE_GROUPS)
    item_dim: int = 0  # learned item embedding width (0: features only)


def hit_at_10(logits: np.ndarray, lists: RankingLists) -> float:
    """Share of lists whose labelled item ranks in their top 10 (an unlisted hidden item is a miss)."""
    if len(lists) == 0:
        return float("nan")
    rank = within_list_rank(logits, lists.list_of_row)
    hits = np.zeros(len(lists), dtype=bool)
    top = (lists.labels > 0) & (rank < 10)
    hits[lists.list_of_row[top]] = True
    return float(hits.mean())


def beats_candidate_order(result: TrainingResult) -> bool:
    """Whether a validated head ranks its validation queries better than personal EASE, whose
    candidates it re-orders. A head that does not (a log without completion signal: at 100k random
    items both score 0) is pure cost, in the refit and in every scoring. Unvalidated: kept."""
    base = result.extra.get(CANDIDATE_ORDER)
    return base is None or (np.isfinite(result.best_metric) and result.best_metric > base)


class CompletionHead:
    """Scores partial baskets from a history it is bound to; see the module docstring."""

    def __init__(self, settings: CompletionSettings, net: RankerNet) -> None:
        self.settings, self.net = settings, net
        self.history: BasketSet | None = None
        self._context: CompletionContext | None = None

    @staticmethod
    def build_net(training: HeadTraining, n_items: int) -> RankerNet:
        return RankerNet(
            len(COMPLETION_FEATURES), n_items, training.hidden, training.layers, 0.0, training.item_dim
        )

    @classmethod
    def fit(
        cls,
        train: BasketSet,
        validation: BasketSet | None,
        settings: CompletionSettings,
        training: HeadTraining,
        loop: LoopParams,
        *,
        device: torch.device,
        on_epoch: EpochCallback | None = None,
    ) -> tuple[CompletionHead, TrainingResult] | None:
        """Train on lists from ``train``; with ``validation``, stop early on its hit@10. ``None`` when
        ``train`` yields no list with its hidden item among the candidates (too short a log)."""
        keep = group_mask(training.drop_groups, COMPLETION_FEATURE_GROUPS, "completion_drop_groups")
        data = completion_training_lists(
            train, settings, training.times, training.draws, training.max_lists, loop.seed
        )
        if len(data) == 0:
            return None
        net = cls.build_net(training, train.n_items)
        x_all = torch.as_tensor(data.features)
        with torch.no_grad():
            net.mean.copy_(x_all.mean(0))
            net.std.copy_(x_all.std(0).clamp(min=1e-6))
            net.keep.copy_(torch.as_tensor(keep))
        net.to(device)
        head = cls(settings, net)
        x, labels = x_all.to(device), torch.as_tensor(data.labels, device=device)
        items = torch.as_tensor(data.items, dtype=torch.long, device=device)
        opt = torch.optim.AdamW(net.parameters(), lr=training.lr, weight_decay=training.weight_decay)

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            # "loss": the figure a refit (no validation) keeps the best epoch of
            batches = training.lists_per_batch
            return list_epoch(ctx, net, data.indptr, (x, items, labels), listwise_softmax_loss, opt, batches)

        def tagged(epoch: int, metrics: dict[str, float]) -> None:
            """The next-basket loop's metric names, kept apart (``completion_epoch_time_s``, ...)."""
            if on_epoch is not None:
                on_epoch(
                    epoch,
                    {
                        k if "completion" in k or k == "epoch" else f"completion_{k}": v
                        for k, v in metrics.items()
                    },
                )

        validate, candidate_order = (
            head._validation(train, validation) if validation is not None else (None, {})
        )
        params = dataclasses.replace(loop, epochs=training.epochs, patience=training.patience)
        result = train_loop(
            net, train_epoch, params, validate=validate, monitor=MONITOR, on_epoch=tagged, device=device
        )
        result.extra.update(
            {"n_completion_lists": len(data), "n_completion_rows": len(data.items), **candidate_order}
        )
        head.bind(train)
        return head, result

    def _validation(self, train: BasketSet, validation: BasketSet):
        """``validate()``: hit@10 of the validation period's completion queries (history = train);
        and personal EASE's hit@10 on the same queries (the order the head re-ranks)."""
        context = CompletionContext.of(train, self.settings)
        lists = RankingLists.concat(
            labelled_lists(
                context, validation, train, [VALIDATION_SEED], VALIDATION_QUERIES, keep_misses=True
            ),
            len(COMPLETION_FEATURES),
        )

        def validate() -> dict[str, float]:
            return {MONITOR: hit_at_10(self.logits(lists), lists)}

        personal = lists.features[:, COMPLETION_FEATURES.index("personal_ease")]
        return validate, {CANDIDATE_ORDER: hit_at_10(personal, lists)}

    def bind(self, history: BasketSet) -> None:
        """Score from ``history`` from now on (its context is built when first needed)."""
        self.history, self._context = history, None

    def logits(self, lists: RankingLists, batch: int = 65536) -> np.ndarray:
        dev = next(self.net.parameters()).device
        was = self.net.training
        self.net.eval()
        out = np.empty(len(lists.items), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, len(out), batch):
                x = torch.as_tensor(lists.features[s : s + batch], device=dev)
                out[s : s + batch] = (
                    self.net.score(x, torch.as_tensor(lists.items[s : s + batch], device=dev))
                    .float()
                    .cpu()
                    .numpy()
                )
        self.net.train(was)
        return out

    def score(
        self, partial_baskets: Sequence[np.ndarray], user_ids: Sequence[str | None] | None
    ) -> np.ndarray:
        """(n, n_items) scores: the head's logits for listed items, personal EASE - 1e4 elsewhere."""
        n_items = self._require_history().n_items
        out = np.empty((len(partial_baskets), n_items), dtype=np.float32)
        batch = query_batch(n_items)
        for start in range(0, len(partial_baskets), batch):
            stop = min(start + batch, len(partial_baskets))
            users = None if user_ids is None else list(user_ids[start:stop])
            out[start:stop] = self.scored_lists(partial_baskets[start:stop], users)[1]
        return out

    def scored_lists(
        self, partial_baskets: Sequence[np.ndarray], user_ids: Sequence[str | None] | None
    ) -> tuple[RankingLists, np.ndarray]:
        """One batch's candidate lists and its dense scores (what :meth:`score` returns for it): the
        lists are what an explanation of the scores attributes."""
        if self._context is None:
            self._context = CompletionContext.of(self._require_history(), self.settings)
        lists, personal = completion_batch(self._context, partial_baskets, user_ids)
        scores = personal + np.float32(NOT_LISTED)
        scores[lists.list_of_row, lists.items] = self.logits(lists)
        return lists, scores

    def _require_history(self) -> BasketSet:
        if self.history is None:
            raise RuntimeError("ranker completion head: not bound to a history")
        return self.history

    def state(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
