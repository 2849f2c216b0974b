"""`assoc-pipeline mine` through the real entry point: results, and one clear line per user mistake."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from assoc_pipeline.cli import main

from .conftest import dataset

GROCERIES = "groceries/groceries.csv"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["mine", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-support", "0"], "min_support must be a fraction"),
        (["--min-support", "-3"], "min_support must be a fraction"),
        (["--min-support", "2.5"], "must be whole"),
        (["--min-support", "20000"], "more than the 9,835 baskets"),
        (["--min-support", "0.01", "--min-confidence", "1.5"], "min_confidence must be in [0, 1]"),
        (["--min-support", "0.01", "--min-confidence", "-0.1"], "min_confidence must be in [0, 1]"),
        (["--min-support", "0.01", "--max-len", "0"], "max_len must be >= 1"),
        (["--min-support", "0.01", "--min-lift", "-1"], "min_lift must be >= 0"),
        (["--min-support", "0.01", "--input-format", "xml"], "input_format must be one of"),
        (["--min-support", "0.00001"], "itemset explosion"),
        (["--min-support", "inf"], "min_support must be a fraction"),
        (
            ["--min-support", "0.01", "--output", "no_such_folder/r.csv"],
            "folder no_such_folder does not exist",
        ),
        (["--min-support", "0.01", "--output", "rules.json"], "expected a .csv or .parquet file name"),
        (["--min-support", "0.01", "--output", "r.csv", "--format", "csv"], "use one"),
        (["--min-support", "0.01", "--level", "1"], "--level 1 applies to --categories only"),
        (
            ["--min-support", "0.01", "--device", "cuda", "--backend", "mlxtend"],
            "--backend mlxtend runs on the CPU",
        ),
        (
            ["--min-support", "0.01", "--device", "cuda", "--kernel", "numba"],
            "--kernel numba runs on the CPU",
        ),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli([str(dataset(GROCERIES)), *args], capsys)
    assert code == 2
    assert "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("assoc-pipeline: error: ")
    assert message in lines[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "file not found"),
        ("baskets.xyz", b"a,b\n", "unknown format"),
        ("empty.dat", b"", "no baskets (empty file)"),
        ("bad.dat", b"1 2 x\n", "not a FIMI file"),
    ],
)
def test_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, name: str, content: bytes | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out, err = run_cli([str(path), "--min-support", "0.5"], capsys)
    assert code == 2 and "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and name in lines[0]


@pytest.mark.parametrize("choice", [["--kernel", "numba"], ["--kernel", "numpy"], ["--device", "cuda"]])
def test_csv_to_stdout_is_arules_410_rules(
    choice: list[str], capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    """Each kernel, and the GPU path (on torch's CPU device where no GPU is present)."""
    gpu_runs = request.getfixturevalue("gpu_path_runs") if choice[0] == "--device" else []
    args = [str(dataset(GROCERIES)), "--min-support", "0.001", "--format", "csv", *choice]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "rules     : 410" in err
    assert len(gpu_runs) == (choice[0] == "--device") and ("on the GPU" in err) == bool(gpu_runs)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 410
    top = rows[0]  # sorted by lift
    assert top["rule"] == "{liquor, red/blush wine} => {bottled beer}" and top["count"] == "19"
    assert float(top["lift"]) == pytest.approx(11.23527, abs=5e-6)


@pytest.mark.parametrize("suffix", [".csv", ".PARQUET"])
def test_output_files_name_the_items(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The sides are the file's item ids (arules' {a,b} in CSV), not the matrix's column positions:
    item 7 was written as 1 and item 5 as 0."""
    baskets = tmp_path / "tiny.dat"
    baskets.write_text("5 7\n5 7\n5\n")
    out = tmp_path / f"rules{suffix}"
    code, _, _ = run_cli(
        [str(baskets), "--min-support", "1", "--min-confidence", "0.1", "--output", str(out)], capsys
    )
    assert code == 0
    if suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
        sides = {(r["antecedent"], r["consequent"]) for r in rows}
        assert sides == {("{7}", "{5}"), ("{5}", "{7}")}
    else:
        from assoc_pipeline.core.tables import read_table

        table = read_table(out)
        sides = {(tuple(a), tuple(c)) for a, c in zip(table["antecedent"], table["consequent"], strict=True)}
        assert sides == {(("7",), ("5",)), (("5",), ("7",))}


def test_another_retailers_log_is_mined_through_its_column_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the mapping (which `mine` ignored) each CSV line, header included, was one basket of
    one item, and the 'rules' were between prices and SKUs; now --map, or the mapping every other
    command reads, makes it an event log, with the rows dropped counted by reason."""
    from assoc_pipeline.core.data.example_retailer import COLUMN_MAPPING, example_retailer_log

    log = example_retailer_log(n_customers=60)
    log.to_csv(tmp_path / "shop.csv", index=False)
    mapping = ",".join(f"{k}={v}" for k, v in COLUMN_MAPPING.items())
    args = [str(tmp_path / "shop.csv"), "--min-support", "0.05"]
    code, out, _ = run_cli([*args, "--map", mapping], capsys)
    baskets = f"({log.loc[log['qty'] > 0, 'order_id'].nunique():,} baskets"  # returns are dropped
    assert code == 0 and baskets in out and "(dropped: return " in out
    monkeypatch.setenv("ASSOC_COLUMN_MAP", mapping)
    code, from_settings, _ = run_cli(args, capsys)
    assert code == 0 and from_settings.splitlines()[:2] == out.splitlines()[:2]


def test_device_cuda_without_a_gpu_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, out, err = run_cli([str(dataset(GROCERIES)), "--min-support", "0.01", "--device", "cuda"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "sees no CUDA device" in lines[0] and "use --device cpu" in lines[0]


def test_min_lift_is_applied_like_the_asset(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(dataset(GROCERIES)), "--min-support", "0.001", "--min-confidence", "0.5", "--format", "csv"]
    code, out, _ = run_cli([*args, "--min-lift", "3"], capsys)
    lifted = list(csv.DictReader(io.StringIO(out)))
    code_all, out_all, _ = run_cli(args, capsys)
    everything = list(csv.DictReader(io.StringIO(out_all)))
    assert code == code_all == 0 and len(everything) == 5668
    assert len(lifted) == sum(float(r["lift"]) >= 3 for r in everything) > 0


@pytest.mark.parametrize(
    ("data", "extra"),
    [
        ("fimi/mushroom.dat", ["--min-support", "0.3"]),
        (GROCERIES, ["--min-support", "0.01", "--min-confidence", "0.3", "--input-format", "basket_lines"]),
    ],
)
def test_csv_of_a_basket_file_loads_no_pandas_scipy_or_numba(data: str, extra: list[str]) -> None:
    """The command line reads, mines and writes a basket file with numpy alone: pandas and scipy
    cost ~1.5 s at import and numba ~1-2 s, more than the whole run (benchmarks/RESULTS.md)."""
    import subprocess
    import sys

    code = (
        "import contextlib, io, sys\n"
        "from assoc_pipeline.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['mine', {str(dataset(data))!r}, '--format', 'csv', *{extra!r}])\n"
        "heavy = [m for m in ('pandas', 'scipy', 'numba', 'dagster', 'mlflow') if m in sys.modules]\n"
        "print(code, out.getvalue().count(chr(10)), ' '.join(heavy))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "ASSOC_MINING_KERNEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    status, lines, *heavy = done.stdout.split()
    assert status == "0" and int(lines) > 1  # a header and some rules
    assert heavy == [], f"loaded: {heavy}"


def test_one_shot_kernel_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that mines once skips numba's load for small inputs; explicit choices, the
    environment and an already loaded numba are respected."""
    import sys

    from assoc_pipeline.core.mining.native_backend import KERNEL_ENV, NUMBA_WORTH_LOADING, kernel_for_one_run

    monkeypatch.delenv(KERNEL_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    assert kernel_for_one_run("auto", 1_000) == "numpy"
    assert kernel_for_one_run("auto", NUMBA_WORTH_LOADING) == "auto"
    assert kernel_for_one_run("numba", 1_000) == "numba"
    monkeypatch.setenv(KERNEL_ENV, "numba")
    assert kernel_for_one_run("auto", 1_000) == "auto"
    monkeypatch.delenv(KERNEL_ENV)
    monkeypatch.setitem(sys.modules, "numba", object())
    assert kernel_for_one_run("auto", 1_000) == "auto"
