"""Scale paths: partition-pruned source reads and the streaming basket builder are exact."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assoc_pipeline.core.data.baskets import basket_set_from_events, basket_set_from_partitions
from assoc_pipeline.core.data.cleaning import CleaningRules, clean_events
from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.data.synthetic_events import synthetic_events
from assoc_pipeline.resources.event_source import EventSourceResource, parquet_row_groups_in_window

START, END = pd.Timestamp("2011-03-01"), pd.Timestamp("2011-04-01")


@pytest.fixture(scope="module")
def monthly_parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A folder of monthly Parquet event files with small row groups, plus the whole log."""
    events = synthetic_events(60_000, n_items=300, n_users=500, start="2011-01-01", end="2011-07-01", seed=3)
    folder = tmp_path_factory.mktemp("monthly")
    for month, part in events.groupby(events["event_time"].dt.to_period("M")):
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, folder / f"events_{month}.parquet", row_group_size=2_000)
    return folder, events


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["event_time", "basket_id", "item_id"], kind="stable").reset_index(drop=True)


def test_pruned_read_returns_exactly_the_window(monthly_parquet: tuple[Path, pd.DataFrame]) -> None:
    folder, _ = monthly_parquet
    source = EventSourceResource(path=str(folder))
    whole = source.read()
    expected = whole[(whole["event_time"] >= START) & (whole["event_time"] < END)]
    got = source.read(START.to_pydatetime(), END.to_pydatetime())
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected))
    # an open-ended window and an empty one
    tail = source.read(start=pd.Timestamp("2011-06-01"))
    assert len(tail) == int((whole["event_time"] >= pd.Timestamp("2011-06-01")).sum())
    assert source.read(pd.Timestamp("2015-01-01"), pd.Timestamp("2015-02-01")).empty


def test_pruned_read_decodes_only_overlapping_row_groups(monthly_parquet: tuple[Path, pd.DataFrame]) -> None:
    folder, _ = monthly_parquet
    files = sorted(folder.glob("*.parquet"))
    kept, total = zip(
        *(parquet_row_groups_in_window(f, "event_time", START, END) for f in files), strict=True
    )
    n_kept, n_total = sum(len(k) for k in kept), sum(total)
    march = [f for f, k in zip(files, kept, strict=True) if k]
    assert [f.name for f in march] == ["events_2011-03.parquet"]  # other months' files: no row group read
    assert n_kept == pq.ParquetFile(march[0]).metadata.num_row_groups < n_total
    # within one file, a narrow window keeps only the row groups whose time range overlaps it
    narrow, n = parquet_row_groups_in_window(march[0], "event_time", START, START + pd.Timedelta(days=3))
    assert 0 < len(narrow) < n


def test_windowed_read_of_other_formats_is_filtered_too(
    tmp_path: Path, monthly_parquet: tuple[Path, pd.DataFrame]
) -> None:
    _folder, events = monthly_parquet
    csv = tmp_path / "events.csv"
    events.to_csv(csv, index=False)
    got = EventSourceResource(path=str(csv)).read(START, END)
    full = read_events(csv)
    expected = full[(full["event_time"] >= START) & (full["event_time"] < END)]
    pd.testing.assert_frame_equal(_sorted(got), _sorted(expected))


@pytest.fixture(scope="module")
def clean_sample(retail_sample_csv: Path) -> pd.DataFrame:
    kept, _ = clean_events(read_events(retail_sample_csv), CleaningRules())
    return kept


def _assert_same(a, b) -> None:
    assert a.matrix.shape == b.matrix.shape
    assert (a.matrix != b.matrix).nnz == 0
    np.testing.assert_array_equal(a.matrix.indptr, b.matrix.indptr)
    np.testing.assert_array_equal(a.matrix.indices, b.matrix.indices)
    pd.testing.assert_frame_equal(a.baskets, b.baskets)
    pd.testing.assert_frame_equal(a.vocabulary, b.vocabulary)


def test_streaming_baskets_equal_pandas_on_monthly_parquet(
    clean_sample: pd.DataFrame, tmp_path: Path
) -> None:
    months = clean_sample["event_time"].dt.to_period("M")
    paths = []
    for month, part in clean_sample.groupby(months, sort=True):
        path = tmp_path / f"{month}.parquet"
        pq.write_table(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), path)
        paths.append(path)
    assert len(paths) == 2
    seen = []
    streamed = basket_set_from_partitions(paths, progress=lambda i, n: seen.append((i, n)))
    assert [n for _, n in seen] == months.value_counts(sort=False).sort_index().tolist()
    stored = pd.concat([pq.read_table(p).to_pandas() for p in paths], ignore_index=True)
    _assert_same(streamed, basket_set_from_events(stored))
    _assert_same(streamed, basket_set_from_events(clean_sample.reset_index(drop=True)))


def test_streaming_baskets_merge_baskets_split_across_parts(clean_sample: pd.DataFrame) -> None:
    # uneven chunks in a shuffled row order: invoices straddle chunks, names/users appear in any order
    shuffled = clean_sample.sample(frac=1.0, random_state=7).reset_index(drop=True)
    cuts = [0, 1_000, 9_000, 30_000, len(shuffled)]
    parts = [shuffled.iloc[a:b] for a, b in itertools.pairwise(cuts)]
    _assert_same(basket_set_from_partitions(iter(parts)), basket_set_from_events(shuffled))


def test_streaming_baskets_reject_no_events(clean_sample: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no clean events"):
        basket_set_from_partitions([clean_sample.iloc[:0]])


def test_a_folder_source_refuses_files_it_would_skip(tmp_path: Path) -> None:
    """A month saved as .tsv (or a .bak copy) was skipped: its rows and its partition vanished
    without a word. Such a file is now named, and the read refused."""
    from assoc_pipeline.core.errors import InputError

    events = synthetic_events(600, n_items=20, n_users=30, start="2011-01-01", end="2011-03-01", seed=1)
    for month, part in events.groupby(events["event_time"].dt.to_period("M")):
        part.to_csv(tmp_path / f"events_{month}.csv", index=False)
    assert len(EventSourceResource(path=str(tmp_path)).read()) == len(events)
    (tmp_path / "events_2011-03.tsv").write_text("event_time\tbasket_id\titem_id\n")
    (tmp_path / ".hidden.swp").write_text("")  # hidden and temporary files stay ignored
    with pytest.raises(InputError, match=r"1 file\(s\) that are not event files: events_2011-03\.tsv"):
        EventSourceResource(path=str(tmp_path)).read()
