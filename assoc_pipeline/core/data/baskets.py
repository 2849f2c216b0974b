"""Baskets: the shared currency of mining, models and evaluation.

A :class:`BasketSet` is a sparse basket x item incidence matrix plus two small tables:

* ``baskets`` — one row per basket, in matrix row order: ``basket_id`` (str), ``user_id``
  (nullable str), ``basket_time`` (datetime64), ``country`` (str), ``n_items`` (int);
* ``vocabulary`` — one row per item, in matrix column order: ``item_idx`` (int, 0..n-1),
  ``item_id`` (str), ``item_name`` (str), ``n_baskets`` (int).

It is persisted as two Parquet files (the item lists as a ``list<int32>`` column, i.e. CSR
rows), never as pickled frames of frozensets, so any tool that reads Parquet can read it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

BASKETS_FILE = "baskets.parquet"
VOCABULARY_FILE = "vocabulary.parquet"


@dataclass(frozen=True)
class BasketSet:
    """Baskets as a CSR matrix (rows = baskets, columns = items) with row and column tables."""

    matrix: sp.csr_matrix
    baskets: pd.DataFrame
    vocabulary: pd.DataFrame

    def __post_init__(self) -> None:
        n_rows, n_cols = self.matrix.shape
        if n_rows != len(self.baskets):
            raise ValueError(f"BasketSet: matrix has {n_rows} rows but baskets table has {len(self.baskets)}")
        if n_cols != len(self.vocabulary):
            raise ValueError(
                f"BasketSet: matrix has {n_cols} columns but vocabulary has {len(self.vocabulary)}"
            )

    @property
    def n_baskets(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    def item_lists(self) -> list[np.ndarray]:
        """Item indices of every basket (sorted), as views into the CSR index array."""
        m = self.matrix
        return [m.indices[m.indptr[i] : m.indptr[i + 1]] for i in range(m.shape[0])]

    def item_names(self) -> np.ndarray:
        return self.vocabulary["item_name"].to_numpy()

    def subset(self, rows: np.ndarray) -> BasketSet:
        """The baskets at ``rows`` (positions or a boolean mask), same vocabulary."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return BasketSet(self.matrix[rows], self.baskets.iloc[rows].reset_index(drop=True), self.vocabulary)


def basket_set_from_events(events: pd.DataFrame) -> BasketSet:
    """Group canonical clean events into baskets (distinct items per basket_id).

    Item indices follow the sorted ``item_id`` so that they are stable across runs; baskets are
    ordered by time, then id, so that temporal splits are contiguous row ranges.
    """
    if events.empty:
        raise ValueError("baskets: no clean events to build baskets from")
    item_codes, item_ids = pd.factorize(events["item_id"], sort=True)
    ev = pd.DataFrame(
        {
            "basket_id": events["basket_id"].to_numpy(),
            "item_idx": item_codes,
            "event_time": events["event_time"].to_numpy(),
        }
    )
    head = (
        events.groupby("basket_id", sort=False)
        .agg(
            user_id=("user_id", "first"),
            basket_time=("event_time", "min"),
            country=("country", "first"),
        )
        .reset_index()
        .sort_values(["basket_time", "basket_id"], kind="stable")
        .reset_index(drop=True)
    )
    row_of = pd.Series(np.arange(len(head)), index=head["basket_id"])
    pairs = ev[["basket_id", "item_idx"]].drop_duplicates()
    rows = row_of.loc[pairs["basket_id"].to_numpy()].to_numpy()
    cols = pairs["item_idx"].to_numpy()
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(head), len(item_ids)), dtype=bool
    )
    matrix.sort_indices()
    head["n_items"] = np.diff(matrix.indptr).astype(np.int64)
    head["user_id"] = head["user_id"].astype("str")
    names = (
        events.groupby("item_id")["item_name"]
        .agg(lambda s: s.mode().iat[0] if s.notna().any() else None)
        .reindex(item_ids)
    )
    return BasketSet(matrix, head, _vocabulary(item_ids, names, matrix))


def _vocabulary(item_ids: Any, names: pd.Series, matrix: sp.csr_matrix) -> pd.DataFrame:
    """The column table: position, id, most frequent name (the id where none), baskets per item."""
    return pd.DataFrame(
        {
            "item_idx": np.arange(len(item_ids), dtype=np.int64),
            "item_id": pd.Index(item_ids).astype(str),
            "item_name": names.fillna(pd.Series(item_ids, index=item_ids)).astype(str).to_numpy(),
            "n_baskets": np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64),
        }
    )


def basket_set_from_lists(
    item_lists: list[list[int]] | list[np.ndarray], item_labels: list[str]
) -> BasketSet:
    """A BasketSet from plain item-index lists (one-basket-per-line files, tests)."""
    indptr = np.zeros(len(item_lists) + 1, dtype=np.int64)
    uniq = [np.unique(np.asarray(b, dtype=np.int64)) for b in item_lists]
    indptr[1:] = np.cumsum([len(b) for b in uniq])
    indices = np.concatenate(uniq) if uniq else np.zeros(0, dtype=np.int64)
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(item_lists), len(item_labels))
    )
    baskets = pd.DataFrame(
        {
            "basket_id": [str(i) for i in range(len(item_lists))],
            "user_id": pd.Series([None] * len(item_lists), dtype="str"),
            "basket_time": pd.NaT,
            "country": "",
            "n_items": np.diff(indptr),
        }
    )
    baskets["basket_time"] = pd.to_datetime(baskets["basket_time"])
    vocabulary = pd.DataFrame(
        {
            "item_idx": np.arange(len(item_labels), dtype=np.int64),
            "item_id": [str(x) for x in item_labels],
            "item_name": [str(x) for x in item_labels],
            "n_baskets": np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64),
        }
    )
    return BasketSet(matrix, baskets, vocabulary)


def save_basket_set(bs: BasketSet, directory: str | os.PathLike) -> None:
    """Write both tables atomically: into a temp dir beside ``directory``, then rename over it."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        m = bs.matrix
        items = pa.ListArray.from_arrays(
            pa.array(m.indptr.astype(np.int32)), pa.array(m.indices.astype(np.int32))
        )
        table = pa.Table.from_pandas(bs.baskets, preserve_index=False).append_column("items", items)
        pq.write_table(table, tmp / BASKETS_FILE)
        vocab = bs.vocabulary.copy()
        vocab.attrs = {}
        pq.write_table(pa.Table.from_pandas(vocab, preserve_index=False), tmp / VOCABULARY_FILE)
        _replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_basket_set(directory: str | os.PathLike) -> BasketSet:
    directory = Path(directory)
    if not (directory / BASKETS_FILE).exists():
        raise FileNotFoundError(f"baskets: no basket set at {directory} (expected {BASKETS_FILE})")
    table = pq.read_table(directory / BASKETS_FILE)
    items = table.column("items").combine_chunks()
    baskets = table.drop(["items"]).to_pandas()
    vocabulary = pq.read_table(directory / VOCABULARY_FILE).to_pandas()
    indptr = items.offsets.to_numpy().astype(np.int64)
    indices = items.values.to_numpy().astype(np.int32)
    indptr = indptr - indptr[0]
    matrix = sp.csr_matrix(
        (np.ones(len(indices), dtype=bool), indices, indptr), shape=(len(baskets), len(vocabulary))
    )
    return BasketSet(matrix, baskets, vocabulary)


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` in for ``target`` with renames only, so readers see old or new, never half."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def fingerprint(bs: BasketSet) -> str:
    """Content hash of a basket set (matrix + item ids): the data version models are trained on."""
    import hashlib

    h = hashlib.sha256()
    m = bs.matrix
    for arr in (np.asarray(m.shape, dtype=np.int64), m.indptr.astype(np.int64), m.indices.astype(np.int64)):
        h.update(arr.tobytes())
    h.update("\x1f".join(bs.vocabulary["item_id"].astype(str)).encode())
    return h.hexdigest()[:16]


BASKET_EVENT_COLUMNS = ["event_time", "basket_id", "user_id", "item_id", "item_name", "country"]


def _basket_events(part: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """The columns baskets need from one partition: a frame as is, a Parquet file read column-pruned."""
    if isinstance(part, pd.DataFrame):
        return part[BASKET_EVENT_COLUMNS]
    return pq.read_table(part, columns=BASKET_EVENT_COLUMNS).to_pandas()


def _global_codes(index: pd.Index | None, uniques: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """Codes of ``uniques`` in a growing vocabulary ``index`` (new values appended in order)."""
    if index is None:
        return np.arange(len(uniques), dtype=np.int64), pd.Index(uniques)
    codes = index.get_indexer(uniques).astype(np.int64)
    new = codes < 0
    codes[new] = len(index) + np.arange(int(new.sum()), dtype=np.int64)
    return codes, index.append(pd.Index(uniques[new])) if new.any() else index


def basket_set_from_partitions(
    parts: Iterable[pd.DataFrame | str | os.PathLike],
    progress: Callable[[int, int], None] | None = None,
) -> BasketSet:
    """:func:`basket_set_from_events` over partitions, one at a time, without concatenating them.

    ``parts`` are canonical clean-event tables or Parquet files of them (only the six columns
    baskets need are read). Each is factorised against growing basket and item vocabularies and
    reduced to (basket, item) code pairs, a per-basket head (first user, earliest time, first
    country) and per-(item, name) counts; one CSR matrix is built at the end. The result equals
    ``basket_set_from_events(pd.concat(parts))``, baskets spread over several partitions included:
    same basket order (time, then id), same vocabulary order (sorted ``item_id``), same most common
    item names (ties to the first in sort order, like ``Series.mode``).
    ``progress(i, rows)`` is called after the i-th partition (1-based) with its row count.
    """
    basket_index: pd.Index | None = None
    item_index: pd.Index | None = None
    heads: list[pd.DataFrame] = []
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    names: list[pd.DataFrame] = []
    for i, part in enumerate(parts, start=1):
        ev = _basket_events(part)
        if ev.empty:
            continue
        b_local, b_uniq = pd.factorize(ev["basket_id"])
        b_global, basket_index = _global_codes(basket_index, b_uniq)
        i_local, i_uniq = pd.factorize(ev["item_id"])
        i_global, item_index = _global_codes(item_index, i_uniq)
        head = ev.groupby(b_local, sort=True).agg(
            user_id=("user_id", "first"), basket_time=("event_time", "min"), country=("country", "first")
        )
        head.insert(0, "code", b_global[head.index.to_numpy()])
        heads.append(head.reset_index(drop=True))
        valid = (b_local >= 0) & (i_local >= 0)
        pair = pd.DataFrame({"b": b_global[b_local[valid]], "i": i_global[i_local[valid]]}).drop_duplicates()
        pairs.append((pair["b"].to_numpy(np.int64), pair["i"].to_numpy(np.int64)))
        counts = (
            pd.DataFrame({"i": i_global[i_local[valid]], "name": ev["item_name"].to_numpy()[valid]})
            .groupby(["i", "name"], sort=False)
            .size()
            .rename("n")
            .reset_index()
        )
        names.append(counts)
        if progress is not None:
            progress(i, len(ev))
        del ev
    if basket_index is None or item_index is None:
        raise ValueError("baskets: no clean events to build baskets from")

    # baskets: the same head as groupby(basket_id, sort=False) over the concatenation
    head = (
        pd.concat(heads, ignore_index=True)
        .groupby("code", sort=True)
        .agg(user_id=("user_id", "first"), basket_time=("basket_time", "min"), country=("country", "first"))
    )
    del heads
    head.insert(0, "basket_id", basket_index[head.index.to_numpy()])
    head = head.reset_index(drop=True).sort_values(["basket_time", "basket_id"], kind="stable")
    row_of = np.empty(len(head), dtype=np.int64)
    row_of[head.index.to_numpy()] = np.arange(len(head), dtype=np.int64)
    head = head.reset_index(drop=True)

    # items: sorted item_id order, as pd.factorize(sort=True)
    order = np.argsort(item_index.to_numpy(), kind="stable")
    item_ids = item_index[order]
    col_of = np.empty(len(order), dtype=np.int64)
    col_of[order] = np.arange(len(order), dtype=np.int64)

    rows = np.concatenate([row_of[b] for b, _ in pairs])
    cols = np.concatenate([col_of[c] for _, c in pairs])
    del pairs
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(head), len(item_ids)), dtype=bool
    )
    del rows, cols
    matrix.sum_duplicates()
    matrix.sort_indices()
    head["n_items"] = np.diff(matrix.indptr).astype(np.int64)
    head["user_id"] = head["user_id"].astype("str")

    counts = pd.concat(names, ignore_index=True).groupby(["i", "name"], sort=False)["n"].sum().reset_index()
    counts["i"] = col_of[counts["i"].to_numpy()]
    best = counts.sort_values(["i", "n", "name"], ascending=[True, False, True], kind="stable")
    best = best.drop_duplicates("i", keep="first")
    item_names = pd.Series(best["name"].to_numpy(), index=item_ids[best["i"].to_numpy()]).reindex(item_ids)
    return BasketSet(matrix, head, _vocabulary(item_ids, item_names, matrix))
