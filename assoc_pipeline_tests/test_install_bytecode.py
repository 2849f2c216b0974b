"""`make install`'s bytecode step (scripts/precompile.py): what it compiles, and that its list is current."""

from __future__ import annotations

import importlib
import sysconfig
from importlib.util import cache_from_source
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def precompile(monkeypatch):
    """scripts/precompile.py as a module (importable by name: its worker processes unpickle it)."""
    monkeypatch.syspath_prepend(str(REPO / "scripts"))
    return importlib.import_module("precompile")


def test_listed_folders_get_bytecode_and_others_do_not(tmp_path, precompile):
    for name in ("listed/a.py", "listed/deeper/b.py", "other/c.py", "listed/broken.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("def broken(:\n" if "broken" in name else "X = 1\n")
    folder_list = tmp_path / "folders.txt"
    folder_list.write_text("# a comment\nlisted\n\ngone/away\n")

    files, missing = precompile.modules_in(tmp_path, precompile.read_folders(folder_list))
    failed = precompile.compile_files(files, workers=2)

    assert [f.name for f in files] == ["a.py", "broken.py"] and missing == 1
    assert failed == 1
    assert Path(cache_from_source(tmp_path / "listed" / "a.py")).is_file()
    assert not Path(cache_from_source(tmp_path / "listed" / "deeper" / "b.py")).exists()  # not listed itself
    assert not Path(cache_from_source(tmp_path / "other" / "c.py")).exists()


def test_shipped_list_matches_this_environment(precompile):
    """A dependency bump that moved the libraries' folders shows here: regenerate the list
    (python benchmarks/pipeline.py --dry-run --record-imports scripts/bytecode_folders.txt)."""
    folders = precompile.read_folders(precompile.FOLDER_LIST)
    _, missing = precompile.modules_in(Path(sysconfig.get_paths()["purelib"]), folders)
    assert {"dagster", "torch", "pandas", "mlflow", "great_expectations"} <= set(folders)
    assert missing <= 0.05 * len(folders), f"{missing} of {len(folders)} listed folders are not installed"
