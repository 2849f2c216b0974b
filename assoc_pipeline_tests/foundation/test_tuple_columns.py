"""Tuple columns through Parquet: the bulk conversion gives what the row-by-row one gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

from assoc_pipeline.core.mining import mine_with_border
from assoc_pipeline.core.tables import read_table, to_arrow, write_table
from assoc_pipeline.core.tuple_columns import list_array, tuple_values

SIDES = [(3, 1), (), (7,), (2, 5, 9, 11), (), (4,), (1, 2, 3)]


def test_list_array_is_what_from_pandas_makes_of_lists() -> None:
    for values in (SIDES, [tuple(f"item {i}" for i in t) for t in SIDES], [(), ()]):
        series = pd.Series(values, dtype=object)
        expected = pa.Table.from_pandas(pd.DataFrame({"c": series.map(list)}), preserve_index=False)["c"]
        assert list_array(series).equals(expected.combine_chunks())


def test_tuple_values_reads_sliced_and_chunked_columns() -> None:
    array = list_array(pd.Series(SIDES, dtype=object))
    assert tuple_values(array).tolist() == SIDES
    assert tuple_values(array.slice(2, 3)).tolist() == SIDES[2:5]  # offsets that do not start at 0
    chunked = pa.chunked_array([array.slice(0, 3), array.slice(3)])
    out = tuple_values(chunked)
    assert out.tolist() == SIDES and all(type(v) is tuple for v in out)
    assert all(type(x) is int for t in out for x in t)  # Python ints, as tuples of items always held


def test_a_missing_list_stays_missing() -> None:
    array = pa.array([[1, 2], None, []], type=pa.list_(pa.int64()))
    assert tuple_values(array).tolist() == [(1, 2), None, ()]


@pytest.mark.parametrize("empty", [False, True])
def test_rules_frame_round_trips_with_column_order_and_types(tmp_path, empty: bool) -> None:
    frame = pd.DataFrame(
        {
            "antecedent": pd.Series(SIDES, dtype=object),
            "support": [0.1 * i for i in range(len(SIDES))],
            "consequent_names": pd.Series([tuple(f"n{i}" for i in t) for t in SIDES], dtype=object),
            "count": range(len(SIDES)),
        }
    )
    frame = frame.iloc[:0] if empty else frame
    write_table(frame, tmp_path / "rules.parquet")
    back = read_table(tmp_path / "rules.parquet")
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_index_type=not empty)
    assert to_arrow(frame).column_names == list(frame.columns)


def test_itemsets_and_their_border_round_trip(tmp_path) -> None:
    dense = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1]] * 3, dtype=bool)
    itemsets = mine_with_border(sp.csr_matrix(dense), 0.3)
    assert itemsets.border is not None and len(itemsets.border)
    write_table(itemsets, tmp_path / "itemsets.parquet")
    back = read_table(tmp_path / "itemsets.parquet")
    pd.testing.assert_frame_equal(back.table, itemsets.table)
    pd.testing.assert_frame_equal(back.border, itemsets.border)


def test_a_column_beyond_int32_offsets_goes_through_from_pandas(monkeypatch, tmp_path) -> None:
    import assoc_pipeline.core.tuple_columns as tuple_columns

    monkeypatch.setattr(tuple_columns, "INT32_MAX", 3)  # as if the column held > 2^31 items
    frame = pd.DataFrame({"items": pd.Series(SIDES, dtype=object), "count": range(len(SIDES))})
    assert isinstance(list_array(frame["items"]), pa.ChunkedArray)
    write_table(frame, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), frame)
