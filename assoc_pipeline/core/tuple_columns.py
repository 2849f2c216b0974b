"""Columns of tuples (itemsets, rule sides) as Arrow ``list`` columns and back, in bulk.

The itemsets' negative border holds about 1.3M tuples on the shipped data. ``Series.map(list)``
before ``pa.Table.from_pandas`` took 1.3 s to write it and a tuple per row from NumPy arrays 1.2 s
to read it back, every time an asset loaded the itemsets. Here one flat array and its offsets do
the work on write, and rows of equal length become tuples in one ``zip`` on read.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa

INT32_MAX = 2**31 - 1  # a ``list`` column's offsets are int32


def list_array(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """``values`` (tuples) as the ``list<...>`` array ``pa.Table.from_pandas`` makes of lists."""
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if lengths.sum() > INT32_MAX:  # beyond int32 offsets: from_pandas splits it into chunks
        frame = pd.DataFrame({"values": values.map(list)})
        return pa.Table.from_pandas(frame, preserve_index=False).column(0)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = pa.array(list(itertools.chain.from_iterable(values)))
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


def tuple_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A ``list<...>`` column as a 1-d object array of tuples of Python scalars."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:  # a missing list has no tuple: keep the row-by-row reading
        return np.fromiter(
            (None if v is None else tuple(v) for v in array.to_pylist()), dtype=object, count=len(array)
        )
    offsets = array.offsets.to_numpy()
    starts, lengths = offsets[:-1], np.diff(offsets)
    flat = array.values.to_numpy(zero_copy_only=False)
    out = np.empty(len(lengths), dtype=object)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        columns = [flat[starts[rows] + j].tolist() for j in range(length)]
        tuples = zip(*columns, strict=True) if columns else itertools.repeat((), len(rows))
        out[rows] = np.fromiter(tuples, dtype=object, count=len(rows))
    return out
