"""The baselines' settings, chosen on the validation period in code (never on the test period).

A baseline tuned by hand on the test period flatters the model that beats it, and one left at
someone else's defaults flatters nothing but is not the strong baseline it claims to be. Here
EASE's lambda (per task), TIFU-KNN's neighbours and mixing weight, the weight of the customer's
habit in personal EASE, and the content method's aggregation are each chosen on a grid by the
validation primary metric (fit on ``train``, score ``train -> validation``); the chosen values
and the whole validation curves are recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.evaluation import evaluate
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.recsys.tasks import (
    CompletionTask,
    NextBasketTask,
    completion_task,
    sampled_queries,
    validation_next_basket,
)
from assoc_pipeline.core.thread_lanes import thread_lanes

if TYPE_CHECKING:
    from assoc_pipeline.core.recsys.report import MethodSpec

NEXT_BASKET, COMPLETION = "next_basket", "completion"
# the primary metric of each task (@10): what the gate and the tuning optimise
PRIMARY = {NEXT_BASKET: "ndcg", COMPLETION: "hit_rate"}
EASE_GRID = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0)
TIFU_GRID = tuple((k, a) for k in (100, 300) for a in (0.5, 0.7, 0.9))
CONTENT_GRID = ("max", "mean")
PERSONAL_GRID = (1.0, 2.0, 3.0)  # weight of the customer's habit in personal EASE (completion)


@dataclass(frozen=True)
class BaselineSettings:
    """Hyper-parameters of the baselines; ``chosen_on`` says where they come from."""

    ease_l2: Mapping[str, float] = field(default_factory=lambda: {NEXT_BASKET: 200.0, COMPLETION: 50.0})
    tifu_neighbors: int = 300
    tifu_alpha: float = 0.7
    content_aggregate: str = "max"
    personal_weight: float = 2.0  # personal EASE (completion): weight of the customer's habit
    chosen_on: str = "defaults (not tuned on this data)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ease_l2": dict(self.ease_l2)}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> BaselineSettings:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in record.items() if k in names})


@dataclass(frozen=True)
class ValidationTasks:
    """The validation queries every tuning choice and every model's selection is scored on."""

    next_basket: NextBasketTask
    completion: CompletionTask


def validation_tasks(split: BasketSplit, seed: int = 0, max_completion: int = 3000) -> ValidationTasks:
    """``train -> validation`` queries; completion is a fixed-seed sample of at most ``max_completion``
    baskets (scoring every validation basket for every grid point buys little precision), next
    basket one of at most ``MAX_VALIDATION_USERS`` users."""
    train, validation = split.train, split.validation
    completion = sampled_queries(completion_task(validation, seed=seed, history=train), max_completion, seed)
    return ValidationTasks(validation_next_basket(train, validation, seed), completion)


def primary_value(recommender: Recommender, task: NextBasketTask | CompletionTask, task_name: str) -> float:
    """The task's primary metric @10 of a fitted recommender."""
    res = evaluate(recommender, task, ks=(10,))
    return float(res[(res["metric"] == PRIMARY[task_name]) & (res["k"] == 10)]["value"].iloc[0])


def _progress(total: int) -> Callable[[], str]:
    """``"k/total, s s"`` for the k-th call: a grid point's place and the time since the start
    (a 100k-item log takes minutes per EASE point)."""
    started, count = time.perf_counter(), iter(range(1, total + 1))
    return lambda: f"{next(count)}/{total}, {time.perf_counter() - started:.0f} s"


def choose(
    make: Callable[[Any], Recommender],
    grid: Sequence[Any],
    train: BasketSet,
    task: NextBasketTask | CompletionTask,
    task_name: str,
    *,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[Any, dict[str, float]]:
    """The grid value whose recommender scores best on ``task`` (ties: the first), and the curve
    (``workers`` grid points at a time; ``progress``: a line per grid point as it is scored)."""
    curve: dict[str, float] = {}
    done = _progress(len(grid))
    with thread_lanes(workers) as run:
        scored = run(lambda g: primary_value(make(g).fit(train), task, task_name), grid)
        for g, v in zip(grid, scored, strict=True):
            curve[str(g)] = v
            if progress:
                progress(f"{g} ({done()}): {PRIMARY[task_name]}@10 {v:.4f}")
    best = max(grid, key=lambda g: curve[str(g)])
    return best, curve


def tune_baselines(
    split: BasketSplit,
    item_vectors: np.ndarray | None = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    workers: int = 1,
) -> tuple[BaselineSettings, dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(the chosen settings, every validation curve, every baseline's validation figures) for EASE,
    TIFU-KNN and the content method; the other baselines have nothing to tune. ``workers`` grid
    points (or baselines) are scored at a time, on threads: the same figures."""
    from assoc_pipeline.core.content.content_recommender import ContentRecommender, aggregate_for
    from assoc_pipeline.core.recsys.baselines import EASERecommender, TIFUKNNRecommender
    from assoc_pipeline.core.recsys.baselines.personal_ease import PersonalEASERecommender

    tasks = validation_tasks(split, seed)
    by_task = {NEXT_BASKET: tasks.next_basket, COMPLETION: tasks.completion}
    train = split.train
    curves: dict[str, dict[str, float]] = {f"ease_l2/{t}": {} for t in by_task}

    def ease_point(l2: float) -> dict[str, float]:  # EASE's weights do not depend on the task
        ease = EASERecommender(l2).fit(train)
        return {task_name: primary_value(ease, task, task_name) for task_name, task in by_task.items()}

    done = _progress(len(EASE_GRID))
    with thread_lanes(workers) as run:
        for l2, point in zip(EASE_GRID, run(ease_point, EASE_GRID), strict=True):
            for task_name, value in point.items():
                curves[f"ease_l2/{task_name}"][str(l2)] = value
            shown = ", ".join(f"{t} {PRIMARY[t]}@10 {v:.4f}" for t, v in point.items())
            log(f"baseline tuning: EASE lambda {l2:g} ({done()}): {shown}")
    ease_l2 = {t: max(EASE_GRID, key=lambda g, t=t: curves[f"ease_l2/{t}"][str(g)]) for t in by_task}
    log("baseline tuning: EASE lambda " + ", ".join(f"{v:g} for {t}" for t, v in ease_l2.items()))
    (neighbors, alpha), curves["tifu/next_basket"] = choose(
        lambda g: TIFUKNNRecommender(n_neighbors=g[0], alpha=g[1]),
        TIFU_GRID,
        train,
        tasks.next_basket,
        NEXT_BASKET,
        workers=workers,
        progress=lambda line: log(f"baseline tuning: TIFU-KNN (neighbours, alpha) {line}"),
    )
    log(f"baseline tuning: TIFU-KNN {neighbors} neighbours, alpha {alpha:g}")
    personal = PersonalEASERecommender(ease_l2[COMPLETION]).fit(train)  # one EASE fit for the grid
    curve = {
        str(w): primary_value(personal.with_weight(w), tasks.completion, COMPLETION) for w in PERSONAL_GRID
    }
    curves["ease_personal_weight/completion"] = curve
    personal_weight = max(PERSONAL_GRID, key=lambda w: curve[str(w)])
    log(
        "baseline tuning: personal EASE weight "
        + ", ".join(f"{w} hit_rate@10 {v:.4f}" for w, v in curve.items())
        + f" -> {personal_weight:g}"
    )
    # "max" needs a dense item x item similarity: above its limit (100k catalogues) only "mean"
    grid = tuple(dict.fromkeys(aggregate_for(train.n_items, a) for a in CONTENT_GRID))
    aggregate = aggregate_for(train.n_items)
    if item_vectors is not None:
        aggregate, curves["content_aggregate/completion"] = choose(
            lambda a: ContentRecommender(item_vectors, aggregate=a),
            grid,
            train,
            tasks.completion,
            COMPLETION,
            workers=workers,
            progress=lambda line: log(f"baseline tuning: content aggregate {line}"),
        )
        log(f"baseline tuning: content aggregate {aggregate}")
    chosen_on = (
        f"validation ({split.validation_cutoff.date()} .. {split.test_cutoff.date()}): "
        f"{len(tasks.next_basket)} next-basket users, {len(tasks.completion)} completion baskets"
    )
    settings = BaselineSettings(
        ease_l2=ease_l2, tifu_neighbors=int(neighbors), tifu_alpha=float(alpha), content_aggregate=aggregate,
        personal_weight=float(personal_weight), chosen_on=chosen_on,
    )  # fmt: skip
    tuned = {
        "ease": {t: curves[f"ease_l2/{t}"][str(ease_l2[t])] for t in by_task},
        "tifu_knn": {NEXT_BASKET: curves["tifu/next_basket"][str((neighbors, alpha))]},
        "ease_personal": {COMPLETION: curves["ease_personal_weight/completion"][str(personal_weight)]},
    }
    validation = {**baseline_validation(split, settings, tasks, skip=tuned, workers=workers), **tuned}
    return settings, curves, validation


def baseline_validation(
    split: BasketSplit,
    settings: BaselineSettings,
    tasks: ValidationTasks | None = None,
    skip: Mapping[str, object] | None = None,
    workers: int = 1,
) -> dict[str, dict[str, float]]:
    """Every baseline (but those in ``skip``, already scored), with ``settings``, fitted on
    ``train`` and scored on the validation tasks' primary metrics: the figures a trained candidate
    is compared with when it is chosen (``workers`` baselines at a time)."""
    from assoc_pipeline.core.recsys.report import baseline_specs

    tasks = tasks or validation_tasks(split)
    by_task = {NEXT_BASKET: tasks.next_basket, COMPLETION: tasks.completion}
    specs = [spec for spec in baseline_specs(settings) if spec.method not in (skip or {})]

    def scored(spec: MethodSpec) -> dict[str, float]:
        fitted: set[int] = set()
        values = {}
        for task_name, rec in spec.per_task.items():
            if id(rec) not in fitted:
                rec.fit(split.train)
                fitted.add(id(rec))
            values[task_name] = primary_value(rec, by_task[task_name], task_name)
        return values

    with thread_lanes(workers) as run:
        return {spec.method: values for spec, values in zip(specs, run(scored, specs), strict=True)}


def model_validation(model: Recommender, tasks: ValidationTasks) -> dict[str, float]:
    """A model fitted on ``train`` scored on the validation tasks' primary metrics."""
    return {
        NEXT_BASKET: primary_value(model, tasks.next_basket, NEXT_BASKET),
        COMPLETION: primary_value(model, tasks.completion, COMPLETION),
    }
