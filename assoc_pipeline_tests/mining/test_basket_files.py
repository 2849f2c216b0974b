"""One-basket-per-line readers and the synthetic generator."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from assoc_pipeline.core.data.basket_line_files import read_basket_csv, read_baskets, read_fimi
from assoc_pipeline.core.data.quest_baskets import quest_baskets
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.mining import mine_itemsets

from .conftest import dataset


def test_fimi_parses_whitespace_gzip_and_blank_lines(tmp_path: Path) -> None:
    text = b"3 10 7 \n10 3\r\n\n  42\n7"  # trailing spaces, CRLF, blank line, no final newline
    plain = tmp_path / "x.dat"
    plain.write_bytes(text)
    zipped = tmp_path / "x.dat.gz"
    zipped.write_bytes(gzip.compress(text))
    marked = tmp_path / "bom.dat"  # saved by an editor that starts UTF-8 with a byte-order mark
    marked.write_bytes(b"\xef\xbb\xbf" + text)
    for path in (plain, zipped, marked):
        bs = read_baskets(path)
        assert bs.vocabulary["item_id"].tolist() == ["3", "7", "10", "42"]
        assert [b.tolist() for b in bs.item_lists()] == [[0, 1, 2], [0, 2], [3], [1]]
        assert bs.vocabulary["n_baskets"].tolist() == [2, 2, 2, 1]


def test_csv_strips_names_and_sorts_items(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("milk,bread \nbeer\n\ncream cheese ,milk,milk\n", encoding="utf-8")
    bs = read_basket_csv(path)
    assert bs.vocabulary["item_name"].tolist() == ["beer", "bread", "cream cheese", "milk"]
    assert [b.tolist() for b in bs.item_lists()] == [[1, 3], [0], [2, 3]]
    quoted = tmp_path / "q.csv"
    quoted.write_text('"a, b",c\n', encoding="utf-8")
    assert read_basket_csv(quoted).vocabulary["item_name"].tolist() == ["a, b", "c"]


def test_line_ends_are_lf_crlf_or_cr_in_both_readers(tmp_path: Path) -> None:
    """An old-Mac file (CR only) was one FIMI basket; a Unicode line separator inside a name split
    a basket CSV line in two (str.splitlines), unless the file had a quote somewhere."""
    for ending in ("\n", "\r\n", "\r"):
        fimi = tmp_path / "cr.dat"
        fimi.write_bytes(ending.join(["1 2 3", "1 2", "", "2 3", ""]).encode())
        assert [b.tolist() for b in read_fimi(fimi).item_lists()] == [[0, 1, 2], [0, 1], [1, 2]]
        for quote in ("", '"'):
            lines = tmp_path / "b.csv"
            lines.write_text(
                ending.join([f"{quote}salt\u2028pepper{quote},bread", "milk", ""]), encoding="utf-8"
            )
            names = read_basket_csv(lines).vocabulary["item_name"].tolist()
            assert names == ["bread", "milk", "salt\u2028pepper"], (repr(ending), quote)


@pytest.mark.parametrize(
    "content",
    [
        'milk,bread\nmilk,bread\n"special,cola\nmilk,bread\nmilk,eggs\n',  # open to the end
        'milk\n"special,cola\nmilk,"bread"\n',  # open until a later quote
    ],
)
def test_a_quote_left_open_is_an_error_not_one_long_item(tmp_path: Path, content: str) -> None:
    """It swallowed every line after it into one item: 5 baskets were read as 3."""
    path = tmp_path / "open.csv"
    path.write_text(content, encoding="utf-8")
    line = content.split("\n").index(next(ln for ln in content.split("\n") if ln.startswith('"'))) + 1
    with pytest.raises(InputError, match=rf"open\.csv: line {line}: .*quote left open"):
        read_basket_csv(path)


@pytest.mark.parametrize(("name", "content"), [("e.dat", b""), ("e.csv", b"\n\n"), ("e.dat", b"  \n")])
def test_empty_files_name_the_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"e\.(dat|csv).*empty"):
        read_baskets(path)


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.dat.*not found"):
        read_baskets(tmp_path / "nope.dat")
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"1 2 x\n")
    with pytest.raises(ValueError, match=r"bad\.dat.*line 1"):
        read_fimi(bad)
    broken = tmp_path / "broken.dat.gz"
    broken.write_bytes(gzip.compress(b"1 2 3\n")[:-6])
    with pytest.raises(ValueError, match=r"broken\.dat\.gz"):
        read_fimi(broken)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv.*UTF-8"):
        read_basket_csv(latin)


def test_fimi_shared_files() -> None:
    retail = read_fimi(dataset("fimi/retail.dat.gz"))
    assert retail.matrix.shape == (88162, 16470)
    t10 = read_fimi(dataset("fimi/T10I4D100K.dat.gz"))
    assert t10.matrix.shape == (100000, 870)
    assert t10.matrix.nnz / 100000 == pytest.approx(10.102, abs=1e-3)


def test_quest_baskets_is_seeded_and_quest_like() -> None:
    a = quest_baskets(5000, n_items=200, avg_len=8, n_patterns=100, seed=1)
    b = quest_baskets(5000, n_items=200, avg_len=8, n_patterns=100, seed=1)
    c = quest_baskets(5000, n_items=200, avg_len=8, n_patterns=100, seed=2)
    assert (a.matrix != b.matrix).nnz == 0 and (a.matrix != c.matrix).nnz > 0
    assert a.matrix.shape == (5000, 200) and a.vocabulary["item_name"].iat[0] == "item0"
    lens = np.diff(a.matrix.indptr)
    assert lens.min() >= 1 and 6 <= lens.mean() <= 10
    # planted patterns give long frequent itemsets that independent items would not
    assert max(mine_itemsets(a.matrix, 0.01).table["length"]) >= 4


def test_basket_arrays_mine_like_the_matrix(tmp_path: Path) -> None:
    """The numpy-only reader's arrays (unsorted ids, repeats, blank lines, big ids) are the
    canonical CSR of the BasketSet, and every backend mines them to the same itemsets."""
    from assoc_pipeline.core.data.basket_arrays import read_fimi_arrays

    path = tmp_path / "messy.dat"
    path.write_bytes(b"9 3 3 100000000000\n\n3 9\t7\r\n7 3 9 9\n100000000000 7\n")
    arrays = read_fimi_arrays(path)
    matrix = read_fimi(path).matrix
    assert arrays.labels == ["3", "7", "9", "100000000000"]
    assert arrays.indptr.tolist() == matrix.indptr.tolist() == [0, 3, 6, 9, 11]
    assert arrays.indices.tolist() == matrix.indices.tolist() == [0, 2, 3, 0, 1, 2, 0, 1, 2, 1, 3]
    mushroom = read_fimi_arrays(dataset("fimi/mushroom.dat"))
    for backend, kernel in (("native", "numpy"), ("native", "numba"), ("mlxtend", None)):
        options = {"kernel": kernel} if kernel else {}
        got = mine_itemsets(mushroom, 0.4, backend=backend, **options).digest()
        assert got == mine_itemsets(mushroom.to_scipy(), 0.4, backend=backend, **options).digest()
