"""Mining assets in the shared real-data run, the rules check, and the `mine` CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assoc_pipeline.assets.mining import ItemsetConfig, frequent_itemsets
from assoc_pipeline.checks.rules_checks import rules_problems
from assoc_pipeline.core.tables import read_table
from assoc_pipeline_tests.conftest import REFERENCE_DATA
from assoc_pipeline_tests.evaluation.helpers import make_baskets


def latest(instance: dg.DagsterInstance, key: str) -> dict:
    return instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization.metadata


def test_itemsets_and_rules_are_materialized_with_readable_metadata(demo_run) -> None:
    settings, instance, _ = demo_run
    itemsets = latest(instance, "frequent_itemsets")
    assert sum(itemsets["counts_by_length"].value.values()) == itemsets["dagster/row_count"].value > 0
    rules_meta = latest(instance, "association_rules")
    table = rules_meta["top_rules_by_lift"].value
    vocabulary = pd.read_parquet(settings.data_dir / "assets" / "baskets" / "vocabulary.parquet")
    first_rule = table.split("\n")[2].split("|")[1].strip()  # row 1 of the markdown table
    first_item = first_rule[1:].split(",")[0].split("}")[0]
    assert " => " in first_rule and first_item in set(vocabulary["item_name"])  # names, not ids
    for picture in ("scatter", "network"):
        png = Path(rules_meta[f"{picture}_png"].value)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert rules_meta[picture].value.startswith(f"![{picture}](data:image/png;base64,")
    rules = read_table(settings.data_dir / "assets" / "association_rules.parquet")
    assert len(rules) == rules_meta["dagster/row_count"].value
    assert (rules["confidence"] >= 0.5).all() and (rules["lift"] >= 1.0).all()
    assert rules["consequent"].map(len).eq(1).all()
    assert rules["rule"].str.contains(" => ").all()


def test_rules_check_passed_and_catches_broken_rules(demo_run) -> None:
    settings, _, summary = demo_run
    assert summary["checks"]["rules_sanity"] == [True]
    rules = read_table(settings.data_dir / "assets" / "association_rules.parquet")
    broken = pd.concat([rules, rules.head(2)], ignore_index=True)
    broken.loc[2, "confidence"] = 1.5
    broken.at[3, "consequent"] = ()
    problems = rules_problems(broken)
    assert problems["duplicates"] == 2 and problems["confidence_out_of_range"] == 1
    assert problems["empty_consequent"] == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"device": "gpu"}, r"device must be one of \('auto', 'cpu', 'cuda'\), got 'gpu'"),
        ({"device": "cuda", "backend": "mlxtend"}, "runs the native backend, not backend='mlxtend'"),
    ],
)
def test_itemset_device_setting_is_checked(settings: dict, message: str) -> None:
    context = dg.build_asset_context(resources={"io_manager": dg.mem_io_manager})
    baskets = make_baskets([("u1", "2011-01-01", [0, 1]), ("u2", "2011-01-02", [0, 1])], 3)
    with pytest.raises(ValueError, match=message):
        frequent_itemsets(context, ItemsetConfig(**settings), baskets)


def test_itemsets_on_the_gpu_path_say_so(gpu_path_runs: list[str]) -> None:
    """``device: cuda`` reaches the torch kernel (on torch's CPU device where no GPU is present)."""
    context = dg.build_asset_context(resources={"io_manager": dg.mem_io_manager})
    baskets = make_baskets([("u1", "2011-01-01", [0, 1, 2]), ("u2", "2011-01-02", [0, 1])] * 3, 3)
    out = frequent_itemsets(context, ItemsetConfig(device="cuda", min_support=0.5), baskets)
    assert len(gpu_path_runs) == 1 and out.metadata["device"].value == "cuda"
    assert {tuple(t): c for t, c in zip(out.value.table["items"], out.value.table["count"], strict=True)} == {
        (0,): 6,
        (1,): 6,
        (2,): 3,
        (0, 1): 6,
        (0, 2): 3,
        (1, 2): 3,
        (0, 1, 2): 3,
    }


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assoc_pipeline.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_mines_groceries_like_arules(tmp_path: Path) -> None:
    groceries = REFERENCE_DATA / "groceries" / "groceries.csv"
    out = tmp_path / "rules.parquet"
    done = run_cli(
        "mine", str(groceries), "--min-support", "0.001", "--min-confidence", "0.8", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "9,835 baskets, 169 items" in done.stdout and "rules     : 410 " in done.stdout
    rules = read_table(out)
    assert len(rules) == 410 and rules.iloc[0]["rule"] == "{liquor, red/blush wine} => {bottled beer}"
    assert tuple(rules.iloc[0]["antecedent"]) == ("liquor", "red/blush wine")
    assert tuple(rules.iloc[0]["consequent"]) == ("bottled beer",)
    csv = run_cli(
        "mine", str(groceries), "--min-support", "0.001", "--min-confidence", "0.8", "--format", "csv"
    )
    lines = csv.stdout.strip().splitlines()
    assert lines[0].startswith("rule,support,confidence,lift") and len(lines) == 411


def test_cli_mines_an_event_log_and_a_fimi_file(retail_sample_csv: Path, tmp_path: Path) -> None:
    done = run_cli("mine", str(retail_sample_csv), "--min-support", "0.02", "--min-confidence", "0.5")
    assert done.returncode == 0, done.stderr
    assert "cleaning  : kept" in done.stdout and "top rules by lift" in done.stdout
    dat = tmp_path / "t.dat"
    dat.write_text("1 2 3\n1 2\n1 2 4\n2 3\n")
    done = run_cli("mine", str(dat), "--min-support", "2", "--min-confidence", "0.6", "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert "{1} => {2},0.75,1.0,1.0,3,0.0,inf" in done.stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mine", "/nonexistent/file.csv", "--min-support", "0.1"], "file not found"),
        (["mine", "README.md", "--min-support", "0.1"], "unknown format"),
    ],
)
def test_cli_bad_input_is_a_clear_error(args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
