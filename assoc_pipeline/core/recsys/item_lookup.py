"""Item ids or names typed by a person, to catalogue indices, with "did you mean" for typos.

Kept apart from the serving tables so that `assoc-pipeline recommend` can resolve a basket
without importing SciPy (numpy only).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    # the basket set's vocabulary, or any mapping of its ``item_id`` and ``item_name`` columns
    Vocabulary = pd.DataFrame | Mapping[str, Sequence[str]]


class UnknownQueryError(InputError):
    """A user or item the served model / catalogue does not know."""


class ItemLookup:
    """Item ids or names (names case-insensitive) to vocabulary indices, the maps built once (a
    server resolves every posted basket with the same lookup)."""

    MAX_SUGGESTED = 3  # unknown tokens that get "did you mean" (difflib costs ms per token)

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.ids = np.asarray(vocabulary["item_id"]).astype(str)
        self.names = names = np.asarray(vocabulary["item_name"]).astype(str)
        self.by_id = {v: i for i, v in enumerate(self.ids)}
        self.by_id.update({v.upper(): i for i, v in enumerate(self.ids) if v.upper() not in self.by_id})
        self.by_name: dict[str, int] = {}
        for i, n in enumerate(names):
            self.by_name.setdefault(" ".join(n.upper().split()), i)

    def index(self, token: str) -> int | None:
        t = token.strip()
        return self.by_id.get(t, self.by_id.get(t.upper(), self.by_name.get(" ".join(t.upper().split()))))

    def _suggest(self, token: str) -> str:
        t = token.strip()
        key = " ".join(t.upper().split())
        close = difflib.get_close_matches(key, list(self.by_name), n=3, cutoff=0.6)
        close += difflib.get_close_matches(t.upper(), [i.upper() for i in self.ids], n=2, cutoff=0.8)
        return f"{t!r}" + (f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else "")

    def resolve(self, tokens: Sequence[str]) -> np.ndarray:
        """Sorted unique indices; the error names each unknown token (the first few with guesses)."""
        out, unknown = [], []
        for raw in tokens:
            if not raw.strip():
                continue
            idx = self.index(raw)
            if idx is None:
                unknown.append(raw)
            else:
                out.append(idx)
        if unknown:
            named = [self._suggest(t) for t in unknown[: self.MAX_SUGGESTED]]
            more = len(unknown) - len(named)
            raise UnknownQueryError(
                f"unknown item(s): {'; '.join(named)}" + (f"; and {more:,} more" if more > 0 else "")
            )
        if not out:
            raise UnknownQueryError("no items given")
        return np.unique(np.asarray(out, dtype=np.int64))


def resolve_items(vocabulary: Vocabulary, tokens: Sequence[str]) -> np.ndarray:
    """Item indices for item ids or names (names case-insensitive); errors name each unknown token."""
    return ItemLookup(vocabulary).resolve(tokens)
