"""Readers for one-basket-per-line files -> :class:`BasketSet`.

* basket CSV (arules ``Groceries`` style): comma-separated item names per line, no header;
* FIMI ``.dat`` (optionally ``.gz``): space-separated non-negative integer item ids per line.

FIMI files are parsed with numpy over the raw bytes (digit runs and newline positions), not line
by line, so a 1M-basket file loads in about a second. Blank lines are skipped in both formats.
Items are columns in sorted order (names alphabetically, ids numerically).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError


def basket_set_from_csr(matrix: sp.csr_matrix, item_labels: list[str] | np.ndarray) -> BasketSet:
    """Wrap a basket x item boolean CSR matrix (plus item labels) as a BasketSet, vectorised."""
    matrix = sp.csr_matrix(matrix, dtype=bool)
    matrix.sum_duplicates()
    matrix.sort_indices()
    n = matrix.shape[0]
    baskets = pd.DataFrame(
        {
            "basket_id": pd.Series(np.arange(n).astype(str), dtype=object),
            "user_id": pd.array([None] * n, dtype="string"),
            "basket_time": pd.to_datetime(pd.Series([pd.NaT] * n)),
            "country": "",
            "n_items": np.diff(matrix.indptr).astype(np.int64),
        }
    )
    labels = [str(x) for x in item_labels]
    vocabulary = pd.DataFrame(
        {
            "item_idx": np.arange(len(labels), dtype=np.int64),
            "item_id": labels,
            "item_name": labels,
            "n_baskets": np.bincount(matrix.indices, minlength=len(labels)).astype(np.int64),
        }
    )
    return BasketSet(matrix, baskets, vocabulary)


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: basket file not found") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read basket file {path}: {exc}") from exc


def read_fimi(path: str | os.PathLike) -> BasketSet:
    """A FIMI ``.dat`` / ``.dat.gz`` file (integer item ids separated by whitespace)."""
    path = Path(path)
    raw = np.frombuffer(_read_bytes(path), dtype=np.uint8)
    digit = (raw >= 48) & (raw <= 57)
    space = (raw == 32) | (raw == 9) | (raw == 13) | (raw == 10)
    bad = ~(digit | space)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        line = int(np.count_nonzero(raw[:at] == 10)) + 1
        raise InputError(
            f"{path}: not a FIMI file (unexpected byte {bytes(raw[at : at + 1])!r} on line {line})"
        )
    prev = np.r_[False, digit[:-1]]
    nxt = np.r_[digit[1:], False]
    starts = np.flatnonzero(digit & ~prev)
    ends = np.flatnonzero(digit & ~nxt) + 1
    if len(starts) == 0:
        raise InputError(f"{path}: no baskets (empty file)")
    lens = ends - starts
    if int(lens.max()) > 18:
        raise InputError(f"{path}: item id with more than 18 digits")
    values = np.zeros(len(starts), dtype=np.int64)
    for d in range(int(lens.max())):
        live = lens > d
        values[live] = values[live] * 10 + (raw[starts[live] + d].astype(np.int64) - 48)
    line_of = np.searchsorted(np.flatnonzero(raw == 10), starts)
    _, row = np.unique(line_of, return_inverse=True)  # blank lines skipped
    item_ids, col = np.unique(values, return_inverse=True)
    n = int(row.max()) + 1
    matrix = sp.csr_matrix((np.ones(len(col), dtype=bool), (row, col)), shape=(n, len(item_ids)))
    return basket_set_from_csr(matrix, item_ids.astype(str))


def read_basket_csv(path: str | os.PathLike, sep: str = ",") -> BasketSet:
    """A one-basket-per-line CSV of item names (Groceries style); names are stripped."""
    path = Path(path)
    try:
        text = _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc})") from exc
    if '"' in text:
        lines = [[t.strip() for t in rec] for rec in csv.reader(io.StringIO(text), delimiter=sep)]
    else:
        lines = [[t.strip() for t in ln.split(sep)] for ln in text.splitlines()]
    lines = [[t for t in ln if t] for ln in lines]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"{path}: no baskets (empty file)")
    lens = np.fromiter((len(ln) for ln in lines), dtype=np.int64, count=len(lines))
    codes, names = pd.factorize(pd.Series([t for ln in lines for t in ln], dtype=object), sort=True)
    rows = np.repeat(np.arange(len(lines)), lens)
    matrix = sp.csr_matrix((np.ones(len(codes), dtype=bool), (rows, codes)), shape=(len(lines), len(names)))
    return basket_set_from_csr(matrix, list(names))


def read_baskets(path: str | os.PathLike) -> BasketSet:
    """Dispatch on the file name: ``.dat``/``.dat.gz`` -> FIMI, anything else -> basket CSV."""
    name = Path(path).name.lower()
    if name.endswith((".dat", ".dat.gz")):
        return read_fimi(path)
    return read_basket_csv(path)
