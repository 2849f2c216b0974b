"""What the server answers from: one loaded model version, its top-K tables and the rules.

Loaded once (at start, and again off the request path on a hot reload); a request then only looks
up a precomputed list (users, single items) or scores one posted basket with the loaded model.
Nothing here rebuilds a model or reads a file per request. The model choice is the one of
``assoc-pipeline recommend`` and the ``recommendations`` asset
(:func:`~assoc_pipeline.services.recommendations.serving_models`), so all three serve the same items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.core.recsys.item_lookup import ItemLookup, UnknownQueryError
from assoc_pipeline.core.recsys.recommendation_tables import recommend_for_baskets, recommend_for_users
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource
from assoc_pipeline.services.recommendations import (
    UNLEARNED_USER_NOTE,
    Served,
    StoredState,
    learned_user_ids,
    serving_models,
    stored_user_id,
)

MAX_K = 50  # the longest list served: users' and items' top-K are precomputed to this depth
MAX_BASKET_ITEMS = 1_000  # a posted basket longer than this is refused (no real basket is)
PRECOMPUTE_BATCH = 1_024  # queries scored at once at load (bounds the dense score matrix)


@dataclass(frozen=True)
class ModelInfo:
    """Which model answered: the registry's name and version, or the baseline standing in."""

    name: str
    version: str | None
    model_type: str
    label: str
    from_champion: bool

    @classmethod
    def of(cls, served: Served) -> ModelInfo:
        name = RECOMMENDER_MODEL if served.from_champion else f"baseline:{served.model_type}"
        return cls(name, served.version, served.model_type, served.label, served.from_champion)


@dataclass(frozen=True)
class Answer:
    """One response: the model, the items with their explanations, notes for the reader."""

    model: ModelInfo
    items: list[dict]
    notes: list[str] = field(default_factory=list)


def _item(
    rank: int, item_id: str, item_name: str, score: float, explanation: str, contributions: str = ""
) -> dict:
    """One served item as the API returns it (no rule behind it: explanation null; a ranker's
    items also carry their top feature contributions, others null)."""
    return {
        "rank": int(rank),
        "item_id": str(item_id),
        "item_name": str(item_name),
        "score": float(score),
        "explanation": explanation or None,
        "contributions": json.loads(contributions) if contributions else None,
    }


ITEM_COLUMNS = ("rank", "item_id", "item_name", "score", "explanation", "contributions")


class TopKTable:
    """Precomputed top-:data:`MAX_K` rows per query, stored as column lists sliced per request."""

    def __init__(self, table: pd.DataFrame) -> None:
        table = table.reset_index(drop=True)
        queries = table["query"].astype(str).to_numpy()
        starts = np.flatnonzero(np.r_[True, queries[1:] != queries[:-1]]) if len(queries) else []
        ends = [*list(starts[1:]), len(queries)]
        self.spans = {str(queries[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}
        self.columns = [table[c].tolist() for c in ITEM_COLUMNS]

    def rows(self, query: str, k: int) -> list[dict]:
        start, end = self.spans.get(query, (0, 0))
        return [_item(*(col[i] for col in self.columns)) for i in range(start, min(end, start + k))]


def _in_batches(n: int, make_table: Callable[[range], pd.DataFrame]) -> pd.DataFrame:
    """``make_table`` over query rows ``0..n`` in batches (one dense batch x items score matrix)."""
    parts = [make_table(range(i, min(i + PRECOMPUTE_BATCH, n))) for i in range(0, n, PRECOMPUTE_BATCH)]
    if not parts:
        return pd.DataFrame(columns=["query", *ITEM_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise InputError(f"k={k}: must be between 1 and {MAX_K}")


class ScoringState:
    """One model version ready to answer: built by :meth:`load`, then read-only (safe to share
    between request threads, replaced whole on a hot reload)."""

    def __init__(
        self, state: StoredState, for_users: Served, for_items: Served, precompute: bool = True
    ) -> None:
        """``precompute=False`` scores each query when asked (same functions, same items): a
        cheap load for the MLflow pyfunc model, which MLflow loads again to check every logging."""
        started = time.perf_counter()
        self.stored = state
        self.for_users, self.for_items = for_users, for_items
        self.users_model, self.items_model = ModelInfo.of(for_users), ModelInfo.of(for_items)
        vocab = state.baskets.vocabulary
        self.lookup = ItemLookup(vocab)
        self.catalogue = [
            {"item_id": str(i), "item_name": str(n)}
            for i, n in zip(vocab["item_id"], vocab["item_name"], strict=True)
        ]
        users, self.history = user_item_counts(state.baskets)
        self.users = users
        self.learned_users = learned_user_ids(for_users)
        self.user_ids = list(map(str, users))
        self.user_rows = {u: r for r, u in enumerate(self.user_ids)}
        self.item_ids = vocab["item_id"].astype(str).tolist()
        self.per_user: TopKTable | None = None
        self.per_item: TopKTable | None = None
        if precompute:
            self.per_user = TopKTable(_in_batches(len(self.user_ids), self._user_table))
            self.per_item = TopKTable(_in_batches(len(self.item_ids), self._item_table))
        self.load_seconds = time.perf_counter() - started

    def _user_table(self, rows: range) -> pd.DataFrame:
        """Top-:data:`MAX_K` next-basket items of the users at ``rows``."""
        return recommend_for_users(
            self.for_users.model, [self.user_ids[r] for r in rows], self.history[rows.start : rows.stop],
            self.stored.baskets.vocabulary, MAX_K, self.stored.rules, self.for_users.label,
        )  # fmt: skip

    def _item_table(self, rows: range) -> pd.DataFrame:
        """Top-:data:`MAX_K` completions of the single-item baskets at ``rows``."""
        return recommend_for_baskets(
            self.for_items.model, [np.array([i]) for i in rows], [self.item_ids[i] for i in rows],
            self.stored.baskets.vocabulary, MAX_K, self.stored.rules, self.for_items.label,
        )  # fmt: skip

    @staticmethod
    def _top(
        table: TopKTable | None, make: Callable[[range], pd.DataFrame], row: int, query: str, k: int
    ) -> list[dict]:
        """``k`` rows for ``query``: from the precomputed table, or scored now by ``make``."""
        return (table if table is not None else TopKTable(make(range(row, row + 1)))).rows(query, k)

    @classmethod
    def load(cls, tracker: MLflowResource, assets_dir: Path) -> ScoringState:
        """The stored baskets and rules, the champion (else the labelled best baseline per task)."""
        return cls.from_stored(tracker, StoredState.load(assets_dir))

    @classmethod
    def from_stored(cls, tracker: MLflowResource, state: StoredState) -> ScoringState:
        """The champion (else the labelled best baselines) on ``state`` (e.g. a replay's history)."""
        served = serving_models(
            tracker, state.baskets, state.report, (NEXT_BASKET, COMPLETION), state.baselines
        )
        return cls(state, served[NEXT_BASKET], served[COMPLETION])

    @property
    def version(self) -> str | None:
        """The registered version served, for whichever task it serves (None while baselines stand in)."""
        return self.users_model.version or self.items_model.version

    def for_user(self, user_id: str, k: int) -> Answer:
        check_k(k)
        user = stored_user_id(user_id, self.user_rows)  # a source id is pseudonymised when keyed
        if user not in self.user_rows:
            sample = ", ".join(map(str, self.users[:5]))
            raise UnknownQueryError(
                f"unknown user {user_id!r}: no purchase history in the baskets "
                f"({len(self.users):,} known users, e.g. {sample})"
            )
        notes = []
        if self.learned_users is not None and user not in self.learned_users:
            notes.append(UNLEARNED_USER_NOTE)
        rows = self._top(self.per_user, self._user_table, self.user_rows[user], user, k)
        return Answer(self.users_model, rows, notes)

    def similar(self, item: str, k: int) -> Answer:
        """What completes a basket holding only ``item`` (id or name): bought with it, per the model."""
        check_k(k)
        idx = int(self.lookup.resolve([item])[0])
        rows = self._top(self.per_item, self._item_table, idx, self.item_ids[idx], k)
        return Answer(self.items_model, rows)

    def for_basket(self, items: Sequence[str], k: int, user_id: str | None = None) -> Answer:
        """Top-``k`` completions of a posted basket, never an item already in it; with the basket's
        customer (``user_id``), a model whose completion is personal also reads their history."""
        check_k(k)
        if len(items) > MAX_BASKET_ITEMS:
            raise InputError(f"basket of {len(items):,} items: at most {MAX_BASKET_ITEMS:,} are accepted")
        if not any(str(t).strip() for t in items):
            raise InputError("empty basket: post at least one item id or name in 'items'")
        idx = self.lookup.resolve(items)
        user = stored_user_id(user_id, self.user_rows) if user_id else None
        table = recommend_for_baskets(
            self.for_items.model, [idx], ["basket"], self.stored.baskets.vocabulary, k,
            self.stored.rules, self.for_items.label, scope="basket", lookup=self.lookup, user_ids=[user],
        )  # fmt: skip
        rows = zip(*(table[c] for c in ITEM_COLUMNS), strict=True)
        return Answer(self.items_model, [_item(*row) for row in rows])
