"""Rules as arrays: each side is a pointer into the frequent itemsets, not a Python tuple.

A rule A => C is stored as (length of A, row of A in the level of that length), the same for C,
and the three counts n(AC), n(A), n(C). Every antecedent and consequent of a rule is a frequent
itemset, so tuples and labels are built once per *itemset* used and then gathered for every rule
by one numpy take on an object array: 334k rules of T10I4D100K cost 27k tuples, not 668k.
Measures come from the counts in one vectorised pass (:func:`.measures.rule_measures`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .itemsets import Levels
from .measures import MEASURES, measure_block, rule_measures

if TYPE_CHECKING:
    import pandas as pd

ItemNames = Sequence[str] | Mapping[int, str] | np.ndarray


def item_namer(item_names: ItemNames) -> Callable[[int], str]:
    """Column index -> readable name (a Mapping may leave items out: they keep their index)."""
    if isinstance(item_names, Mapping):
        lookup = dict(item_names)
        return lambda i: str(lookup.get(i, i))
    return [str(x) for x in np.asarray(item_names, dtype=object).tolist()].__getitem__


@dataclass(frozen=True, eq=False)
class RuleArrays:
    """Rules over the sorted ``levels`` of one :class:`~.itemsets.FrequentItemsets`."""

    levels: Levels
    n_baskets: int
    ant_len: np.ndarray  # int64: |A|
    ant_at: np.ndarray  # int64: row of A in levels[|A|]
    con_len: np.ndarray
    con_at: np.ndarray
    count: np.ndarray  # int64: n(A u C)
    ant_count: np.ndarray  # int64: n(A)
    con_count: np.ndarray  # int64: n(C)

    def __len__(self) -> int:
        return len(self.count)

    def take(self, rows: np.ndarray) -> RuleArrays:
        """The rules at ``rows`` (positions or a boolean mask), in that order."""
        return RuleArrays(
            self.levels,
            self.n_baskets,
            *(a[rows] for a in (self.ant_len, self.ant_at, self.con_len, self.con_at)),
            *(a[rows] for a in (self.count, self.ant_count, self.con_count)),
        )

    def measures(self, which: Sequence[str] = MEASURES) -> dict[str, np.ndarray]:
        return rule_measures(self.n_baskets, self.count, self.ant_count, self.con_count, tuple(which))

    def _groups(self, lens: np.ndarray, at: np.ndarray):
        """Yield (k, rules with a side of length k, the distinct rows of level k they use, and
        for each such rule the position of its row among those): linear, no sort."""
        for k in np.flatnonzero(np.bincount(lens)).tolist():
            mine = lens == k
            rows = at[mine]
            used = np.zeros(len(self.levels[k][1]), dtype=bool)
            used[rows] = True
            yield k, mine, np.flatnonzero(used), (np.cumsum(used) - 1)[rows]

    def _level_tuples(self, k: int, rows: np.ndarray) -> list[tuple[int, ...]]:
        return list(zip(*self.levels[k][0][rows].T.tolist(), strict=True))

    def sides(self) -> tuple[np.ndarray, np.ndarray]:
        """Antecedents and consequents as object arrays of tuples of item indices.

        One tuple per itemset that either side uses (an itemset is often both an antecedent and a
        consequent), numbered across the levels, then gathered for every rule by one take per
        side."""
        sizes = np.zeros(max(self.levels, default=0) + 1, dtype=np.int64)
        for k, (_, counts) in self.levels.items():
            sizes[k] = len(counts)
        start = np.concatenate([[0], np.cumsum(sizes)])  # level k's rows begin at start[k]
        ant = start[self.ant_len] + self.ant_at
        con = start[self.con_len] + self.con_at
        used = np.zeros(int(start[-1]), dtype=bool)
        used[ant] = True
        used[con] = True
        tuples: list[tuple[int, ...]] = []
        for k in sorted(self.levels):
            tuples += self._level_tuples(k, np.flatnonzero(used[start[k] : start[k + 1]]))
        position = np.cumsum(used) - 1
        objects = _objects(tuples)
        return objects[position[ant]], objects[position[con]]

    def _named(
        self, lens: np.ndarray, at: np.ndarray, name: Callable[[int], str], joined: bool
    ) -> np.ndarray:
        """One side's names per rule: tuples of names, or (``joined``) the text ``"a, b"``."""
        out = np.empty(len(lens), dtype=object)
        for k, mine, rows, back in self._groups(lens, at):
            if joined:
                named = [", ".join(map(name, t)) for t in self._level_tuples(k, rows)]
            else:
                named = [tuple(map(name, t)) for t in self._level_tuples(k, rows)]
            out[mine] = _objects(named)[back]
        return out

    def rule_texts(self, item_names: ItemNames) -> list[str]:
        """The ``"{a, b} => {c}"`` text of every rule."""
        name = item_namer(item_names)
        lhs = self._named(self.ant_len, self.ant_at, name, joined=True).tolist()
        rhs = self._named(self.con_len, self.con_at, name, joined=True).tolist()
        return [f"{{{a}}} => {{{c}}}" for a, c in zip(lhs, rhs, strict=True)]

    def labels(self, item_names: ItemNames) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(antecedent names, consequent names) as object arrays of tuples of names, and the
        ``"{a, b} => {c}"`` text of every rule."""
        name = item_namer(item_names)
        lhs = self._named(self.ant_len, self.ant_at, name, joined=False)
        rhs = self._named(self.con_len, self.con_at, name, joined=False)
        return lhs, rhs, self.rule_texts(item_names)

    def to_frame(self, which: Sequence[str] = MEASURES) -> pd.DataFrame:
        """The :func:`.rules.derive_rules` table: antecedent, consequent (tuples), count, the
        measures in ``which``, antecedent_count, consequent_count."""
        import pandas as pd

        lhs, rhs = self.sides()
        which = tuple(which)
        block = measure_block(self.n_baskets, self.count, self.ant_count, self.con_count, which)
        return pd.concat(  # the measures as one float block, not copied (pandas copies by default)
            [
                pd.DataFrame({"antecedent": lhs, "consequent": rhs, "count": self.count}),
                pd.DataFrame(block.T, columns=list(which), copy=False),
                pd.DataFrame({"antecedent_count": self.ant_count, "consequent_count": self.con_count}),
            ],
            axis=1,
        )


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (tuples stay whole: numpy would make them a 2-d array)."""
    return np.fromiter(values, dtype=object, count=len(values))
