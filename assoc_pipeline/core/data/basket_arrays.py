"""Baskets as plain CSR arrays, read straight from one-basket-per-line files (numpy only).

Why a second form next to :class:`~assoc_pipeline.core.data.baskets.BasketSet`: importing scipy
and pandas costs ~1.5 s per process, more than reading and mining a 100k-basket file, so
``assoc-pipeline mine`` on a FIMI or basket file works on these arrays end to end. The mining
backends accept a :class:`BasketArrays` wherever they take a CSR matrix.

Readers: FIMI ``.dat`` (optionally gzip; integer ids separated by whitespace) parsed with numpy
over the raw bytes (digit runs and newline positions, no Python loop over lines), and the basket
CSV (arules ``Groceries`` style, comma-separated item names). Blank lines are skipped; a basket
lists each item once; items are columns in sorted order (ids numerically, names alphabetically).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assoc_pipeline.core.errors import InputError

# item ids up to this value are mapped to columns with a table instead of a sort
_ID_TABLE_MAX = 1 << 24
# byte classes of a FIMI file: 0 not allowed, 1 whitespace, 2 digit
_FIMI_BYTES = np.zeros(256, dtype=np.uint8)
_FIMI_BYTES[[9, 10, 13, 32]] = 1
_FIMI_BYTES[48:58] = 2


@dataclass(frozen=True)
class BasketArrays:
    """Baskets x items in CSR form: row ``i``'s items are ``indices[indptr[i]:indptr[i + 1]]``,
    sorted and distinct; ``labels[j]`` names column ``j``."""

    indptr: np.ndarray  # int64, n_baskets + 1
    indices: np.ndarray  # int32, nnz
    labels: list[str]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, len(self.labels)

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @property
    def n_baskets(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_items(self) -> int:
        return len(self.labels)

    def to_scipy(self):
        """The same baskets as a boolean ``scipy.sparse.csr_matrix`` (imports scipy)."""
        import scipy.sparse as sp

        data = np.ones(self.nnz, dtype=bool)
        return sp.csr_matrix((data, self.indices, self.indptr), shape=self.shape)


def canonical_rows(indptr: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, indices) with the columns of each row sorted and distinct (a sort only when the
    rows are not already so, as in most basket files)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    if len(col) > 1:
        rising = col[1:] > col[:-1]
        ends = indptr[1:-1] - 1
        rising[ends[(ends >= 0) & (ends < len(rising))]] = True  # a new row may start lower
        if not bool(rising.all()):
            n_rows = len(indptr) - 1
            row = np.repeat(np.arange(n_rows), np.diff(indptr))
            order = np.lexsort((col, row))
            row, col = row[order], col[order]
            keep = np.r_[True, (row[1:] != row[:-1]) | (col[1:] != col[:-1])]
            row, col = row[keep], col[keep]
            indptr = np.zeros(n_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
    return indptr, col.astype(np.int32)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic; errors name the file."""
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


def read_fimi_arrays(path: str | os.PathLike) -> BasketArrays:
    """A FIMI ``.dat`` / ``.dat.gz`` file (integer item ids separated by whitespace)."""
    path = Path(path)
    data = read_bytes(path)
    raw = np.frombuffer(data[3:] if data.startswith(b"\xef\xbb\xbf") else data, dtype=np.uint8)  # a BOM
    kind = _FIMI_BYTES[raw]
    if not kind.all():
        at = int(np.argmin(kind))
        line = int(np.count_nonzero(raw[:at] == 10)) + 1
        raise InputError(
            f"{path}: not a FIMI file (unexpected byte {bytes(raw[at : at + 1])!r} on line {line})"
        )
    edge = np.diff((kind == 2).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    if len(starts) == 0:
        raise InputError(f"{path}: no baskets (empty file)")
    lens = np.flatnonzero(edge == -1) - starts
    widest = int(lens.max())
    if widest > 18:
        raise InputError(f"{path}: item id with more than 18 digits")
    dtype = np.int32 if widest <= 9 else np.int64
    values = raw[starts].astype(dtype) - 48
    last = len(raw) - 1
    for d in range(1, widest):
        digit = raw[np.minimum(starts + d, last)].astype(dtype) - 48
        values = np.where(lens > d, values * 10 + digit, values)
    # ids per line from the line ends (LF, CR: old Mac files, and CRLF, whose empty "line" between
    # the two is skipped like any line without ids)
    ends = np.flatnonzero((raw == 10) | (raw == 13))
    per_line = np.diff(np.searchsorted(starts, ends), prepend=0, append=len(starts))
    sizes = per_line[per_line > 0]
    indptr = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    top = int(values.max())
    if top < _ID_TABLE_MAX:
        present = np.zeros(top + 1, dtype=bool)
        present[values] = True
        item_ids = np.flatnonzero(present)
        col = (np.cumsum(present) - 1)[values]
    else:
        item_ids, col = np.unique(values, return_inverse=True)
    indptr, indices = canonical_rows(indptr, col)
    return BasketArrays(indptr, indices, [str(i) for i in item_ids.tolist()])


def read_basket_lines_arrays(path: str | os.PathLike, sep: str = ",") -> BasketArrays:
    """A one-basket-per-line CSV of item names (Groceries style); names are stripped."""
    path = Path(path)
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc})") from exc
    lines = [[t.strip() for t in rec] for rec in _records(path, text, sep)]
    lines = [[t for t in ln if t] for ln in lines]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"{path}: no baskets (empty file)")
    names = sorted({t for ln in lines for t in ln})
    code = {name: i for i, name in enumerate(names)}
    col = np.fromiter((code[t] for ln in lines for t in ln), dtype=np.int64)
    indptr = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)), out=indptr[1:])
    indptr, indices = canonical_rows(indptr, col)
    return BasketArrays(indptr, indices, names)


def _records(path: Path, text: str, sep: str) -> list[list[str]]:
    """The file's lines split at ``sep``; line ends are LF, CRLF or CR and nothing else (not the
    Unicode separators ``str.splitlines`` also splits at). Quoted fields go through ``csv``,
    strictly: a quote left open would otherwise swallow every line after it into one item."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if '"' not in text:
        return [ln.split(sep) for ln in text.split("\n")]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    records, first = [], 1
    try:
        for record in reader:
            if any("\n" in field for field in record):
                raise InputError(
                    f"{path}: line {first}: a quoted item runs over several lines (a quote left open?)"
                )
            records.append(record)
            first = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: line {first}: {exc} (a quote left open?)") from None
    return records
