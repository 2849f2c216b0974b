"""The promotion gate under its DEFAULT settings, end to end: a model that truly wins is promoted,
one that does not is refused — real Dagster runs, real GX contracts, a real MLflow registry.

Planted world: every basket is a random pair of "pair items" (a, b) plus the item ``f(a, b)`` of a
fixed random table, plus the item ``g(a', b')`` of another table applied to the user's previous
pair. Both tables are pair interactions: any single item says little about ``f`` or ``g``, so the
linear item-item baselines (EASE, item-kNN, pair rules) and the history-count ones (top-frequency,
TIFU-KNN) are weak, while a model that counts pair -> item co-occurrence (registered here, one
line, as any model would be) learns both tables. The test set is big enough (>= 200 next-basket
users, >= 500 completion queries) for the gate to give a verdict.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.user_history import lookup, user_codes
from assoc_pipeline.core.recsys.model_types import MODEL_TYPES, ModelType
from assoc_pipeline.core.recsys.models.trained import TrainedRecommender
from assoc_pipeline.core.recsys.models.training import LoopParams, StepContext, train_loop

pytestmark = pytest.mark.slow
N_PAIR_ITEMS, N_TARGETS = 16, 16
N_ITEMS = N_PAIR_ITEMS + N_TARGETS
MONTHS = pd.date_range("2011-01-01", periods=8, freq="MS")


def planted_events(n_users: int = 700, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.integers(N_PAIR_ITEMS, N_ITEMS, size=(N_PAIR_ITEMS, N_PAIR_ITEMS))
    g = rng.integers(N_PAIR_ITEMS, N_ITEMS, size=(N_PAIR_ITEMS, N_PAIR_ITEMS))
    rows = []
    for u in range(n_users):
        previous = None
        for m, month in enumerate(MONTHS):
            a, b = rng.choice(N_PAIR_ITEMS, 2, replace=False)
            items = {int(a), int(b), int(f[a, b])}
            if previous is not None:
                items.add(int(g[previous]))
            previous = (a, b)
            when = month + pd.Timedelta(days=int(rng.integers(0, 27)), hours=int(rng.integers(8, 18)))
            rows += [
                (when, f"B{u:04d}{m}", f"C{u:04d}", f"{10000 + i}", f"PLANTED ITEM {i:02d}") for i in items
            ]
    ev = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id", "item_name"])
    ev["quantity"], ev["unit_price"], ev["country"] = 1, 1.0, "GB"
    return ev.sort_values("event_time", kind="stable")


@dataclass
class PairParams(LoopParams):
    """Counting needs one pass; the loop still runs so the run has a history like every model's."""

    epochs: int = 1
    patience: int = 0
    use_pairs: bool = True  # False: a model that learns nothing (the refusal test)
    use_following: bool = True  # False: it learns completion only (the per-task test)


class PairCounts(nn.Module):
    """pair (i, j) -> item counts, within a basket (completion) and into the next basket."""

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.within = nn.Parameter(torch.zeros(n_items * n_items, n_items), requires_grad=False)
        self.following = nn.Parameter(torch.zeros(n_items * n_items, n_items), requires_grad=False)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.within[pairs].sum(0)


def _pairs(items: Sequence[int], n: int) -> list[int]:
    return [i * n + j for i, j in itertools.permutations(sorted(set(map(int, items))), 2)]


class PairRecommender(TrainedRecommender):
    """A second-order association model: counts which item follows each item pair."""

    name = "pair"
    kind = "test_pair_counts"
    params_cls = PairParams
    reads_history = True

    def fit(self, train: BasketSet, validation: BasketSet | None = None, *, on_epoch=None, init_from=None):
        device = self._start_fit(train)
        n = self.n_items
        self.module = PairCounts(n).to(device)
        m = train.matrix.tocsr()
        baskets = [m.indices[m.indptr[r] : m.indptr[r + 1]] for r in range(m.shape[0])]
        _, codes = user_codes(train)
        order = np.lexsort((pd.to_datetime(train.baskets["basket_time"]).to_numpy(), codes))

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            within = torch.zeros_like(self.module.within)
            following = torch.zeros_like(self.module.following)
            if not self.params.use_pairs:
                return {"loss": 0.0}
            for items in baskets:
                for p in _pairs(items, n):
                    within[p, torch.as_tensor(items, dtype=torch.long)] += 1.0
            for r, s in itertools.pairwise(order):
                if codes[r] == codes[s] and codes[r] >= 0 and self.params.use_following:
                    for p in _pairs(baskets[r], n):
                        following[p, torch.as_tensor(baskets[s], dtype=torch.long)] += 1.0
            self.module.within.copy_(within)
            self.module.following.copy_(following)
            return {"loss": 0.0}

        self.result = train_loop(self.module, train_epoch, self.params, on_epoch=on_epoch, device=device)
        return self.with_history(train)

    def with_history(self, baskets: BasketSet):
        users, codes = user_codes(baskets)
        times = pd.to_datetime(baskets.baskets["basket_time"]).to_numpy()
        m = baskets.matrix.tocsr()
        last: dict[int, np.ndarray] = {}
        for r in np.argsort(times, kind="stable"):
            if codes[r] >= 0:
                last[int(codes[r])] = m.indices[m.indptr[r] : m.indptr[r + 1]]
        self.user_index, self.last = users, last
        return self

    def _score(self, table: torch.Tensor, queries: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(queries), self.n_items), dtype=np.float32)
        for q, items in enumerate(queries):
            pairs = _pairs(items, self.n_items)
            if pairs:
                out[q] = table[torch.as_tensor(pairs)].sum(0).cpu().numpy()
        return out

    def score_next_basket(self, user_ids: Sequence[str]) -> np.ndarray:
        rows = lookup(self.user_index, user_ids)
        return self._score(self.module.following, [self.last.get(int(r), []) for r in rows])

    def score_completion(self, partial_baskets: Sequence[np.ndarray]) -> np.ndarray:
        return self._score(self.module.within, partial_baskets)

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.user_index, self.last = pd.Index([], dtype=object), {}

    def _build_module(self, ckpt: dict[str, Any]) -> nn.Module:
        return PairCounts(self.n_items)

    def input_example(self) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.long)


PAIR = ModelType(
    "pair", PairRecommender, PairParams, "Counts which item follows each item pair (test model)."
)


@pytest.fixture(scope="module")
def planted_pipeline(tmp_path_factory: pytest.TempPathFactory, text_cache: Path):
    import dagster as dg

    from assoc_pipeline.definitions import all_checks, assets_for
    from assoc_pipeline.settings import get_settings
    from assoc_pipeline_tests.conftest import sample_resources

    root = tmp_path_factory.mktemp("planted_gate")
    source = root / "events.csv"
    planted_events().to_csv(source, index=False)
    settings = dataclasses.replace(
        get_settings(), data_dir=root / "data", source_path=source, source_format="events"
    )
    resources = sample_resources(settings, text_cache)
    instance = dg.DagsterInstance.ephemeral()
    mp = pytest.MonkeyPatch()
    mp.setitem(MODEL_TYPES, PAIR.name, PAIR)  # the one registry line
    graph = [*assets_for([PAIR]), *all_checks]

    def materialize(selection, partition=None, config=None):
        return dg.materialize(
            graph, selection=selection, partition_key=partition, instance=instance, resources=resources,
            run_config=config or {},
        )  # fmt: skip

    for month in MONTHS:
        materialize(["raw_events", "clean_events"], month.strftime("%Y-%m-%d"))
    materialize(["baskets", "split", "item_embeddings", "baseline_tuning", "hybrid_model", "pair_model"])
    no_warm = {"ops": {"finetuned_model": {"config": {"start_from": "none"}}}}
    materialize(["finetuned_model", "evaluation_report"], config=no_warm)
    yield materialize, resources["mlflow"], settings
    mp.undo()


def test_a_model_that_truly_wins_is_promoted_under_default_settings(planted_pipeline):
    materialize, tracker, _ = planted_pipeline
    result = materialize(["champion"])
    verdict = result.output_for_node("champion")
    assert verdict["promoted"] is True, verdict["reasons"]
    assert verdict["candidate"] == "pair"
    assert verdict["margin"] == 0.05 and verdict["require_baselines"] is True  # the defaults
    tasks = {e["task"]: e for e in verdict["evidence"]}
    assert set(tasks) == {"next_basket", "completion"}
    for e in tasks.values():
        assert e["candidate_value"] >= 1.05 * e["baseline_value"] and e["diff_low"] > 0
        assert e["n_queries"] >= e["min_queries"]
    assert all(c["passed"] for c in verdict["checks"].values())
    assert tracker.alias_version().version == int(verdict["candidate_version"])


def test_after_a_promotion_recommend_answers_from_the_champions_table(planted_pipeline, capfd):
    """With the champion's `recommendations` table written, `recommend` answers a user or one item
    from it, the full path's text to the character, without MLflow, torch or Dagster (the command's
    own process could not even load this test's model type); a table another version wrote is
    not used."""
    import json
    import os
    import subprocess
    import sys

    from assoc_pipeline.services.recommendations import recommend_command
    from assoc_pipeline.services.stored_recommendations import stored_answer

    materialize, tracker, settings = planted_pipeline
    if tracker.alias_version() is None:  # run alone
        materialize(["champion"])
    version = str(tracker.alias_version().version)
    table = materialize(["frequent_itemsets", "association_rules", "recommendations"]).output_for_node(
        "recommendations"
    )
    assets = settings.data_dir / "assets"
    gate = json.loads((assets / "champion.json").read_text())
    assert (gate["champion_version"], gate["champion_reads_history"]) == (version, True)
    users = table.loc[table["scope"] == "user", "query"].unique()[:4]
    items = table.loc[table["scope"] == "item", "query"].unique()[:4]
    answered = []
    for query in [{"user": str(u)} for u in users] + [{"items": str(i)} for i in items]:
        for k in (10, 5, 3):
            fast = stored_answer(assets, query.get("user"), query.get("items"), k, champion=version)
            if fast is None:  # only a tie across the k-th place may send a query to the full path
                continue
            full = recommend_command(lambda: tracker, tracker.tracking_uri, assets, k=k, **query)
            assert fast == full, query
            assert f"champion: pair (version {version})" in fast.splitlines()[0]
            answered.append((query, k))
    assert len(answered) >= 8
    assert "Downloading artifacts" not in capfd.readouterr().err  # MLflow's bar is off
    user = str(users[0])
    assert stored_answer(assets, user, None, 3, champion=str(int(version) + 1)) is None  # the alias moved
    assert stored_answer(assets, user, None, 3, champion=None) is None  # no champion: not its rows

    query, k = next((q, k) for q, k in answered if "user" in q)
    env = {**os.environ, "ASSOC_DATA_DIR": str(settings.data_dir), "ASSOC_SOURCE": str(settings.source_path)}
    code = (
        "import sys; from assoc_pipeline.cli import main; "
        "main(['recommend', '--user', sys.argv[1], '--k', sys.argv[2]]); "
        "print('heavy:', sorted(m for m in ('torch', 'dagster', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, query["user"], str(k)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = stored_answer(assets, query["user"], None, k, champion=version)
    assert done.stdout == f"{expected}\nheavy: []\n"


def retrain_and_gate(materialize, **pair_config: bool) -> dict:
    """The pair model retrained with ``pair_config``, the report rebuilt, the gate's verdict."""
    config = {
        "ops": {
            "pair_model": {"config": pair_config},
            "finetuned_model": {"config": {"start_from": "none"}},
        }
    }
    materialize(["pair_model", "finetuned_model", "evaluation_report"], config=config)
    return materialize(["champion"]).output_for_node("champion")


def test_the_same_gate_refuses_a_model_that_does_not_win(planted_pipeline):
    """The pair model retrained with its pairs switched off (it then learns nothing) is refused
    under the same defaults, and the reasons say why per task; the champion stays."""
    materialize, tracker, _ = planted_pipeline
    before = tracker.alias_version().version
    verdict = retrain_and_gate(materialize, use_pairs=False)
    assert verdict["promoted"] is False
    assert any("better than the best baseline" in r for r in verdict["reasons"])
    assert any("includes zero" in r or "lies below zero" in r for r in verdict["reasons"])
    assert any("does not beat the current champion" in r for r in verdict["reasons"])
    assert tracker.alias_version().version == before


def test_a_model_that_wins_one_task_serves_that_task_only(planted_pipeline):
    """The pair model without its next-basket table wins completion only. While a champion serves
    both tasks the gate refuses it (it would hand next basket back to a baseline); with no champion
    it is promoted for completion, and every door serves it there and the best baseline, labelled,
    for next basket: the stored answers equal the full path's, notes included."""
    from assoc_pipeline.resources.registry_alias import CHAMPION_ALIAS, RECOMMENDER_MODEL
    from assoc_pipeline.services.recommendations import recommend_command
    from assoc_pipeline.services.stored_recommendations import stored_answer

    materialize, tracker, settings = planted_pipeline
    if tracker.alias_version() is None:  # run alone: a champion that serves both tasks first
        materialize(["champion"])
    verdict = retrain_and_gate(materialize, use_following=False)
    assert verdict["promoted"] is False
    assert any("would hand that task back to a baseline" in r for r in verdict["reasons"])
    assert verdict["champion_tasks"] == ["next_basket", "completion"]  # the old champion stays

    tracker.client().delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    verdict = materialize(["champion"]).output_for_node("champion")
    assert verdict["promoted"] is True, verdict["reasons"]
    assert verdict["tasks"] == verdict["champion_tasks"] == ["completion"]
    assert any(n.startswith("next_basket stays with the best baseline") for n in verdict["notes"])
    assert verdict["compared_with_champion_on"] == "completion/hit_rate@10"
    version = verdict["champion_version"]
    assert tracker.alias_version().tags["promotion/tasks"] == "completion"

    table = materialize(["frequent_itemsets", "association_rules", "recommendations"]).output_for_node(
        "recommendations"
    )
    sources = table.groupby("scope")["source"].unique()
    assert list(sources["item"]) == [f"champion: pair (version {version})"]
    (user_source,) = sources["user"]
    assert user_source.startswith("baseline ")
    assert user_source.endswith(f"(the champion, version {version}, serves completion only)")
    assets = settings.data_dir / "assets"
    answers = {}
    for scope, flag in (("user", "user"), ("item", "items")):
        for query, k in itertools.product(table.loc[table["scope"] == scope, "query"].unique()[:8], (3, 5)):
            fast = stored_answer(
                assets, **{"user": None, "items": None, flag: str(query)}, k=k, champion=version
            )
            if fast is None:  # a tie across the k-th place: the full path decides
                continue
            full = recommend_command(lambda: tracker, tracker.tracking_uri, assets, k=k, **{flag: str(query)})
            assert fast == full, (query, k)
            answers[scope] = fast
    assert "the best baseline of the evaluation report serves next_basket" in answers["user"]
    # one item is no pair: the pair model scores it all zeros, a tie the table leaves to the full path
    item = str(table.loc[table["scope"] == "item", "query"].iloc[0])
    full = recommend_command(lambda: tracker, tracker.tracking_uri, assets, k=3, items=item)
    assert "note:" not in full and f"champion: pair (version {version})" in full.splitlines()[0]
    user = str(table.loc[table["scope"] == "user", "query"].iloc[0])
    assert stored_answer(assets, user, None, 3, champion=None) is None  # rows labelled beside a champion

    # a candidate that holds both tasks meets this champion where it serves: completion, where the
    # full pair model is no better (the same within-basket counts), although it wins next basket
    verdict = retrain_and_gate(materialize, use_following=True)
    assert verdict["compared_with_champion_on"] == "completion/hit_rate@10"
    assert verdict["promoted"] is False and any(
        "does not beat the current champion" in r for r in verdict["reasons"]
    )
    assert str(tracker.alias_version().version) == version
