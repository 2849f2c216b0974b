"""The evaluation report: every baseline and trained model on the same test tasks, one long table.

Protocol (core/recsys/split.py): history = ``train_full`` (everything before the test cutoff), future =
``test``. Baselines are fitted on ``train_full`` here; trained models arrive fitted on it (the
training assets refit on ``train_full`` after early stopping on validation). Both tasks are built
once and every method scores exactly the same queries:

* next-basket — users with history and a test basket; target = their first test basket;
* completion  — every test basket with >= 2 items, one item hidden with ``seed``.

The rules baseline mines pair rules on ``train_full`` itself (``RulesRecommender`` defaults):
the ``association_rules`` asset is mined on *all* baskets, test period included, so scoring with it
would leak the answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from assoc_pipeline.core.content.content_recommender import ContentRecommender
from assoc_pipeline.core.content.hybrid import HybridRecommender
from assoc_pipeline.core.recsys.baseline_tuning import BaselineSettings
from assoc_pipeline.core.recsys.baselines import (
    EASERecommender,
    ItemKNNRecommender,
    PersonalTopFrequencyRecommender,
    PopularityRecommender,
    TIFUKNNRecommender,
)
from assoc_pipeline.core.recsys.baselines.personal_ease import PersonalEASERecommender
from assoc_pipeline.core.recsys.baselines.rules import RulesRecommender
from assoc_pipeline.core.recsys.evaluation import DEFAULT_KS, evaluate
from assoc_pipeline.core.recsys.intervals import (
    DEFAULT_RESAMPLES,
    bootstrap,
    paired_difference,
    resample_indices,
)
from assoc_pipeline.core.recsys.recommender import Recommender
from assoc_pipeline.core.recsys.split import BasketSplit
from assoc_pipeline.core.recsys.task_names import COLD_START, COMPLETION, NEXT_BASKET
from assoc_pipeline.core.recsys.tasks import (
    CompletionTask,
    NextBasketTask,
    cold_start_task,
    completion_task,
    next_basket_task,
    sampled_queries,
)
from assoc_pipeline.core.thread_lanes import thread_lanes

TASKS = (NEXT_BASKET, COMPLETION, COLD_START)
BASELINES = ("popularity", "personal_top_frequency", "item_knn", "ease", "ease_personal", "tifu_knn", "rules")
REPORT_COLUMNS = [
    "method",
    "kind",
    "task",
    "metric",
    "k",
    "value",
    "ci_low",
    "ci_high",
    "n_queries",
    "validation_value",
    "vs_baseline",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "params",
    "model_version",
    "mlflow_run_id",
]
# intervals (95 %, paired bootstrap over queries) for these metrics @10; the primary ones also get
# the model-minus-best-baseline difference
INTERVAL_METRICS = ("recall", "ndcg", "hit_rate", "f1")
PRIMARY = {NEXT_BASKET: "ndcg", COMPLETION: "hit_rate"}
# metrics defined only for queries that have such targets: undefined (NaN) when none has any
SUBSET_METRICS = ("recall_repeat", "recall_explore", "recall_known_items", "repeat_ratio")
# The bar for our own models (issue 5): beat these baselines on these metrics by >= 5 % (relative).
BAR = ((NEXT_BASKET, "recall", 10, "personal_top_frequency"), (COMPLETION, "hit_rate", 10, "ease"))
BAR_MARGIN = 0.05
SUMMARY_METRICS = (
    (NEXT_BASKET, "recall", 10),
    (NEXT_BASKET, "ndcg", 10),
    (NEXT_BASKET, "f1", 10),
    (NEXT_BASKET, "recall_repeat", 10),
    (NEXT_BASKET, "recall_explore", 10),
    (NEXT_BASKET, "coverage", 10),
    (COMPLETION, "hit_rate", 10),
    (COMPLETION, "ndcg", 10),
    (COMPLETION, "mrr", 10),
    (COMPLETION, "coverage", 10),
    (COLD_START, "hit_rate", 10),
)


@dataclass(frozen=True)
class TestTasks:
    next_basket: NextBasketTask
    completion: CompletionTask
    cold_start: CompletionTask | None = None

    def get(self, task: str) -> NextBasketTask | CompletionTask:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
        found = {NEXT_BASKET: self.next_basket, COMPLETION: self.completion, COLD_START: self.cold_start}[
            task
        ]
        if found is None:
            raise ValueError(f"task {task!r} was not built for this report")
        return found


def report_tasks(split: BasketSplit, seed: int = 0, max_completion: int = 0) -> TestTasks:
    """The test-period tasks every method is scored on (every target counts); the cold-start slice
    is a completion task whose hidden item is a product new in the test period, ranked among the
    products on sale at the query's time. ``max_completion``: a fixed-seed sample of at most that
    many completion queries, and as many cold-start ones (0 = all: a 2M-basket synthetic log
    with a drifting catalogue holds 580k cold-start baskets, 30x its next-basket users)."""
    history, future = split.train_full, split.test
    return TestTasks(
        next_basket_task(history, future),
        sampled_queries(completion_task(future, seed=seed, history=history), max_completion, seed),
        sampled_queries(cold_start_task(future, history, seed=seed), max_completion, seed),
    )


@dataclass
class MethodSpec:
    """One row group of the report: a recommender per task it is scored on."""

    method: str
    kind: str  # baseline | model (trained, registered, promotable) | content (text-embedding methods)
    per_task: dict[str, Recommender]
    params: str = ""
    model_version: str | None = None
    mlflow_run_id: str | None = None
    notes: list[str] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)  # task -> primary metric on validation


def baseline_specs(settings: BaselineSettings | None = None) -> list[MethodSpec]:
    """The built-in baselines, unfitted; one shared instance where a method does both tasks."""
    s = settings or BaselineSettings()
    pop, knn, rules = PopularityRecommender(), ItemKNNRecommender(), RulesRecommender()
    tifu = TIFUKNNRecommender(n_neighbors=s.tifu_neighbors, alpha=s.tifu_alpha)
    ease = {t: EASERecommender(s.ease_l2[t]) for t in (NEXT_BASKET, COMPLETION)}
    return [
        MethodSpec("popularity", "baseline", {NEXT_BASKET: pop, COMPLETION: pop}),
        MethodSpec("personal_top_frequency", "baseline", {NEXT_BASKET: PersonalTopFrequencyRecommender()}),
        MethodSpec("item_knn", "baseline", {NEXT_BASKET: knn, COMPLETION: knn}, "cosine, all neighbours"),
        MethodSpec(
            "ease",
            "baseline",
            ease,
            f"lambda {s.ease_l2[NEXT_BASKET]:g} (next-basket) / {s.ease_l2[COMPLETION]:g} (completion); "
            f"{s.chosen_on}",
        ),
        MethodSpec(
            "ease_personal",
            "baseline",
            {COMPLETION: PersonalEASERecommender(s.ease_l2[COMPLETION], s.personal_weight)},
            f"EASE lambda {s.ease_l2[COMPLETION]:g} + {s.personal_weight:g} x log(1 + 10 x the customer's "
            f"share of baskets holding the item); {s.chosen_on}",
        ),
        MethodSpec(
            "tifu_knn",
            "baseline",
            {NEXT_BASKET: tifu},
            f"k={s.tifu_neighbors}, alpha={s.tifu_alpha:g}; {s.chosen_on}",
        ),
        MethodSpec(
            "rules",
            "baseline",
            {NEXT_BASKET: rules, COMPLETION: rules},
            f"pair rules mined on train_full (count >= {rules.min_support}, "
            f"confidence >= {rules.min_confidence}); max confidence",
        ),
    ]


def content_specs(
    embeddings: np.ndarray,
    weights: Mapping[str, float],
    half_life_days: float = 90.0,
    settings: BaselineSettings | None = None,
) -> dict[str, MethodSpec]:
    """Description-embedding methods, unfitted: pure content, and the hybrid with its tuned weights
    (next-basket: personal top-frequency + content; completion: EASE + content)."""
    s = settings or BaselineSettings()

    def content() -> ContentRecommender:
        return ContentRecommender(embeddings, half_life_days, aggregate=s.content_aggregate)

    shared = content()
    hybrid = {
        NEXT_BASKET: HybridRecommender(PersonalTopFrequencyRecommender(), content(), weights[NEXT_BASKET]),
        COMPLETION: HybridRecommender(EASERecommender(s.ease_l2[COMPLETION]), content(), weights[COMPLETION]),
    }
    w = ", ".join(f"{t} w={weights[t]:g}" for t in (NEXT_BASKET, COMPLETION))
    return {
        "content": MethodSpec(
            "content", "content", {NEXT_BASKET: shared, COMPLETION: shared}, f"cosine, {s.content_aggregate}"
        ),
        "hybrid": MethodSpec("hybrid", "content", hybrid, f"tuned on validation: {w}"),
    }


def baseline_recommender(method: str, task: str, settings: BaselineSettings | None = None) -> Recommender:
    """A fresh, unfitted baseline by report name for ``task`` (e.g. to serve when no champion)."""
    for spec in baseline_specs(settings):
        if spec.method == method:
            if task not in spec.per_task:
                raise ValueError(f"baseline {method!r} does not do {task}")
            return spec.per_task[task]
    raise ValueError(f"unknown baseline {method!r}: expected one of {BASELINES}")


def build_report(
    split: BasketSplit,
    models: Mapping[str, MethodSpec] | None = None,
    ks: tuple[int, ...] = DEFAULT_KS,
    seed: int = 0,
    tasks: TestTasks | None = None,
    log: Callable[[str], None] | None = None,
    baselines: BaselineSettings | None = None,
    baseline_validation: Mapping[str, Mapping[str, float]] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    workers: int = 1,
) -> pd.DataFrame:
    """Fit the baselines on ``train_full``, score them and the given models on the test tasks.

    ``models`` maps a method name to a :class:`MethodSpec` of fitted recommenders (kind "model").
    Every value gets a 95 % bootstrap interval over queries for the metrics in
    :data:`INTERVAL_METRICS` (@10); every model row of a primary metric gets its difference to
    the best baseline on the same queries, with the paired interval. ``validation_value`` holds
    each method's primary metric on the validation period (models: from their training run;
    baselines: ``baseline_validation``), which is where a candidate is chosen. ``attrs["per_query"]``
    keeps every query's values (in memory, not stored). ``workers`` methods are scored at a time
    (:func:`~assoc_pipeline.core.thread_lanes.thread_lanes`): the same figures, to the bit.
    """
    tasks = tasks or report_tasks(split, seed)
    specs = [*baseline_specs(baselines), *(models or {}).values()]  # kind "model" arrives fitted
    per_query: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def score(spec: MethodSpec) -> list[pd.DataFrame]:
        """Every task of one method (its baselines fitted first); methods share no recommender."""
        per_task = dict(spec.per_task)
        if COMPLETION in per_task and tasks.cold_start is not None and len(tasks.cold_start):
            per_task[COLD_START] = per_task[COMPLETION]
        fitted: set[int] = set()
        out = []
        for task_name, rec in per_task.items():
            if spec.kind != "model" and id(rec) not in fitted:
                rec.fit(split.train_full)
                fitted.add(id(rec))
            task = tasks.get(task_name)
            df = evaluate(rec, task, ks, method=spec.method)
            df.attrs["task_name"] = task_name
            df["n_queries"] = len(task)
            df["kind"] = spec.kind
            df["params"] = spec.params
            df["model_version"] = spec.model_version
            df["mlflow_run_id"] = spec.mlflow_run_id
            validation = spec.validation or (baseline_validation or {}).get(spec.method, {})
            primary = task_name in PRIMARY and task_name in validation
            df["validation_value"] = np.where(
                primary & (df["metric"] == PRIMARY.get(task_name)) & (df["k"] == 10),
                validation.get(task_name, np.nan),
                np.nan,
            )
            out.append(df)
        return out

    scored: dict[int, list[pd.DataFrame]] = {}
    with thread_lanes(workers) as run:
        order = scoring_order(specs)
        for i, dfs in zip(order, run(score, [specs[i] for i in order]), strict=True):
            scored[i] = dfs
            for df in dfs:
                per_query[(specs[i].method, df.attrs["task_name"])] = df.attrs["per_query"]
                if log is not None:
                    at10 = df[(df.k == 10) & df.metric.isin(["recall", "ndcg", "hit_rate"])]
                    shown = ", ".join(
                        f"{m}@10={v:.4f}" for m, v in at10[["metric", "value"]].itertuples(index=False)
                    )
                    log(f"{specs[i].method} / {df.attrs['task_name']}: {shown}")
    frames = [df for i in range(len(specs)) for df in scored[i]]  # the table in the specs' order
    report = pd.concat(frames, ignore_index=True)
    undefined = report["metric"].isin(SUBSET_METRICS) & ~np.isfinite(report["value"].to_numpy(dtype=float))
    report = report[~undefined].reset_index(drop=True)  # e.g. explore recall when nobody explored
    report = _with_intervals(report, per_query, tasks, seed, resamples)
    report["model_version"] = report["model_version"].astype("string")
    report["mlflow_run_id"] = report["mlflow_run_id"].astype("string")
    report = report[REPORT_COLUMNS].reset_index(drop=True)
    report.attrs["per_query"] = per_query  # in memory only: (method, task) -> metric@k -> values
    return report


SCORING_RANK = {"model": 0, "content": 1, "baseline": 2}


def scoring_order(specs: Sequence[MethodSpec]) -> list[int]:
    """Indices of ``specs`` in the order their scoring starts: trained models and the content
    methods (networks, or two recommenders per query) before the counting baselines.

    Why: the lanes take methods in this order, and the longest ones started last leave a lane
    idle at the end (a 100k-item report's hybrid ran alone for 96 s of its 526 s). Started first,
    the short baselines fill the gaps at the end. The report's rows keep the specs' order."""
    return sorted(range(len(specs)), key=lambda i: SCORING_RANK.get(specs[i].kind, 0))


def _with_intervals(
    report: pd.DataFrame,
    per_query: Mapping[tuple[str, str], Mapping[str, np.ndarray]],
    tasks: TestTasks,
    seed: int,
    resamples: int,
) -> pd.DataFrame:
    """Add ``ci_low``/``ci_high`` and, for models, the paired difference to the best baseline."""
    report = report.copy()
    for col in ("ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high"):
        report[col] = np.nan
    report["vs_baseline"] = pd.Series(pd.NA, index=report.index, dtype="string")
    draws = {t: resample_indices(len(tasks.get(t)), resamples, seed) for t in TASKS if _built(tasks, t)}
    for idx, row in report[(report["k"] == 10) & report["metric"].isin(INTERVAL_METRICS)].iterrows():
        values = per_query.get((row["method"], row["task"]), {}).get(f"{row['metric']}@10")
        if values is None or row["task"] not in draws:
            continue
        ci = bootstrap(values, draws[row["task"]])
        report.loc[idx, ["ci_low", "ci_high"]] = ci.low, ci.high
    for task, metric in PRIMARY.items():
        at = report[(report["task"] == task) & (report["metric"] == metric) & (report["k"] == 10)]
        baselines = at[at["kind"] == "baseline"]
        if baselines.empty or task not in draws:
            continue
        best = str(baselines.loc[baselines["value"].idxmax(), "method"])
        best_values = per_query[(best, task)][f"{metric}@10"]
        for idx, row in at[at["kind"] == "model"].iterrows():
            diff = paired_difference(
                per_query[(row["method"], task)][f"{metric}@10"], best_values, draws[task]
            )
            report.loc[idx, ["diff", "diff_ci_low", "diff_ci_high"]] = diff.value, diff.low, diff.high
            report.loc[idx, "vs_baseline"] = best
    return report


def _built(tasks: TestTasks, task: str) -> bool:
    try:
        return len(tasks.get(task)) > 0
    except ValueError:
        return False


def value(report: pd.DataFrame, method: str, task: str, metric: str, k: int) -> float:
    """One figure of the report (NaN when absent)."""
    sel = report[
        (report["method"] == method)
        & (report["task"] == task)
        & (report["metric"] == metric)
        & (report["k"] == k)
    ]["value"]
    return float(sel.iloc[0]) if len(sel) else float("nan")


def parse_metric(spec: str) -> tuple[str, str, int]:
    """``"next_basket/ndcg@10"`` -> ("next_basket", "ndcg", 10), with a clear error otherwise."""
    try:
        task, rest = spec.split("/", 1)
        metric, k = rest.split("@", 1)
        parsed = task, metric, int(k)
    except ValueError as exc:
        raise ValueError(
            f"metric {spec!r}: expected '<task>/<metric>@<k>', e.g. 'next_basket/ndcg@10'"
        ) from exc
    if task not in TASKS:
        raise ValueError(f"metric {spec!r}: unknown task {task!r}, expected one of {TASKS}")
    return parsed


def summary_table(report: pd.DataFrame, metrics=SUMMARY_METRICS) -> pd.DataFrame:
    """Method x key metrics (rows ordered: models first, then baselines by next-basket NDCG@10)."""
    methods = list(dict.fromkeys(report["method"]))
    kinds = report.drop_duplicates("method").set_index("method")["kind"]
    table = pd.DataFrame(
        {f"{t}/{m}@{k}": [value(report, meth, t, m, k) for meth in methods] for t, m, k in metrics},
        index=pd.Index(methods, name="method"),
    )
    table.insert(0, "kind", kinds.reindex(table.index).to_numpy())
    order = table.assign(_m=table["kind"] != "model").sort_values(
        ["_m", f"{NEXT_BASKET}/ndcg@10"], ascending=[True, False], na_position="last"
    )
    return order.drop(columns="_m")


def best_per_task(report: pd.DataFrame) -> dict[str, tuple[str, float]]:
    """Best method per task on its headline metric (next-basket NDCG@10, completion hit@10)."""
    out = {}
    for task, metric in ((NEXT_BASKET, "ndcg"), (COMPLETION, "hit_rate")):
        sel = report[(report["task"] == task) & (report["metric"] == metric) & (report["k"] == 10)]
        if len(sel):
            best = sel.loc[sel["value"].idxmax()]
            out[f"{task}/{metric}@10"] = (str(best["method"]), float(best["value"]))
    return out


def bar_standing(report: pd.DataFrame, models: list[str]) -> dict[str, dict]:
    """Where each trained model stands against the bar (>= 5 % over the named baseline)."""
    out: dict[str, dict] = {}
    for model in models:
        rows = {}
        for task, metric, k, baseline in BAR:
            mv, bv = value(report, model, task, metric, k), value(report, baseline, task, metric, k)
            rel = (mv / bv - 1.0) if bv and not math.isnan(bv) and not math.isnan(mv) else float("nan")
            rows[f"{task}/{metric}@{k}"] = {
                "model": mv,
                "baseline": baseline,
                "baseline_value": bv,
                "relative": rel,
                "passes": bool(rel >= BAR_MARGIN - 1e-9) if not math.isnan(rel) else False,
            }
        out[model] = {"criteria": rows, "passes": all(r["passes"] for r in rows.values())}
    return out


def bar_markdown(standing: dict[str, dict]) -> str:
    if not standing:
        return "No trained model in the report."
    lines = ["| model | criterion | model | baseline | relative | >= +5 %? |", "|---|---|---|---|---|---|"]
    for model, s in standing.items():
        for crit, r in s["criteria"].items():
            lines.append(
                f"| {model} | {crit} vs {r['baseline']} | {r['model']:.4f} | {r['baseline_value']:.4f} | "
                f"{100 * r['relative']:+.1f} % | {'yes' if r['passes'] else 'no'} |"
            )
    verdicts = [
        f"**{m}: {'meets' if s['passes'] else 'does not meet'} the bar**" for m, s in standing.items()
    ]
    return "\n".join(lines) + "\n\n" + "; ".join(verdicts)


def mlflow_metric_name(task: str, metric: str, k: int, method: str) -> str:
    """``test/next_basket/recall_at_10/cf``: grouped by task and metric in the MLflow UI (MLflow
    metric names may not hold ``@``)."""
    return f"test/{task}/{metric}_at_{k}/{method}"


def side_by_side(report: pd.DataFrame, first: str, second: str, metrics=SUMMARY_METRICS) -> pd.DataFrame:
    """Key metrics of two methods on the same queries, and ``second - first`` (e.g. from-scratch vs
    fine-tuned, or the DNN without vs with text features)."""
    rows = []
    for t, m, k in metrics:
        a, b = value(report, first, t, m, k), value(report, second, t, m, k)
        rows.append({"metric": f"{t}/{m}@{k}", first: a, second: b, "delta": b - a})
    return pd.DataFrame(rows)


def side_by_side_markdown(table: pd.DataFrame, cost: dict[str, dict[str, object]]) -> str:
    """The comparison as markdown, with each model's training cost (seconds, best epoch) below."""
    shown = table.copy()
    for col in shown.columns[1:]:
        fmt = "{:+.4f}" if col == "delta" else "{:.4f}"
        shown[col] = [("—" if pd.isna(v) else fmt.format(v)) for v in shown[col]]
    lines = [f"- {name}: {', '.join(f'{k} {v}' for k, v in c.items())}" for name, c in cost.items()]
    return shown.to_markdown(index=False, disable_numparse=True) + "\n\nTraining cost:\n" + "\n".join(lines)


def cold_start_markdown(report: pd.DataFrame, k: int = 10) -> str:
    """The cold-start slice: hit rate / NDCG @k per method, and why the collaborative ones are ~0."""
    sel = report[(report["task"] == COLD_START) & (report["k"] == k)]
    if sel.empty:
        return "No test basket holds a product new in the test period: no cold-start slice."
    table = (
        sel[sel["metric"].isin(["hit_rate", "ndcg"])]
        .pivot_table(index=["method", "kind"], columns="metric", values="value", aggfunc="first")
        .sort_values("hit_rate", ascending=False)
        .reset_index()
    )
    table.columns = [str(c) if c in ("method", "kind") else f"{c}@{k}" for c in table.columns]
    n = int(sel["n_queries"].max())
    return (
        f"{n} test baskets hold a product first sold in the test period; one such product is hidden, "
        "the rest of the basket is the query, and every product (new ones included) is ranked.\n\n"
        + table.to_markdown(index=False, floatfmt=".4f")
        + "\n\nMethods that learn only from purchases (every baseline, CF, the DNN without text) have "
        "never seen these products and score ~0 here by construction; only the description "
        "embeddings (content, hybrid, the DNN with text features) can rank them."
    )
