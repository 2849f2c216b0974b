"""The canonical event schema and adapters from the formats retailers actually have.

Every source is turned into one table, so cleaning, baskets and contracts are written once:

==============  ==============  =================================================
column          dtype           meaning
==============  ==============  =================================================
event_time      datetime64[ns]  when the line was recorded (naive, source local time)
basket_id       str             invoice / transaction / order id
user_id         str, nullable   customer id; missing for anonymous baskets
item_id         str             product code (SKU)
item_name       str, nullable   product description
quantity        int64           units; negative for returns
unit_price      float64         price per unit; NaN when the source has none
event_type      str             ``purchase`` | ``return`` | ``cancellation``
country         str             country or store
==============  ==============  =================================================
"""

from __future__ import annotations

import csv
import difflib
import gzip
import os
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from assoc_pipeline.core.errors import InputError

CANONICAL_COLUMNS: dict[str, str] = {
    "event_time": "datetime64[ns]",
    "basket_id": "str",
    "user_id": "str",
    "item_id": "str",
    "item_name": "str",
    "quantity": "int64",
    "unit_price": "float64",
    "event_type": "str",
    "country": "str",
}
EVENT_TYPES = ("purchase", "return", "cancellation")
REQUIRED_MAPPED = ("event_time", "basket_id", "item_id")

ONLINE_RETAIL_COLUMNS = {
    "InvoiceNo": "basket_id",
    "StockCode": "item_id",
    "Description": "item_name",
    "Quantity": "quantity",
    "InvoiceDate": "event_time",
    "UnitPrice": "unit_price",
    "CustomerID": "user_id",
    "Country": "country",
}
FORMATS = ("auto", "online_retail", "events", "basket_lines", "fimi")
# What a reader raises on a file it cannot decode (bad gzip, bad encoding, bad CSV quoting, ...).
_READ_ERRORS = (ValueError, OSError, EOFError, zlib.error, csv.Error)


def detect_format(path: Path, column_mapping: Mapping[str, str] | None = None) -> str:
    """Guess a file's format from its name and (for CSV) its header line: an event log when the
    header holds the required columns under their canonical or mapped names."""
    name = path.name.lower()
    if name.endswith((".dat", ".dat.gz")):
        return "fimi"
    if name.endswith((".xlsx", ".xls")):
        return "online_retail"
    if name.endswith(".parquet"):
        return "events"
    if name.endswith((".csv", ".csv.gz", ".txt", ".txt.gz")):
        try:
            header = pd.read_csv(path, nrows=0).columns
        except pd.errors.EmptyDataError as exc:
            raise InputError(f"{path}: no header line (only blank lines?)") from exc
        except _READ_ERRORS as exc:
            raise InputError(f"{path}: could not be read as CSV: {type(exc).__name__}: {exc}") from exc
        if {"InvoiceNo", "StockCode"} <= set(header):
            return "online_retail"
        if {(column_mapping or {}).get(c, c) for c in REQUIRED_MAPPED} <= set(header):
            return "events"
        return "fimi" if _looks_like_fimi(path) else "basket_lines"
    raise InputError(
        f"{path}: unknown format (extension of {path.name!r}); expected one of .csv, .csv.gz, .xlsx, "
        f".parquet, .dat, .dat.gz, or set the format explicitly ({', '.join(FORMATS[1:])})"
    )


def _looks_like_fimi(path: Path, sample: int = 1 << 16) -> bool:
    """Only digits and whitespace, with several ids on some line: a FIMI file under another name
    (``retail.txt``). Read as a basket CSV each line would be one item ("1 2 3"), and nothing
    frequent would be found."""
    try:
        with open(path, "rb") as fh:
            opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            head = fh.read(sample)
    except (OSError, EOFError, zlib.error):  # a damaged file: the reader it goes to names the damage
        return False
    if not head or head.translate(None, b"0123456789 \t\r\n"):
        return False
    return any(len(line.split()) > 1 for line in head.splitlines())


def read_events(
    path: str | os.PathLike,
    fmt: str = "auto",
    column_mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read any supported file into the canonical event schema, or raise :class:`InputError`."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InputError(f"source format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an event file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    if fmt == "auto":
        fmt = detect_format(path, column_mapping)
    if fmt == "online_retail":
        return _read_online_retail(path)
    if fmt == "events":
        return _read_generic(path, column_mapping or {})
    return _read_basket_file(path, fmt)


def _read_table(path: Path, dtype: Mapping[str, object] | None = None) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".parquet"):
            df = pd.read_parquet(path, to_pandas_kwargs=PARQUET_TO_PANDAS)
        elif name.endswith((".xlsx", ".xls")):
            df = pd.read_excel(path, dtype=dtype)
        else:
            df = pd.read_csv(path, dtype=dtype, keep_default_na=True)
    except MemoryError:
        raise
    except Exception as exc:  # one library call: whatever it raises, the file is not a readable table
        raise InputError(f"{path}: could not be read as a table: {type(exc).__name__}: {exc}") from exc
    if df.empty:
        raise InputError(f"{path}: has a header but no rows")
    return df


def _require_columns(path: Path, df: pd.DataFrame, required: list[str]) -> None:
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    hints = []
    for col in missing:
        close = difflib.get_close_matches(col, [str(c) for c in df.columns], n=1, cutoff=0.6)
        hints.append(f"{col!r}" + (f" (found {close[0]!r}: misnamed?)" if close else ""))
    raise InputError(
        f"{path}: missing column(s) {', '.join(hints)}; columns present: {', '.join(map(str, df.columns))}"
    )


def _one_format(values: pd.Series) -> pd.Series | None:
    """The column parsed with one format for every row (pandas infers it), month-first when that
    fits every row, else day-first; None when neither fits. Guessing row by row read a day-first
    log's "10/01/2023" as October 1st beside "15/02/2023" as February 15th: a third of a
    retailer's rows got the wrong month, without a word."""
    for dayfirst in (False, True):
        try:
            with warnings.catch_warnings():  # pandas warns when the format it infers is day-first
                warnings.simplefilter("ignore", UserWarning)
                return pd.to_datetime(values, errors="raise", dayfirst=dayfirst)
        except (ValueError, TypeError, OverflowError):
            continue
    return None


def _parse_times(path: Path, column: str, values: pd.Series) -> pd.Series:
    parsed = _one_format(values)
    if parsed is None:  # no single format fits: row by row, and unparsable rows are reported below
        try:
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. mixed time zones, timedeltas
            raise InputError(f"{path}: column {column!r} cannot be read as dates: {exc}") from exc
    bad = parsed.isna() & values.notna()
    if values.isna().any() or bad.any():
        row = int(np.flatnonzero((bad | values.isna()).to_numpy())[0])
        raise InputError(
            f"{path}: column {column!r} has {int(bad.sum() + values.isna().sum())} unparsable or missing "
            f"date(s), first at data row {row + 1}: {values.iloc[row]!r}"
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    out_of_range = (parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)
    if out_of_range.any():
        row = int(np.flatnonzero(out_of_range.to_numpy())[0])
        raise InputError(
            f"{path}: column {column!r} has {int(out_of_range.sum())} date(s) outside "
            f"{pd.Timestamp.min:%Y-%m-%d}..{pd.Timestamp.max:%Y-%m-%d}, first at data row {row + 1}: "
            f"{values.iloc[row]!r}"
        )
    return parsed.astype("datetime64[ns]")


def _numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``values`` as numbers (NaN where not a number; booleans are not numbers), and as floats."""
    if pd.api.types.is_bool_dtype(values):
        values = pd.Series(np.nan, index=values.index)
    num = pd.to_numeric(values, errors="coerce")
    return num, num.to_numpy(dtype="float64", na_value=np.nan)


def _to_int(path: Path, column: str, values: pd.Series) -> pd.Series:
    num, as_float = _numbers(values)
    bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
    if num.dtype.kind not in "i":  # floats and uint64 may lie outside int64: astype would wrap
        bad |= np.abs(as_float) >= 2.0**63
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: column {column!r} must hold whole numbers; data row {row + 1}: {values.iloc[row]!r}"
        )
    return num.astype("int64")


def _to_float(path: Path, column: str, values: pd.Series) -> pd.Series:
    num, as_float = _numbers(values)
    bad = (num.isna() & values.notna()).to_numpy() | np.isinf(as_float)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: column {column!r} must be a finite number; data row {row + 1}: {values.iloc[row]!r}"
        )
    return num.astype("float64")


def _ids(values: pd.Series) -> pd.Series:
    """Ids as strings; numeric ids read as floats (17850.0) lose their '.0' (when all are whole)."""
    if pd.api.types.is_float_dtype(values):
        f = values.to_numpy(dtype="float64", na_value=np.nan)
        f = f[~np.isnan(f)]
        if np.isfinite(f).all() and (f == np.round(f)).all() and (np.abs(f) < 2.0**63).all():
            values = values.astype("Int64")
    out = values.astype("str").where(values.notna(), None).str.strip()
    return out.where(out != "", None)  # a blank id is a missing one, not one basket of all blanks


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order and dtypes. Missing ids are kept: the raw contract reports them."""
    out = pd.DataFrame({c: df[c] for c in CANONICAL_COLUMNS})
    return out.astype({c: t for c, t in CANONICAL_COLUMNS.items() if c not in ("user_id", "item_name")})


def _event_types(basket_id: pd.Series, quantity: pd.Series, cancel_prefix: str | None) -> pd.Series:
    types = np.where(quantity.to_numpy() < 0, "return", "purchase").astype(object)
    if cancel_prefix:
        types[basket_id.str.startswith(cancel_prefix).to_numpy()] = "cancellation"
    return pd.Series(types, index=basket_id.index, dtype="str")


def _read_online_retail(path: Path) -> pd.DataFrame:
    """UCI Online Retail (CSV, CSV.gz or the original XLSX); invoices starting 'C' are cancellations."""
    raw = _read_table(path, dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "Country": str})
    _require_columns(path, raw, list(ONLINE_RETAIL_COLUMNS))
    df = pd.DataFrame(index=raw.index)
    df["basket_id"] = _ids(raw["InvoiceNo"])
    df["item_id"] = _ids(raw["StockCode"])
    df["item_name"] = raw["Description"].astype("str").where(raw["Description"].notna(), None)
    df["quantity"] = _to_int(path, "Quantity", raw["Quantity"])
    df["event_time"] = _parse_times(path, "InvoiceDate", raw["InvoiceDate"])
    df["unit_price"] = _to_float(path, "UnitPrice", raw["UnitPrice"])
    df["user_id"] = _ids(raw["CustomerID"])
    df["country"] = raw["Country"].astype("str").fillna("")
    df["event_type"] = _event_types(df["basket_id"], df["quantity"], cancel_prefix="C")
    return _finish(df)


# integer columns with a gap stay integers (Python ints), not float64: 17-digit basket ids read
# through float lost their last digits, and 20,022 baskets became 5,337
PARQUET_TO_PANDAS = {"integer_object_nulls": True}

# read as text from CSV / Excel: as numbers, "007" and "7" would be one item, and long ids in a
# column with a gap (floats) would lose digits and merge baskets
TEXT_COLUMNS = ("basket_id", "item_id", "user_id", "item_name", "country")


def _read_generic(path: Path, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Any CSV/Parquet event log; ``mapping`` maps canonical names to the file's column names."""
    _check_mapping(mapping)
    text = {mapping.get(c, c): str for c in TEXT_COLUMNS}
    return canonical_from_frame(path, _read_table(path, dtype=text), mapping)


def _check_mapping(mapping: Mapping[str, str]) -> None:
    unknown = sorted(set(mapping) - set(CANONICAL_COLUMNS))
    if unknown:
        raise InputError(
            f"column_mapping: unknown canonical column(s) {unknown}; valid: {', '.join(CANONICAL_COLUMNS)}"
        )


def canonical_from_frame(path: Path, raw: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """The generic (format ``events``) mapping of an already read table; errors name ``path``.

    Shared by whole-file reads and the partition-pruned Parquet reads of the event source.
    """
    _check_mapping(mapping)
    colmap = {c: mapping.get(c, c) for c in CANONICAL_COLUMNS}
    # a column the mapping names must be there: a misspelt quantity column made every return a
    # purchase of 1, a misspelt customer column made every basket anonymous, without a word
    _require_columns(
        path, raw, list(dict.fromkeys([colmap[c] for c in REQUIRED_MAPPED] + list(mapping.values())))
    )
    has = {c: colmap[c] in raw.columns for c in CANONICAL_COLUMNS}
    df = pd.DataFrame(index=raw.index)
    df["event_time"] = _parse_times(path, colmap["event_time"], raw[colmap["event_time"]])
    df["basket_id"] = _ids(raw[colmap["basket_id"]])
    df["item_id"] = _ids(raw[colmap["item_id"]])
    df["user_id"] = (
        _ids(raw[colmap["user_id"]]) if has["user_id"] else pd.Series(None, index=raw.index, dtype="str")
    )
    df["item_name"] = raw[colmap["item_name"]].astype("str") if has["item_name"] else df["item_id"]
    df["quantity"] = _to_int(path, colmap["quantity"], raw[colmap["quantity"]]) if has["quantity"] else 1
    df["unit_price"] = (
        _to_float(path, colmap["unit_price"], raw[colmap["unit_price"]]) if has["unit_price"] else np.nan
    )
    df["country"] = raw[colmap["country"]].astype("str") if has["country"] else ""
    if has["event_type"]:
        types = raw[colmap["event_type"]].astype("str").str.lower()
        bad = ~types.isin(EVENT_TYPES)
        if bad.any():
            raise InputError(
                f"{path}: column {colmap['event_type']!r} has value {types[bad].iloc[0]!r}; "
                f"expected one of {', '.join(EVENT_TYPES)}"
            )
        df["event_type"] = types
    else:
        df["event_type"] = _event_types(df["basket_id"], df["quantity"], cancel_prefix=None)
    return _finish(df)


def _read_basket_file(path: Path, fmt: str) -> pd.DataFrame:
    """One basket per line (arules Groceries CSV, FIMI .dat): events without time or user."""
    from assoc_pipeline.core.data import basket_line_files as basket_files

    try:
        bs = basket_files.read_fimi(path) if fmt == "fimi" else basket_files.read_basket_csv(path)
    except _READ_ERRORS as exc:  # the readers name the file; csv/zlib/gzip errors do not
        message = str(exc) if str(path) in str(exc) else f"{path}: {type(exc).__name__}: {exc}"
        raise InputError(message) from exc
    return events_from_basket_set(bs)


def events_from_basket_set(bs) -> pd.DataFrame:
    """Explode a BasketSet into canonical events (one line per basket item)."""
    m = bs.matrix.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    vocab = bs.vocabulary
    times = bs.baskets["basket_time"].to_numpy()[rows] if "basket_time" in bs.baskets else pd.NaT
    users = bs.baskets["user_id"].to_numpy()[rows] if "user_id" in bs.baskets else None
    df = pd.DataFrame(
        {
            "event_time": pd.to_datetime(times),
            "basket_id": bs.baskets["basket_id"].astype("str").to_numpy()[rows],
            "user_id": pd.Series(users, dtype="str"),
            "item_id": vocab["item_id"].astype("str").to_numpy()[m.indices],
            "item_name": vocab["item_name"].astype("str").to_numpy()[m.indices],
            "quantity": np.ones(len(rows), dtype=np.int64),
            "unit_price": np.full(len(rows), np.nan),
            "event_type": "purchase",
            "country": bs.baskets["country"].astype("str").to_numpy()[rows]
            if "country" in bs.baskets
            else "",
        }
    )
    return df.astype({"event_time": "datetime64[ns]"})
