"""Adapters to the canonical schema, and the errors bad files get."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from assoc_pipeline.core.data.schema import CANONICAL_COLUMNS, detect_format, read_events
from assoc_pipeline.core.errors import InputError

RETAIL_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom
536380,22961,JAM MAKING SET PRINTED,-24,2010-12-01 09:41:00,1.45,,France
"""


MAPPING_TS = {"event_time": "ts", "basket_id": "order", "item_id": "sku"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_online_retail_adapter_maps_every_column(tmp_path: Path) -> None:
    events = read_events(write(tmp_path, "retail.csv.gz", RETAIL_CSV))
    assert list(events.columns) == list(CANONICAL_COLUMNS)
    assert len(events) == 4
    assert events["basket_id"].tolist() == ["536365", "536365", "C536379", "536380"]
    assert events["event_type"].tolist() == ["purchase", "purchase", "cancellation", "return"]
    assert events["user_id"].iloc[0] == "17850" and pd.isna(events["user_id"].iloc[3])
    assert events["event_time"].iloc[2] == pd.Timestamp("2010-12-01 09:41")
    assert events["quantity"].dtype == "int64" and events["unit_price"].iloc[1] == pytest.approx(3.39)


def test_xlsx_is_read_like_csv(tmp_path: Path) -> None:
    csv = read_events(write(tmp_path, "retail.csv", RETAIL_CSV))
    raw = pd.read_csv(tmp_path / "retail.csv", dtype={"InvoiceNo": str, "StockCode": str})
    raw.to_excel(tmp_path / "retail.xlsx", index=False)
    xlsx = read_events(tmp_path / "retail.xlsx")
    pd.testing.assert_frame_equal(csv, xlsx)


def test_generic_event_log_with_column_mapping(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "ts": ["2024-01-02 10:00", "2024-01-02 10:00", "2024-01-03 11:00"],
            "order": [1, 1, 2],
            "sku": ["A", "B", "A"],
            "customer": ["u1", "u1", None],
        }
    )
    df.to_parquet(tmp_path / "log.parquet")
    mapping = {"event_time": "ts", "basket_id": "order", "item_id": "sku", "user_id": "customer"}
    events = read_events(tmp_path / "log.parquet", "events", mapping)
    assert events["basket_id"].tolist() == ["1", "1", "2"]
    assert events["quantity"].tolist() == [1, 1, 1]
    assert events["item_name"].tolist() == ["A", "B", "A"]  # names default to ids
    assert events["event_type"].unique().tolist() == ["purchase"]
    assert pd.isna(events["user_id"].iloc[2])


def test_csv_ids_are_text_so_that_none_merge(tmp_path: Path) -> None:
    """Read as numbers, "007" and "7" were one item and "0012" and "12" one basket; with a gap in
    the column (floats) two 17-digit baskets became one. Rows were kept, so nothing said so."""
    log = write(
        tmp_path,
        "log.csv",
        "ts,order,sku,customer\n"
        "2024-01-01,0012,007,00042\n"
        "2024-01-01,0012,7,00042\n"
        "2024-01-02,12,7,42\n"
        "2024-01-02,90071992547409921,a,\n"
        "2024-01-02,90071992547409922,b,\n"
        "2024-01-03,,c,\n",
    )
    mapping = {"event_time": "ts", "basket_id": "order", "item_id": "sku", "user_id": "customer"}
    events = read_events(log, "events", mapping)
    assert events["basket_id"].tolist()[:5] == [
        "0012",
        "0012",
        "12",
        "90071992547409921",
        "90071992547409922",
    ]
    assert pd.isna(events["basket_id"].iloc[5])
    assert events["item_id"].tolist() == ["007", "7", "7", "a", "b", "c"]
    assert events["user_id"].tolist()[:3] == ["00042", "00042", "42"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("retail.txt", "1 3 5\n2 3\n", "fimi"),  # read as a basket CSV: one item "1 3 5" a line
        ("retail.csv.gz", "1 3 5\r\n2\r\n", "fimi"),
        ("ids.csv", "123\n456\n", "basket_lines"),  # one id a line: a basket CSV (the same baskets)
        ("groceries.csv", "milk,bread\n1 2,3\n", "basket_lines"),
    ],
)
def test_a_fimi_file_under_another_name_is_read_as_fimi(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(content.encode()) if name.endswith(".gz") else content.encode())
    assert detect_format(path) == expected


def test_parquet_integer_ids_with_a_gap_keep_every_digit(tmp_path: Path) -> None:
    """Through float64 two 17-digit basket ids became one (a whole retailer's log: 20,022 baskets
    read as 5,337), in the whole-file read and in the event source's window read alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assoc_pipeline.resources.event_source import read_parquet_events_window

    orders = [20000000000000001, 20000000000000001, 20000000000000002, 20000000000000003, None]
    table = pa.table({"ts": ["2024-01-01"] * 5, "order": pa.array(orders, pa.int64()), "sku": list("abacd")})
    pq.write_table(table, tmp_path / "log.parquet")
    mapping = {"event_time": "ts", "basket_id": "order", "item_id": "sku"}
    whole = read_events(tmp_path / "log.parquet", "events", mapping)
    window = read_parquet_events_window(tmp_path / "log.parquet", None, None, mapping)
    for events in (whole, window):
        assert events["basket_id"].iloc[:4].tolist() == [str(o) for o in orders[:4]]
        assert pd.isna(events["basket_id"].iloc[4])


def test_blank_ids_are_missing_not_one_basket(tmp_path: Path) -> None:
    """A blank basket id was the id "": every blank row of every order went into one basket."""
    log = write(tmp_path, "log.csv", "ts,order,sku\n2024-01-01,  ,a\n2024-01-01,  ,b\n2024-01-02,7, \n")
    events = read_events(log, "events", {"event_time": "ts", "basket_id": "order", "item_id": "sku"})
    assert events["basket_id"].isna().tolist() == [True, True, False]
    assert events["item_id"].isna().tolist() == [False, False, True]


@pytest.mark.parametrize("canonical", ["quantity", "user_id", "unit_price"])
def test_a_mapped_column_missing_from_the_file_is_named(tmp_path: Path, canonical: str) -> None:
    """A misspelt quantity column made every return a purchase of 1, without a word."""
    log = write(tmp_path, "log.csv", "ts,order,sku,Qty,cust,Price\n2024-01-01,1,a,-1,u1,2.5\n")
    mapping = {"event_time": "ts", "basket_id": "order", "item_id": "sku", canonical: "missing_column"}
    with pytest.raises(InputError, match=r"log\.csv: missing column\(s\) 'missing_column'"):
        read_events(log, "events", mapping)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (["10/01/2023 08:03", "15/02/2023 09:00"], ["2023-01-10", "2023-02-15"]),  # day-first
        (["31/01/2023", "10/01/2023"], ["2023-01-31", "2023-01-10"]),
        (["01/10/2023", "02/15/2023"], ["2023-01-10", "2023-02-15"]),  # month-first
        (["2011-12-09 12:50:00", "2010-12-01 08:26:00"], ["2011-12-09", "2010-12-01"]),
    ],
)
def test_a_date_column_is_read_with_one_format(tmp_path: Path, times: list[str], expected: list[str]) -> None:
    """Row by row, a day-first log's "10/01/2023" was October 1st beside "15/02/2023" as February
    15th: a third of a retailer's rows got the wrong month, silently."""
    rows = "".join(f"{t},{i},a\n" for i, t in enumerate(times))
    events = read_events(write(tmp_path, "log.csv", "ts,order,sku\n" + rows), "events", MAPPING_TS)
    assert events["event_time"].dt.strftime("%Y-%m-%d").tolist() == expected


def test_basket_lines_and_fimi_become_events(tmp_path: Path) -> None:
    groceries = read_events(write(tmp_path, "baskets.csv", "milk,bread\nbread\nmilk,eggs,bread\n"))
    assert groceries.groupby("basket_id")["item_id"].apply(sorted).tolist() == [
        ["bread", "milk"],
        ["bread"],
        ["bread", "eggs", "milk"],
    ]
    fimi = read_events(write(tmp_path, "t.dat", "1 2 3\n2 3\n"))
    assert sorted(fimi["item_id"].tolist()) == ["1", "2", "2", "3", "3"]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "message"),
    [
        ("nothere.csv", None, "auto", "file not found"),
        ("events.json", "{}", "auto", "unknown format"),
        ("empty.csv", "", "auto", "file is empty"),
        ("header.csv", RETAIL_CSV.splitlines()[0] + "\n", "online_retail", "no rows"),
        ("x.csv", RETAIL_CSV, "orc", "source format 'orc'"),
    ],
)
def test_bad_files_get_clear_errors(
    tmp_path: Path, name: str, content: str | None, fmt: str, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        read_events(path, fmt)
    if content is not None and fmt != "orc":
        assert str(path) in str(err.value)


def test_misnamed_column_is_named_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "retail.csv", RETAIL_CSV.replace("InvoiceDate", "Invoice_Date"))
    with pytest.raises(
        InputError, match=r"missing column\(s\) 'InvoiceDate' \(found 'Invoice_Date': misnamed\?\)"
    ):
        read_events(path, "online_retail")


def test_unparsable_date_names_column_and_row(tmp_path: Path) -> None:
    path = write(tmp_path, "retail.csv", RETAIL_CSV.replace("2010-12-01 09:41:00,27.5", "yesterday,27.5"))
    with pytest.raises(InputError, match=r"column 'InvoiceDate' .* data row 3: 'yesterday'"):
        read_events(path)


def test_non_numeric_quantity_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "retail.csv", RETAIL_CSV.replace(",6,2010", ",six,2010", 1))
    with pytest.raises(InputError, match=r"column 'Quantity' must hold whole numbers; data row 1: 'six'"):
        read_events(path)


def test_unknown_mapping_column_is_a_setting_error(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "event_time,basket_id,item_id\n2024-01-01,1,A\n")
    with pytest.raises(InputError, match=r"column_mapping: unknown canonical column\(s\) \['sku'\]"):
        read_events(path, "events", {"sku": "item_id"})
