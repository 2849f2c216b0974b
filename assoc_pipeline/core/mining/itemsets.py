"""The result contract shared by every backend: frequent itemsets in integer counts.

Backends hand over *levels*: ``{k: (items, counts)}`` with ``items`` an ``(m, k)`` int array of
column indices (rows in any order, items in a row in any order: :func:`normalise_levels` sorts
both and makes them int64) and ``counts`` the absolute support. Everything that
compares or derives from itemsets works on counts, never on float supports, so that thresholds
behave exactly like arules' (inclusive, ``ceil(min_support * n)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

import numpy as np

from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:  # pandas is imported where a table is built: mining itself never needs it
    import pandas as pd

Levels = dict[int, tuple[np.ndarray, np.ndarray]]
Target = Literal["all", "closed", "maximal"]
TARGETS: tuple[str, ...] = ("all", "closed", "maximal")


def min_count_for(min_support: float | int, n_baskets: int) -> int:
    """Absolute count threshold: an int is a count, a float a fraction of ``n_baskets``.

    The fraction is read as the decimal the caller wrote (``0.001`` is exactly 1/1000), so
    ``0.001 * 9835 = 9.835`` gives 10, and ``count / n`` round-trips to ``count`` even when the
    float product lands a hair above an integer (441/88162*88162 = 441.00000000000006).
    Out-of-range values raise :class:`InputError` naming ``min_support``.
    """
    if isinstance(min_support, (bool, np.bool_)):
        raise InputError("min_support must be a fraction in (0, 1] or a count >= 1, not a bool")
    if isinstance(min_support, (int, np.integer)):
        if min_support < 1:
            raise InputError(f"min_support as a count must be >= 1, got {min_support}")
        return int(min_support)
    frac = float(min_support)
    if not 0.0 < frac <= 1.0 or math.isnan(frac):
        raise InputError(f"min_support as a fraction must be in (0, 1], got {min_support}")
    exact = Fraction(repr(frac)) * n_baskets
    nearest = round(exact)
    if abs(exact - nearest) <= Fraction(1, 10**9) * max(1, nearest):
        return max(1, int(nearest))
    return max(1, math.ceil(exact))


def support_setting(value: float, n_baskets: int | None = None) -> float | int:
    """A user's ``min_support`` (a fraction below 1, else a whole count), checked against the data.

    Stricter than :func:`min_count_for` because it reads what a person typed: a count must be a
    whole number and at most ``n_baskets`` (a larger one can only give nothing).
    """
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"min_support must be a fraction in (0, 1) or a count >= 1, got {value}")
    if v < 1:
        return v
    if v != int(v):
        raise InputError(f"min_support {value} is >= 1, so it is a count of baskets: it must be whole")
    if n_baskets is not None and v > n_baskets:
        raise InputError(f"min_support count {int(v):,} is more than the {n_baskets:,} baskets of the input")
    return int(v)


def empty_levels() -> Levels:
    return {}


def normalise_levels(levels: Levels, min_len: int = 1, max_len: int | None = None) -> Levels:
    """Rows sorted within and across (lexicographically), lengths in [min_len, max_len], no empties."""
    out: Levels = {}
    for k in sorted(levels):
        items, counts = levels[k]
        if k < min_len or (max_len is not None and k > max_len) or len(counts) == 0:
            continue
        items = np.sort(np.asarray(items, dtype=np.int64).reshape(-1, k), axis=1)
        counts = np.asarray(counts, dtype=np.int64)
        order = np.lexsort(items.T[::-1])
        out[k] = (np.ascontiguousarray(items[order]), counts[order])
    return out


def levels_from_pairs(pairs: list[tuple[tuple[int, ...], int]]) -> Levels:
    """Levels from ``[(itemset, count), ...]`` as produced by the pure-Python style backends."""
    by_len: dict[int, tuple[list[tuple[int, ...]], list[int]]] = {}
    for items, count in pairs:
        key = tuple(sorted(int(i) for i in items))
        bucket = by_len.setdefault(len(key), ([], []))
        bucket[0].append(key)
        bucket[1].append(int(count))
    return {
        k: (np.array(v[0], dtype=np.int64).reshape(-1, k), np.array(v[1], dtype=np.int64))
        for k, v in by_len.items()
        if k > 0
    }


@dataclass(frozen=True, eq=False)
class FrequentItemsets:
    """Frequent itemsets of one basket matrix.

    ``table`` has columns ``items`` (tuple of sorted int column indices), ``count`` (int),
    ``support`` (float = count / n_baskets) and ``length`` (int), ordered by length then items.
    A result built from a kernel's levels keeps them as arrays: the sorted levels and the table
    (one Python tuple per itemset) are built on first use, so mining pays for neither.

    ``border`` (optional, same columns) is the negative border with exact counts — the itemsets
    that are not frequent but all of whose subsets are — restricted to those with a count > 0
    (the others are implied: every itemset whose subsets are all frequent and that is in neither
    table has count 0). It is what :func:`update_itemsets` needs to add baskets without re-mining.
    ``provenance`` is a small JSON-able dict the producer may attach (kept by ``core/tables.py``).
    """

    _table: pd.DataFrame | None
    n_baskets: int
    min_count: int
    target: str = "all"
    min_len: int = 1
    max_len: int | None = None
    item_counts: np.ndarray | None = field(default=None, repr=False)
    _levels: Levels | None = field(default=None, repr=False)
    border: pd.DataFrame | None = field(default=None, repr=False)
    provenance: dict | None = field(default=None, repr=False)
    _raw_levels: Levels | None = field(default=None, repr=False)  # as the kernel wrote them: unsorted

    @classmethod
    def from_levels(
        cls,
        levels: Levels,
        n_baskets: int,
        min_count: int,
        *,
        target: str = "all",
        min_len: int = 1,
        max_len: int | None = None,
        item_counts: np.ndarray | None = None,
    ) -> FrequentItemsets:
        """From ``{k: (items, counts)}``; rows need not be sorted (they are, lazily, and their
        items made int64 then: a kernel's int32 columns are kept until that copy is made anyway)."""
        raw = {
            int(k): (_integers(i).reshape(-1, int(k)), np.asarray(c, dtype=np.int64))
            for k, (i, c) in levels.items()
            if int(k) >= min_len and (max_len is None or int(k) <= max_len) and len(c)
        }
        return cls(None, n_baskets, min_count, target, min_len, max_len, item_counts, None, _raw_levels=raw)

    @property
    def table(self) -> pd.DataFrame:
        if self._table is None:
            object.__setattr__(self, "_table", levels_table(self.levels(), self.n_baskets))
        assert self._table is not None
        return self._table

    def with_border(
        self, border: Levels | pd.DataFrame | None, provenance: dict | None = None
    ) -> FrequentItemsets:
        """A copy carrying ``border`` (levels or a table; zero counts dropped) and ``provenance``."""
        if border is not None and not hasattr(border, "columns"):  # levels, not a table
            border = levels_table(
                {k: (i[c > 0], c[c > 0]) for k, (i, c) in normalise_levels(border).items()}, self.n_baskets
            )
        return replace(
            self, border=border, provenance=provenance if provenance is not None else self.provenance
        )

    def border_levels(self) -> Levels:
        """The stored negative border (count > 0 only) as levels; empty when there is none."""
        if self.border is None or len(self.border) == 0:
            return {}
        return table_levels(self.border)

    def __len__(self) -> int:
        if self._levels is None and self._raw_levels is not None:
            return sum(len(c) for _, c in self._raw_levels.values())
        if self._table is not None:
            return len(self._table)
        return sum(len(c) for _, c in self.levels().values())

    def levels(self) -> Levels:
        """``{k: (items (m, k) int64, counts int64)}``, lexicographically sorted (cached)."""
        if self._levels is None:
            if self._raw_levels is not None:
                lv = normalise_levels(self._raw_levels)
                object.__setattr__(self, "_raw_levels", None)
            else:
                lv = table_levels(self.table)
            object.__setattr__(self, "_levels", lv)
        assert self._levels is not None
        return self._levels

    def counts_by_length(self) -> dict[int, int]:
        return {k: len(c) for k, (_, c) in self.levels().items()}

    def digest(self) -> str:
        """Order-independent fingerprint of (itemset, count) pairs, to compare backends."""
        import hashlib

        h = hashlib.sha256()
        for k, (items, counts) in self.levels().items():
            h.update(np.int64(k).tobytes())
            h.update(np.ascontiguousarray(items, dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(counts, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


def _integers(items: np.ndarray) -> np.ndarray:
    """``items`` as they are when they hold integers, else as int64."""
    items = np.asarray(items)
    return items if items.dtype.kind in "iu" else items.astype(np.int64)


def table_levels(table: pd.DataFrame) -> Levels:
    """Levels of an itemset table (columns ``items``, ``count``, ``length``)."""
    lv: Levels = {}
    for k, grp in table.groupby("length", sort=True):
        items = np.array(grp["items"].tolist(), dtype=np.int64).reshape(-1, int(k))
        lv[int(k)] = (items, grp["count"].to_numpy(dtype=np.int64))
    return normalise_levels(lv)


def levels_table(levels: Levels, n_baskets: int) -> pd.DataFrame:
    """The itemset table (``items``, ``count``, ``support``, ``length``) of normalised levels."""
    import pandas as pd

    parts = []
    for k, (items, counts) in levels.items():
        parts.append(
            pd.DataFrame(
                {
                    # zip over columns builds the tuples in C: 3-5x faster than map(tuple, rows)
                    # on the shipped data's 1.27M-itemset negative border
                    "items": pd.Series(list(zip(*items.T.tolist(), strict=True)), dtype=object),
                    "count": counts,
                    "length": np.full(len(counts), k, dtype=np.int64),
                }
            )
        )
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame(
            {
                "items": pd.Series([], dtype=object),
                "count": np.zeros(0, np.int64),
                "length": np.zeros(0, np.int64),
            }
        )
    table.insert(2, "support", table["count"].to_numpy() / max(n_baskets, 1))
    return table
