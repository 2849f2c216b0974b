"""Fuzzed malformed inputs against the input adapters (core/data/schema.py and the readers it uses).

Every generated file must either be read into the canonical schema or be rejected with an
:class:`InputError` whose message names the file; a raw pandas / numpy / pyarrow / csv / zlib
exception escaping from inside those libraries is a bug. Inputs: wrong types in the quantity,
price and date columns, ids and descriptions with unicode, emoji and control characters,
huge baskets, empty files, header-only files, truncated gzip and random bytes under every
extension the adapters accept.

``ASSOC_FUZZ_EXAMPLES`` raises the number of examples per test (default 60) for a longer
campaign; the ``@example`` cases pin what a 500-example campaign against the unfixed adapters and
direct probes of the same values found (listed in the README, "Security and failure behaviour").
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assoc_pipeline.core.data.schema import CANONICAL_COLUMNS, EVENT_TYPES, ONLINE_RETAIL_COLUMNS, read_events
from assoc_pipeline.core.errors import InputError

EXAMPLES = int(os.environ.get("ASSOC_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 60,  # the default run is reproducible; campaigns explore
)
RETAIL_HEADER = list(ONLINE_RETAIL_COLUMNS)
_GZ = gzip.compress(b"InvoiceNo,StockCode,Quantity\n" + b"536365,85123A,6\n" * 500, mtime=0)
CORRUPT_GZ = _GZ[:30] + bytes(50) + _GZ[80:]  # a valid gzip header, garbage in the deflate stream
GOOD_ROW = ["536365", "85123A", "WHITE HANGING HEART", "6", "2010-12-01 08:26:00", "2.55", "17850", "UK"]

# --- cell values -------------------------------------------------------------------------------

nasty_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),  # any code point, no surrogates
    max_size=12,
)
emoji = st.sampled_from(["🛒", "🧺👜", "👩‍👩‍👧", "🇬🇧", "\u200b", "\ufeff", "é", "ß", "漢字", "𝔘"])
control = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\t", "\r", "\n", "\r\n", "\x0b", "\x0c"])
quote_sep = st.sampled_from(['"', '""', ",", ";", "'", '"a,b"', "\\", "\\N"])
numbers_as_text = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["inf", "-inf", "nan", "NaN", "NA", "1e400", "-1e400", "1e20", "9223372036854775808", "0x1F",
         "1_000", "1,5", "٣", "１２", "+6", "--1", "6.0", "6.5", "True", "false", ""]
    ),
)  # fmt: skip
dates_as_text = st.one_of(
    st.datetimes().map(str),
    st.dates().map(str),
    st.sampled_from(
        ["9999-12-31", "0001-01-01", "1677-09-21", "2262-04-12", "2010-12-01 08:26:00+01:00",
         "2010-12-01 08:26:00+02:00", "2010-12-01T08:26:00Z", "2010-13-45", "12/31/2010 25:61",
         "yesterday", "0", "1e10", "99999999999999999999", "2010-12-01\x00", "nat", "NaT", ""]
    ),
)  # fmt: skip
any_cell = st.one_of(nasty_text, emoji, control, quote_sep, numbers_as_text, dates_as_text)


def column_cells(column: str) -> st.SearchStrategy[str]:
    """Mostly plausible values of the column, often the wrong type, sometimes anything at all."""
    plausible = {
        "InvoiceNo": st.sampled_from(["536365", "C536379", "A1", "536366"]),
        "StockCode": st.sampled_from(["85123A", "71053", "POST", "D", "22961"]),
        "Quantity": st.integers(min_value=-100, max_value=100).map(str),
        "InvoiceDate": st.sampled_from(["2010-12-01 08:26:00", "2011-01-04 10:00:00", "12/1/2010 8:26"]),
        "UnitPrice": st.sampled_from(["2.55", "0", "-1.5", "3"]),
        "CustomerID": st.sampled_from(["17850", "17850.0", "", "14527"]),
    }.get(column, st.sampled_from(["x", "United Kingdom", "WHITE METAL LANTERN"]))
    wrong = numbers_as_text if column in ("Quantity", "UnitPrice", "CustomerID") else dates_as_text
    return st.one_of(plausible, plausible, wrong, nasty_text, emoji, control, quote_sep)


def serialise(header: list[str], rows: list[list[str]], quoted: bool) -> str:
    """CSV text: properly quoted (csv module) or naively joined (malformed on purpose)."""
    if quoted:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header, *rows])
        return buf.getvalue()
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


@st.composite
def retail_csv(draw) -> str:
    header = list(RETAIL_HEADER)
    if draw(st.integers(0, 9)) == 0:  # a column lost or renamed
        i = draw(st.integers(0, len(header) - 1))
        header[i] = draw(st.sampled_from(["", header[i].lower(), header[i] + "_", "🛒"]))
    n_rows = draw(st.integers(0, 6))
    rows = [[draw(column_cells(c)) for c in RETAIL_HEADER] for _ in range(n_rows)]
    if draw(st.booleans()):
        rows.insert(0, list(GOOD_ROW))
    return serialise(header, rows, quoted=draw(st.booleans()))


def write_file(directory: Path, name: str, data: str | bytes, gzipped: bool = False) -> Path:
    path = directory / name
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    return path


def assert_clear(path: Path, fmt: str = "auto", mapping: dict[str, str] | None = None) -> str:
    """Read ``path``; success must give the canonical schema, failure an InputError naming it."""
    try:
        events = read_events(path, fmt, mapping)
    except InputError as exc:
        assert str(path) in str(exc), f"error does not name the file: {exc}"
        return "rejected"
    # anything else propagates and fails the test with the library's traceback
    assert list(events.columns) == list(CANONICAL_COLUMNS)
    assert events["event_time"].dtype == "datetime64[ns]"
    assert events["quantity"].dtype == "int64" and events["unit_price"].dtype == "float64"
    assert events["event_type"].isin(EVENT_TYPES).all()
    for col in ("basket_id", "item_id", "user_id", "item_name", "country"):
        values = events[col].dropna()
        assert all(isinstance(v, str) for v in values), col
    return "read"


# --- the fuzz tests ----------------------------------------------------------------------------


@FUZZ
@given(text=retail_csv(), name=st.sampled_from(["retail.csv", "retail.csv.gz", "retail.txt"]))
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:3], "inf", *GOOD_ROW[4:]]], True), name="retail.csv")
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:3], "1e20", *GOOD_ROW[4:]]], True), name="retail.csv")
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:4], "9999-12-31", *GOOD_ROW[5:]]], True), name="r.csv")
@example(
    text=serialise(
        RETAIL_HEADER,
        [
            [*GOOD_ROW[:4], "2010-12-01 08:26:00+01:00", *GOOD_ROW[5:]],
            [*GOOD_ROW[:4], "2010-12-01", *GOOD_ROW[5:]],
        ],
        True,
    ),
    name="retail.csv",
)
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:6], "1.5", "UK"]], True), name="retail.csv")
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:6], "1e30", "UK"]], True), name="retail.csv")
@example(text=serialise(RETAIL_HEADER, [[*GOOD_ROW[:5], "inf", "17850", "UK"]], True), name="retail.csv")
def test_online_retail_csv_fuzz(text: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_file(Path(d), name, text, gzipped=name.endswith(".gz"))
        assert_clear(path, "auto")
        assert_clear(path, "online_retail")


@st.composite
def event_frame(draw) -> pd.DataFrame:
    """A generic event log whose columns each get one random dtype (often the wrong one)."""
    n = draw(st.integers(1, 6))
    kinds = {
        "int": st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n),
        "float": st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=n, max_size=n),
        "bool": st.lists(st.booleans(), min_size=n, max_size=n),
        "text": st.lists(st.one_of(any_cell, st.none()), min_size=n, max_size=n),
        "time": st.lists(
            st.datetimes(min_value=datetime(1677, 9, 22), max_value=datetime(2262, 4, 11)),
            min_size=n,
            max_size=n,
        ),
    }
    columns = ["event_time", "basket_id", "item_id", "user_id", "item_name", "quantity", "unit_price"]
    columns += draw(st.sampled_from([[], ["event_type"], ["country"]]))
    data = {}
    for col in columns:
        if col == "event_type" and draw(st.booleans()):
            data[col] = draw(
                st.lists(st.sampled_from([*EVENT_TYPES, "PURCHASE", "gift", ""]), min_size=n, max_size=n)
            )
        else:
            data[col] = draw(kinds[draw(st.sampled_from(sorted(kinds)))])
    return pd.DataFrame(data)


@FUZZ
@given(frame=event_frame(), as_parquet=st.booleans())
def test_generic_event_log_fuzz(frame: pd.DataFrame, as_parquet: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        if as_parquet:
            path = Path(d) / "events.parquet"
            try:
                frame.to_parquet(path)
            except Exception:  # mixed-type object columns pyarrow itself cannot write: not our input
                frame.astype(str).to_parquet(path)
        else:
            path = Path(d) / "events.csv"
            frame.to_csv(path, index=False)
        assert_clear(path, "events")
        assert_clear(path, "auto")


@st.composite
def basket_lines(draw) -> str:
    item = st.one_of(st.sampled_from(["milk", "bread", "eggs", "whole milk"]), nasty_text, emoji, quote_sep)
    lines = draw(st.lists(st.lists(item, max_size=8), max_size=8))
    text = "\n".join(",".join(line) for line in lines)
    if draw(st.integers(0, 4)) == 0:  # one huge basket, or one item longer than csv's field limit
        huge = st.sampled_from([",".join(f"item{i}" for i in range(5_000)), '"' + "x" * 140_000 + '"'])
        text += "\n" + draw(huge)
    return text


@FUZZ
@given(text=basket_lines(), name=st.sampled_from(["groceries.csv", "groceries.csv.gz", "baskets.txt"]))
@example(text='"' + "x" * 140_000 + '"', name="groceries.csv")
def test_basket_lines_fuzz(text: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = write_file(Path(d), name, text, gzipped=name.endswith(".gz"))
        assert_clear(path, "basket_lines")
        assert_clear(path, "auto")


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.lists(st.lists(st.integers(0, 10**20), max_size=6), max_size=6).map(
            lambda ls: "\n".join(" ".join(map(str, line)) for line in ls).encode()
        ),
        st.text(alphabet="0123456789 \t\r\n-x", max_size=60).map(str.encode),
    ),
    name=st.sampled_from(["t.dat", "t.dat.gz"]),
    gzipped=st.booleans(),
)
def test_fimi_fuzz(data: bytes, name: str, gzipped: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        assert_clear(write_file(Path(d), name, data, gzipped), "auto")


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.binary(max_size=300).map(lambda b: gzip.compress(b)[: max(1, len(b) // 2)]),  # truncated gzip
        st.binary(max_size=64).map(lambda b: b"PK\x03\x04" + b),  # looks like a zip (xlsx)
        st.binary(max_size=64).map(lambda b: b"PAR1" + b + b"PAR1"),  # looks like Parquet
        st.sampled_from([b"", b" ", b"\n\n", b"\xef\xbb\xbf", b"\x00" * 10, b",,,\n", b'"', b'"\n"']),
    ),
    name=st.sampled_from(
        ["x.csv", "x.csv.gz", "x.txt", "x.txt.gz", "x.xlsx", "x.xls", "x.parquet", "x.dat", "x.dat.gz"]
    ),
)
@example(data=b"\xff\xfe\x00garbage", name="x.csv")
@example(data=b"not gzip", name="x.csv.gz")
@example(data=gzip.compress(b"InvoiceNo,StockCode\n1,2\n")[:20], name="x.csv.gz")
@example(data=b"PK\x03\x04 not a workbook", name="x.xlsx")
@example(data=CORRUPT_GZ, name="x.csv.gz")
@example(data=b"  \n ", name="x.csv")
def test_random_bytes_fuzz(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        assert_clear(write_file(Path(d), name, data), "auto")


@pytest.mark.parametrize("fmt", ["auto", "online_retail", "events", "basket_lines", "fimi"])
@pytest.mark.parametrize("content", ["", " ", "\n", "\r\n\t", "\ufeff"])
def test_empty_files_are_rejected(tmp_path: Path, fmt: str, content: str) -> None:
    assert assert_clear(write_file(tmp_path, "events.csv", content), fmt) == "rejected"


@pytest.mark.parametrize(
    ("fmt", "header"),
    [
        ("auto", ",".join(RETAIL_HEADER)),
        ("online_retail", ",".join(RETAIL_HEADER)),
        ("auto", "event_time,basket_id,item_id"),
        ("events", "event_time,basket_id,item_id"),
    ],
)
def test_header_only_files_are_rejected(tmp_path: Path, fmt: str, header: str) -> None:
    path = write_file(tmp_path, "events.csv", header + "\n")
    with pytest.raises(InputError, match="has a header but no rows") as err:
        read_events(path, fmt)
    assert str(path) in str(err.value)


def test_huge_basket_is_read(tmp_path: Path) -> None:
    """One invoice of 20,000 lines (and a 20,000-item basket line) is data, not an error."""
    rows = [
        ["1", f"{10000 + i}", f"ITEM {i} 🛒", "1", "2010-12-01 08:26:00", "1.0", "17850", "UK"]
        for i in range(20_000)
    ]
    events = read_events(write_file(tmp_path, "big.csv", serialise(RETAIL_HEADER, rows, True)))
    assert len(events) == 20_000 and events["basket_id"].nunique() == 1
    line = ",".join(f"item{i}" for i in range(20_000))
    baskets = read_events(write_file(tmp_path, "big_basket.csv", line + "\n"), "basket_lines")
    assert len(baskets) == 20_000


def test_unicode_and_control_characters_survive(tmp_path: Path) -> None:
    rows = [
        [
            "53636🛒",
            "85123A",
            "naïve\u200bmug 漢字 \x07",
            "2",
            "2010-12-01 08:26:00",
            "2.5",
            "cust\x01é",
            "UK",
        ],
        ["536366", "85123A", '"quoted, name"', "1", "2010-12-01 09:00:00", "2.5", "👩‍👩‍👧", "France"],
    ]
    events = read_events(write_file(tmp_path, "u.csv", serialise(RETAIL_HEADER, rows, True)))
    assert events["basket_id"].tolist() == ["53636🛒", "536366"]
    assert events["user_id"].tolist() == ["cust\x01é", "👩‍👩‍👧"]
    assert events["item_name"].iloc[1] == '"quoted, name"'
    assert np.array_equal(events["quantity"].to_numpy(), [2, 1])
