"""Two-stage neural ranker: candidates from strong counting methods, re-ordered by a torch MLP.

Why: personal top-frequency wins next-basket on retail logs because most of a next basket repeats
the user's history; a network that decodes the whole catalogue has to relearn that. Here stage one
(:mod:`~assoc_pipeline.core.recsys.candidates`) lists the user's own items plus EASE neighbours and
trending items, and stage two scores each (user, candidate) row from hand-made features
(:mod:`~assoc_pipeline.core.recsys.ranking_features`: windows, recency, purchase cycles, user rhythm,
item repeat rate, P-TopFreq / EASE / TIFU-KNN scores and their ranks within the list) with an MLP
(standardised features + an optional learned item embedding), trained with a listwise loss per
user list (LambdaRank@10 by default, :mod:`ranking_losses`) on lists from one prediction time per
month start, early-stopped on validation NDCG@10 through the shared training loop.

Scores: candidates get the network's logit, every other item ``-1e4`` plus popularity as a
tie-break, so the top of the ranking is always the re-ranked list.

Completion (partial basket -> hidden item) is the completion head
(:mod:`~assoc_pipeline.core.recsys.models.completion_head`): a second, smaller network that re-orders
personal EASE's top ``completion_candidates`` (EASE of the partial basket at ``completion_ease_l2``
plus the customer's habit at ``completion_history_weight``: the ``ease_personal`` baseline) from
features of the basket, the customer and the item. ``completion_head=False`` scores with personal
EASE alone, as models saved before the head existed do.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baselines.personal_ease import PersonalEASERecommender
from assoc_pipeline.core.recsys.baselines.tifu_knn import TIFUKNNRecommender
from assoc_pipeline.core.recsys.baselines.user_history import backoff, item_popularity
from assoc_pipeline.core.recsys.candidates import CandidateSettings, prediction_day
from assoc_pipeline.core.recsys.completion_lists import CompletionSettings
from assoc_pipeline.core.recsys.models.completion_head import (
    CANDIDATE_ORDER,
    CompletionHead,
    HeadTraining,
    beats_candidate_order,
)
from assoc_pipeline.core.recsys.models.list_epoch import list_epoch
from assoc_pipeline.core.recsys.models.ranker_net import RankerNet, group_mask
from assoc_pipeline.core.recsys.models.ranking_losses import LOSSES
from assoc_pipeline.core.recsys.models.trained import TrainedRecommender
from assoc_pipeline.core.recsys.models.training import (
    EpochCallback,
    LoopParams,
    StepContext,
    TrainingResult,
    batched_ranking_metrics,
    train_loop,
)
from assoc_pipeline.core.recsys.models.warm_start import warm_start_from
from assoc_pipeline.core.recsys.ranking_features import (
    ALL_FEATURE_GROUPS,
    FeatureSettings,
    RankingLists,
    feature_names,
    scoring_lists,
    training_lists,
)
from assoc_pipeline.core.recsys.tasks import basket_times_ns

NOT_A_CANDIDATE = -1e4  # score floor of items outside the candidate list (plus popularity)


@dataclass
class RankerParams(LoopParams):
    """Hyper-parameters of the two-stage ranker (mirrored as Dagster config)."""

    epochs: int = 30
    patience: int = 4
    hidden: int = 128
    layers: int = 2
    # 0.0 chosen on validation: NDCG@10 0.3238 / 0.3239 (seeds 0, 1) vs 0.3241 / 0.3248 at 0.1, within
    # noise, and epochs 2.3x faster (CPU dropout draws a random float per unit: 45% of a step)
    dropout: float = 0.0
    item_dim: int = 16  # learned item embedding width; 0 = features only
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lists_per_batch: int = 256  # chosen on validation (64: 0.3235, 256: 0.3241 NDCG@10; within noise)
    horizon_days: float = 91.0  # a training label is the user's first basket within this many days
    times_per_month: int = 1  # prediction times per month of training baskets (month start first)
    # EASE neighbours of the history in each candidate list. 100 chosen on validation (LambdaRank, 3
    # seeds): explore recall@10 .0129 vs .0094 at 50, NDCG@10 .3268 vs .3270, recall .1980 vs .1974;
    # at 100k items the ranker asset still peaks at 6.2 GB (benchmarks/RESULTS.md)
    n_neighbours: int = 100
    n_trending: int = 10
    max_candidates: int = 200
    ease_l2: float = 200.0  # EASE lambda of the candidates / features
    ease_max_items: int = 10_000  # EASE (candidates, completion) over at most these items (100k catalogues)
    half_life_days: float = 90.0
    # the best one-item rule into each candidate from the user's history (confidence, lift, support;
    # ranking_features.RULE_FEATURE_GROUPS) as a "rules" feature group. Off: validation NDCG@10
    # .3259 with it, .3267 without (3 seeds; benchmarks/RESULTS.md, "Rules as ranker features")
    rule_features: bool = False
    rule_min_support: float = 0.005
    # completion = EASE at this lambda: the baseline tuning's choice when it was set (it picks 25 on
    # the shipped data now: hit@10 .3194 vs .3179 on validation, within noise)
    completion_ease_l2: float = 50.0
    # + this weight x log(1 + 10 x the customer's share of baskets holding the item) (personal EASE;
    # 0 = EASE alone). 2 chosen on validation: hit@10 .3332 vs .3179 at 0 (lambda 50; grid 0.5-4)
    completion_history_weight: float = 2.0
    # the completion head (module docstring). Chosen on validation (prototype, 3 seeds, 10 epochs):
    # hit@10 .3495 vs ease_personal .3332; without the item features .3476, with only the basket's
    # .3407. Integrated (3 seeds, early-stopped): .3520; 8 draws .3527, 6 times .3508, 200
    # candidates .3519, hidden 128 .3529, lr 1e-3 .3508 (all within noise, so the cheapest);
    # an item embedding of 8 / 16 overfits item identities: .3454 / .3431. Baskets sampled before
    # hiding items (cheaper at 10M events): 4 times .3509, 2 times .3528, 3 .3502; 2 chosen, half
    # the EASE inverses (the 100k-item ranker asset paid ~156 s for the head with 4)
    completion_head: bool = True
    completion_candidates: int = 100
    completion_epochs: int = 10
    completion_patience: int = 3
    completion_hidden: int = 64
    completion_lr: float = 3e-3
    completion_times: int = 2  # month starts inside train whose next month gives training queries
    completion_draws: int = 4  # hidden items drawn per training basket
    completion_max_lists: int = 10_000  # 10k .3533, 20k .3528, 6k .3478 (validation, 3 seeds)
    completion_drop_groups: str = ""  # the head's feature groups held at their mean (ablations)
    completion_item_dim: int = 0  # the head's learned item embedding width (0: features only)
    # "lambdarank" (pairs weighted by their NDCG@lambdarank_k change) or "softmax" (ListNet). Chosen on
    # validation: NDCG@10 .3268 / .3259 / .3282 (seeds 0-2) vs softmax .3238 / .3239 / .3195
    loss: str = "lambdarank"
    lambdarank_k: int = 10
    monitor: str = "val_ndcg@10"
    # the refit on train_full runs this many optimizer steps of the next-basket network (0: `epochs`
    # epochs); refit_params sets it to the fit's best epoch x its steps per epoch. The refit has more
    # lists, and as many epochs over them overtrain: fit before 2011-04-01, early-stopped on April-May,
    # refit before 2011-06-01, scored on June-August (no test look), NDCG@10 .3209 with the same
    # epochs against .3262 with the same steps (3 seeds; benchmarks/RESULTS.md, "The refit in steps")
    refit_steps: int = 0
    drop_groups: str = ""  # comma-separated feature groups held at their mean (ablations), e.g. "cycle"
    list_workers: int = 2  # prediction times whose training lists are built side by side (same lists)
    # training lists at most (0: all): above it each prediction time keeps an even share of its
    # users, sampled. The demo has ~4,500; 20k users x 13 months would be 260k lists, ~8 GB
    max_training_lists: int = 40_000

    @property
    def candidates(self) -> CandidateSettings:
        return CandidateSettings(
            self.n_neighbours,
            self.n_trending,
            self.max_candidates,
            self.ease_l2,
            ease_max_items=self.ease_max_items,
        )

    @property
    def features(self) -> FeatureSettings:
        return FeatureSettings(
            half_life_days=self.half_life_days,
            rules=self.rule_features,
            rule_min_support=self.rule_min_support,
        )

    @property
    def feature_names(self) -> tuple[str, ...]:
        return feature_names(self.features)

    @property
    def planned_epochs(self) -> int | None:
        return None if self.refit_steps > 0 else self.epochs

    def steps_per_epoch(self, n_lists: int) -> int:
        """Optimizer steps of one epoch over ``n_lists`` lists (:func:`list_epoch`)."""
        return max(1, -(-n_lists // self.lists_per_batch))

    @property
    def completion(self) -> CompletionSettings:
        return CompletionSettings(
            self.completion_candidates,
            self.completion_ease_l2,
            self.completion_history_weight,
            ease_max_items=self.ease_max_items,
        )

    @property
    def completion_training(self) -> HeadTraining:
        return HeadTraining(
            epochs=self.completion_epochs,
            patience=self.completion_patience,
            hidden=self.completion_hidden,
            lr=self.completion_lr,
            weight_decay=self.weight_decay,
            lists_per_batch=self.lists_per_batch,
            times=self.completion_times,
            draws=self.completion_draws,
            max_lists=self.completion_max_lists,
            drop_groups=self.completion_drop_groups,
            item_dim=self.completion_item_dim,
        )


def feature_mask(drop_groups: str, names: tuple[str, ...]) -> np.ndarray:
    """1 per feature of ``names``, 0 for the features of the named groups (``ALL_FEATURE_GROUPS``)."""
    return group_mask(drop_groups, {name: ALL_FEATURE_GROUPS[name] for name in names}, "drop_groups")


class RankerRecommender(TrainedRecommender):
    """The two-stage ranker as a :class:`Recommender`; it scores from the history it was given."""

    name = "ranker"
    kind = "ranker"
    params_cls = RankerParams
    reads_history = True
    explains_scores = True
    personal_completion = True

    def __init__(self, params: RankerParams | None = None) -> None:
        super().__init__(params)
        self.history: BasketSet | None = None
        self._tifu: TIFUKNNRecommender | None = None
        self._ease: PersonalEASERecommender | None = None
        self.completion: CompletionHead | None = None
        self.completion_result: TrainingResult | None = None
        self.completion_declined = False  # validated, and no better than personal EASE: not refit

    # ---------------------------------------------------------------- training
    def fit(
        self,
        train: BasketSet,
        validation: BasketSet | None = None,
        *,
        on_epoch: EpochCallback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
        init_from: RankerRecommender | None = None,
        training_data: RankingLists | None = None,
    ) -> Self:
        """Train on lists from month starts inside ``train``; with ``validation``, stop early on
        next-basket NDCG@10 of its users (history = ``train``). ``training_data``: those lists
        already built (a benchmark comparing settings that do not change them builds them once).
        ``init_from``: a ranker whose next-basket network this one starts from (warm start, by item
        id). Then the completion head (its own lists; early stop on validation hit@10), from scratch."""
        device = self._fit_next_basket(train, validation, on_epoch, checkpoint_path, init_from, training_data)
        self._fit_completion(train, validation, on_epoch, device)
        return self

    def _fit_next_basket(
        self,
        train: BasketSet,
        validation: BasketSet | None,
        on_epoch: EpochCallback | None,
        checkpoint_path: str | os.PathLike[str] | None,
        init_from: RankerRecommender | None,
        training_data: RankingLists | None,
    ) -> torch.device:
        """The next-basket network (a method of its own, so its lists are freed on return)."""
        p = self.params
        if p.loss not in LOSSES:
            expected = ", ".join(LOSSES)
            raise InputError(f"ranker config loss: unknown loss {p.loss!r}; expected one of {expected}")
        device = self._start_fit(train)
        data = training_data if training_data is not None else self.build_training_lists(train)
        if len(data) == 0:
            raise ValueError(
                "ranker: no training lists (no user bought again within "
                f"{p.horizon_days:g} days of a month start inside the training baskets)"
            )
        self.with_history(train)
        self.module = RankerNet(len(p.feature_names), self.n_items, p.hidden, p.layers, p.dropout, p.item_dim)
        x_all = torch.as_tensor(data.features)
        with torch.no_grad():
            self.module.mean.copy_(x_all.mean(0))
            self.module.std.copy_(x_all.std(0).clamp(min=1e-6))
            self.module.keep.copy_(torch.as_tensor(feature_mask(p.drop_groups, p.feature_names)))
        if init_from is not None:  # the base's weights with the standardisation they were trained on;
            # the held-out groups stay this model's own (``drop_groups``)
            self.warm_start = warm_start_from(
                self, init_from, item_rows=("item_embedding.weight",), skip=("keep",)
            )
        self.module.to(device)
        module = self.module
        x = x_all.to(device)
        items = torch.as_tensor(data.items, dtype=torch.long, device=device)
        labels = torch.as_tensor(data.labels, device=device)
        opt = torch.optim.AdamW(module.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        n_lists = len(data)
        list_loss = LOSSES[p.loss]
        if p.loss == "lambdarank":
            list_loss = functools.partial(list_loss, k=p.lambdarank_k)
        loop = p
        if p.refit_steps > 0 and validation is None:  # a refit: as many steps as the fit's best epoch
            loop = dataclasses.replace(p, epochs=max(1, round(p.refit_steps / p.steps_per_epoch(n_lists))))

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            return list_epoch(ctx, module, data.indptr, (x, items, labels), list_loss, opt, p.lists_per_batch)

        validate = None
        if validation is not None:
            validate = self._validation(train, validation)
        self.result = train_loop(
            module,
            train_epoch,
            loop,
            validate=validate,
            monitor=p.monitor,
            on_epoch=on_epoch,
            checkpoint_path=checkpoint_path,
            device=device,
        )
        self.result.extra.update({"n_training_lists": n_lists, "n_training_rows": len(data.items)})
        if loop is not p:
            self.result.extra["refit_epochs"] = f"{loop.epochs} ({p.refit_steps} steps of the fit)"
        return device

    def _fit_completion(
        self,
        train: BasketSet,
        validation: BasketSet | None,
        on_epoch: EpochCallback | None,
        device: torch.device,
    ) -> None:
        """The completion head, or personal EASE where it is off, ``train`` gives it no lists, or on
        validation it does not rank better than personal EASE (:func:`beats_candidate_order`)."""
        p = self.params
        self.completion = self.completion_result = None
        self.completion_declined = False
        head = None
        if p.completion_head:
            head = CompletionHead.fit(
                train, validation, p.completion, p.completion_training, p, device=device, on_epoch=on_epoch
            )
        if head is not None and not beats_candidate_order(head[1]):
            result, head = head[1], None
            self.completion_declined = True
            self.result.extra.update(
                {
                    "completion": "personal EASE (completion head no better on validation: hit@10 "
                    f"{result.best_metric:.4f} vs personal EASE {result.extra[CANDIDATE_ORDER]:.4f})",
                    CANDIDATE_ORDER: result.extra[CANDIDATE_ORDER],
                    "completion_best_hit@10": result.best_metric,
                }
            )
        elif head is not None:
            self.completion, self.completion_result = head
            self.result.extra.update(
                {
                    "completion": "completion head",
                    "completion_best_epoch": self.completion_result.best_epoch,
                    "completion_best_hit@10": self.completion_result.best_metric,
                    **self.completion_result.extra,
                }
            )
        else:
            why = "off" if not p.completion_head else "no training lists"
            self.result.extra["completion"] = f"personal EASE (completion head {why})"

    def refit_params(self, params: RankerParams) -> RankerParams:
        """Both networks' best epoch counts, no early stop; no head where validation declined it.
        The next-basket network's count goes as steps (``refit_steps``): the refit's lists are more."""
        final = super().refit_params(params)
        if self.result is not None and "n_training_lists" in self.result.extra:
            steps = final.epochs * params.steps_per_epoch(int(self.result.extra["n_training_lists"]))
            final = dataclasses.replace(final, refit_steps=steps)
        if self.completion_declined:
            return dataclasses.replace(final, completion_head=False)
        if self.completion_result is None:
            return final
        return dataclasses.replace(
            final, completion_epochs=max(self.completion_result.best_epoch, 1), completion_patience=0
        )

    def fine_tuning_params(self, params: RankerParams) -> RankerParams:
        """A registered ranker holds its refit's settings: a step count for the next-basket
        network, the completion head's epochs with no patience (or no head, where validation
        declined it). A fine-tune early-stops both again, as a fit from scratch does."""
        fresh = RankerParams()
        return dataclasses.replace(
            params,
            refit_steps=0,
            completion_head=fresh.completion_head,
            completion_epochs=fresh.completion_epochs,
            completion_patience=fresh.completion_patience,
        )

    def as_warm_start_source(self) -> Self:
        """Weights and ids only (a warm start copies nothing else): the stored history (the base's
        whole train_full), its completion head and the baselines bound to them go; the model no
        longer scores."""
        super().as_warm_start_source()
        self.history = self._tifu = self._ease = None
        self.completion = self.completion_result = None
        return self

    def build_training_lists(self, train: BasketSet) -> RankingLists:
        """The labelled candidate lists ``fit`` trains on (see :func:`training_lists`)."""
        p = self.params
        return training_lists(
            train,
            None,
            p.horizon_days,
            p.candidates,
            p.features,
            per_month=p.times_per_month,
            workers=p.list_workers,
            max_lists=p.max_training_lists,
            seed=p.seed,
        )

    def _validation(self, train: BasketSet, validation: BasketSet):
        """``validate()``: NDCG / recall@10 on the validation users, features computed once."""
        from assoc_pipeline.core.recsys.tasks import validation_next_basket

        task = validation_next_basket(train, validation)
        if len(task) == 0:
            raise ValueError("ranker: validation has no users with training history; cannot early-stop")
        lists = self._lists(list(task.user_ids))

        def validate() -> dict[str, float]:
            rows = self.list_scores(lists)
            m = batched_ranking_metrics(
                lambda s, e: self._scores(lists, rows, s, e),
                len(lists),
                self.n_items,
                task.targets,
                task.candidates,
            )
            return {f"val_{k}": v for k, v in m.items()}

        return validate

    def with_history(self, baskets: BasketSet) -> Self:
        """Score users from ``baskets`` (e.g. everything before the test cutoff) from now on."""
        if self.n_items and baskets.n_items != self.n_items:
            raise ValueError(f"ranker: history has {baskets.n_items} items, the model {self.n_items}")
        self.history = baskets
        self._tifu = self._ease = None
        if self.completion is not None:
            self.completion.bind(baskets)
        return self

    # ---------------------------------------------------------------- scoring
    def ranking_lists(self, user_ids: Sequence[str]) -> RankingLists:
        """The users' candidate lists and feature rows at the end of the current history."""
        return self._lists([str(u) for u in user_ids])

    def scores_of(
        self, lists: RankingLists, rows: np.ndarray | None = None, start: int = 0, stop: int | None = None
    ) -> np.ndarray:
        """Dense scores of given lists ``start:stop`` (e.g. with a feature group ablated); ``rows``:
        their :meth:`list_scores` if already known."""
        return self._scores(lists, rows, start, stop)

    def _lists(self, user_ids: Sequence[str]) -> RankingLists:
        history = self._require_history()
        if self._tifu is None:
            self._tifu = TIFUKNNRecommender().fit(history, predict=False)  # users blended when asked
        p = self.params
        return scoring_lists(
            history, user_ids, prediction_day(history), p.candidates, p.features, tifu=self._tifu
        )

    def _require_history(self) -> BasketSet:
        if self.history is None:
            raise RuntimeError("ranker: model is not fitted (call fit or load first)")
        return self.history

    def list_scores(self, lists: RankingLists, batch: int = 65536) -> np.ndarray:
        """The network's logit of every (user, candidate) row of ``lists``."""
        module = self._require()
        dev = next(module.parameters()).device
        was = module.training
        module.eval()
        out = np.empty(len(lists.items), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, len(out), batch):
                x = torch.as_tensor(lists.features[s : s + batch], device=dev)
                i = torch.as_tensor(lists.items[s : s + batch], dtype=torch.long, device=dev)
                out[s : s + batch] = module.score(x, i).float().cpu().numpy()
        module.train(was)
        return out

    def _scores(
        self, lists: RankingLists, rows: np.ndarray | None = None, start: int = 0, stop: int | None = None
    ) -> np.ndarray:
        """Dense scores of lists ``start:stop`` (``rows``: ``list_scores(lists)`` if already known)."""
        stop = len(lists) if stop is None else stop
        rows = self.list_scores(lists) if rows is None else rows
        floor = NOT_A_CANDIDATE + backoff(item_popularity(self._require_history()))
        out = np.broadcast_to(floor, (stop - start, self.n_items)).astype(np.float32)
        part = slice(lists.indptr[start], lists.indptr[stop])
        out[lists.list_of_row[part] - start, lists.items[part]] = rows[part]
        return out

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        """Re-ranked candidates first; users without history get popularity (and trending items)."""
        return self._scores(self._lists([str(u) for u in user_ids]))

    def score_completion(
        self, partial_baskets: Sequence[np.ndarray], user_ids: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """The completion head's scores; personal EASE without one (see the module docstring)."""
        if self.completion is not None:
            self._require_history()
            return self.completion.score(partial_baskets, user_ids)
        if self._ease is None:
            p = self.params
            self._ease = PersonalEASERecommender(
                p.completion_ease_l2, p.completion_history_weight, max_items=p.ease_max_items
            ).fit(self._require_history())
        return self._ease.score_completion(partial_baskets, user_ids)

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        """The history baskets the features are computed from (ids, times, items)."""
        h = self._require_history()
        m = h.matrix.tocsr()
        users = h.baskets["user_id"]
        return {
            "history_indptr": torch.as_tensor(m.indptr.astype(np.int64)),
            "history_indices": torch.as_tensor(m.indices.astype(np.int64)),
            "history_times_ns": torch.as_tensor(basket_times_ns(h)),
            "history_users": [str(u) if pd.notna(u) else "" for u in users],
            "history_basket_ids": h.baskets["basket_id"].astype(str).tolist(),
            **({"completion_state": self.completion.state()} if self.completion is not None else {}),
        }

    def _restore(self, ckpt: dict[str, Any]) -> None:
        indptr = ckpt["history_indptr"].numpy()
        indices = ckpt["history_indices"].numpy()
        n_baskets = len(indptr) - 1
        matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=bool), indices, indptr), shape=(n_baskets, self.n_items)
        )
        ids = self.item_ids or [str(i) for i in range(self.n_items)]
        baskets = pd.DataFrame(
            {
                "basket_id": list(ckpt["history_basket_ids"]),
                "user_id": pd.Series([u or None for u in ckpt["history_users"]], dtype=object),
                "basket_time": pd.to_datetime(ckpt["history_times_ns"].numpy()),
                "n_items": np.diff(indptr).astype(np.int64),
            }
        )
        vocabulary = pd.DataFrame({"item_idx": np.arange(self.n_items), "item_id": ids, "item_name": ids})
        state = ckpt.get("completion_state")
        if state is not None:
            net = CompletionHead.build_net(self.params.completion_training, self.n_items)
            net.load_state_dict(state)
            self.completion = CompletionHead(self.params.completion, net.eval())
        self.with_history(BasketSet(matrix, baskets, vocabulary))

    def input_example(self) -> torch.Tensor:
        """A (2, n_features + 1) tensor valid for ``module.forward`` (for mlflow.pytorch.log_model)."""
        return torch.zeros(2, len(self.params.feature_names) + 1)

    def _build_module(self, ckpt: dict[str, Any]) -> RankerNet:
        p = self.params
        return RankerNet(len(p.feature_names), self.n_items, p.hidden, p.layers, p.dropout, p.item_dim)
