"""Customer-id pseudonymisation: the keyed hash itself, then a real Dagster run with the key set.

The run materializes raw_events and clean_events for two monthly partitions of real Online Retail
rows, then baskets, on an on-disk instance of its own, with ``ASSOC_PSEUDONYM_KEY`` set; it checks
that no source customer id survives into clean_events or baskets, that a customer has the same
pseudonym in both months and across re-runs, and that the key is nowhere in the instance: not
in any event log record, run config, job snapshot, compute log, nor any file of the run.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assoc_pipeline.core.data.cleaning import clean_events as clean
from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.privacy.pseudonymise import (
    PATTERN,
    key_id,
    pseudonym,
    pseudonym_share,
    pseudonymise_ids,
)
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.resources.pseudonymiser import PSEUDONYM_KEY_ENV, PseudonymiserResource
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS

KEY = "k" * 16


# --- the keyed hash --------------------------------------------------------------------------


def test_deterministic_per_key_and_different_across_keys() -> None:
    ids = pd.Series(["17850", "13047", "17850", None, "12583"], dtype="str")
    a, b = pseudonymise_ids(ids, KEY), pseudonymise_ids(ids.copy(), KEY)
    pd.testing.assert_series_equal(a, b)
    assert a.iloc[0] == a.iloc[2] == pseudonym("17850", KEY)
    assert a.nunique() == 3 and a.str.fullmatch(PATTERN.pattern).fillna(False).sum() == 4
    other = pseudonymise_ids(ids, "another key, 16+ bytes")
    assert not set(a.dropna()) & set(other.dropna())


def test_nulls_stay_null_and_output_is_a_string_column() -> None:
    ids = pd.Series([None, "1", None, "é🛒\x00"], dtype="str", name="user_id")
    out = pseudonymise_ids(ids, KEY)
    assert out.isna().tolist() == [True, False, True, False]
    assert pd.api.types.is_string_dtype(out.dtype) and out.name == "user_id"
    assert all(isinstance(v, str) for v in out.dropna())
    assert pseudonymise_ids(pd.Series([], dtype="str"), KEY).empty
    assert pseudonymise_ids(pd.Series([None, None], dtype="str"), KEY).isna().all()


def test_short_key_is_refused_without_showing_it() -> None:
    with pytest.raises(InputError, match=rf"setting {PSEUDONYM_KEY_ENV}: .* is 7 bytes") as err:
        PseudonymiserResource(key="hunter2").pseudonymise(pd.DataFrame({"user_id": ["1"]}))
    assert "hunter2" not in str(err.value)


def test_resource_off_without_key_and_key_never_in_repr() -> None:
    events = pd.DataFrame({"user_id": pd.Series(["17850", None], dtype="str")})
    off = PseudonymiserResource()
    assert off.pseudonymise(events) is events and off.metadata() == {"ids_pseudonymised": False}
    on = PseudonymiserResource(key=KEY)
    assert on.metadata()["pseudonym_key_id"] == key_id(KEY) and KEY not in str(on.metadata())
    assert KEY not in repr(on) and KEY not in str(on)
    assert pseudonym_share(on.pseudonymise(events)["user_id"]) == 1.0
    assert pseudonym_share(events["user_id"]) == 0.0


# --- a real run with the key set -------------------------------------------------------------


@dataclasses.dataclass
class KeyedRun:
    key: str
    settings: object
    instance: dg.DagsterInstance
    home: Path
    results: list


@pytest.fixture(scope="module")
def keyed_run(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path):
    from assoc_pipeline.dagster_home import write_dagster_yaml
    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.settings import get_settings

    key = secrets.token_hex(32)
    data_dir = tmp_path_factory.mktemp("pseudo")
    settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
    home = write_dagster_yaml(data_dir / "dagster_home")
    with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.from_config(str(home)) as instance:
        mp.setenv(PSEUDONYM_KEY_ENV, key)
        resources = build_resources(settings)

        def run(selection: list[str], partition: str | None = None):
            return dg.materialize(
                [*all_assets, *all_checks],
                selection=selection,
                partition_key=partition,
                instance=instance,
                resources=resources,
            )

        results = [run(["raw_events", "clean_events"], p) for p in DEMO_PARTITIONS]
        results.append(run(["baskets"]))
        yield KeyedRun(key, settings, instance, home, results)


def source_ids(csv: Path) -> set[str]:
    """Every customer id of the source, as written and as the adapter normalises it."""
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False)["CustomerID"]
    return {v for v in raw if v} | set(read_events(csv)["user_id"].dropna())


def stored(run: KeyedRun, *parts: str) -> Path:
    return run.settings.data_dir / "assets" / Path(*parts)


def test_no_source_customer_id_reaches_clean_events_or_baskets(
    keyed_run: KeyedRun, retail_sample_csv
) -> None:
    ids = source_ids(retail_sample_csv)
    assert len(ids) > 1000  # the two months have 1,369 customer ids: the check has teeth
    for p in DEMO_PARTITIONS:
        raw = read_table(stored(keyed_run, "raw_events", f"{p}.parquet"))
        assert set(raw["user_id"].dropna()) <= ids  # raw is the source as is
        kept = read_table(stored(keyed_run, "clean_events", f"{p}.parquet"))
        users = kept["user_id"].dropna()
        assert not set(users) & ids
        assert users.str.fullmatch(PATTERN.pattern).all()
        assert pd.api.types.is_string_dtype(kept["user_id"].dtype)
        plain, report = clean(raw)  # the same cleaning without the key: nulls at the same rows
        assert kept["user_id"].isna().sum() == report.missing_user_id > 0
        assert kept["user_id"].isna().tolist() == plain["user_id"].isna().tolist()
    baskets = read_table(stored(keyed_run, "baskets", "baskets.parquet"))
    assert not set(baskets["user_id"].dropna()) & ids
    assert pseudonym_share(baskets["user_id"]) == 1.0
    print(f"\nsource ids: {len(ids):,} distinct; found in clean_events / baskets: 0 / 0")


def test_a_customer_has_one_pseudonym_across_partitions_and_runs(keyed_run: KeyedRun) -> None:
    mapping: dict[str, dict[str, str]] = {}
    for p in DEMO_PARTITIONS:
        raw = read_table(stored(keyed_run, "raw_events", f"{p}.parquet"))
        plain, _ = clean(raw)  # row-aligned with the stored clean table
        kept = read_table(stored(keyed_run, "clean_events", f"{p}.parquet"))
        pairs = pd.DataFrame({"raw": plain["user_id"], "pseudo": kept["user_id"]}).dropna().drop_duplicates()
        assert pairs["raw"].is_unique and pairs["pseudo"].is_unique  # a bijection within the month
        mapping[p] = dict(zip(pairs["raw"], pairs["pseudo"], strict=True))
    dec, jan = (mapping[p] for p in DEMO_PARTITIONS)
    shared = set(dec) & set(jan)
    assert len(shared) > 100  # customers who bought in both months
    assert all(dec[c] == jan[c] == pseudonym(c, keyed_run.key) for c in shared)
    print(f"\npseudonyms: {len(dec):,} customers in Dec, {len(jan):,} in Jan, {len(shared):,} in both: same")

    # a re-run (new Dagster run, same key) writes the very same pseudonyms
    path = stored(keyed_run, "clean_events", f"{DEMO_PARTITIONS[0]}.parquet")
    before = read_table(path)
    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PSEUDONYM_KEY_ENV, keyed_run.key)
        result = dg.materialize(
            [*all_assets, *all_checks],
            selection=["clean_events"],
            partition_key=DEMO_PARTITIONS[0],
            instance=keyed_run.instance,
            resources=build_resources(keyed_run.settings),
        )
    assert result.success
    pd.testing.assert_frame_equal(read_table(path), before)


def test_metadata_says_pseudonymised_and_shows_pseudonyms(keyed_run: KeyedRun, retail_sample_csv) -> None:
    ids = source_ids(retail_sample_csv)
    for result in keyed_run.results[:2]:
        (mat,) = result.asset_materializations_for_node("clean_events")
        meta = mat.metadata
        assert meta["ids_pseudonymised"].value is True
        assert meta["pseudonym_key_id"].value == key_id(keyed_run.key)
        lines = meta["preview"].value.splitlines()
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        col = header.index("user_id")
        shown = [row.strip("|").split("|")[col].strip() for row in lines[2:]]
        assert shown and not set(shown) & ids
    (mat,) = keyed_run.results[2].asset_materializations_for_node("baskets")
    assert mat.metadata["ids_pseudonymised"].value is True


def test_key_is_nowhere_in_logs_metadata_snapshots_or_files(keyed_run: KeyedRun) -> None:
    instance, key = keyed_run.instance, keyed_run.key
    runs = instance.get_runs()
    assert len(runs) >= 4
    n_records = 0
    for run in runs:
        for entry in instance.all_logs(run.run_id):
            n_records += 1
            assert key not in dg.serialize_value(entry)
        assert key not in dg.serialize_value(run)  # run config, tags
        # decoded: SQLite keeps snapshots zlib-compressed, so the byte search below cannot see into them
        # (an inline key, PseudonymiserResource(key="..."), does show up here; an EnvVar does not)
        assert key not in dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
        assert PSEUDONYM_KEY_ENV in dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
    assert n_records > 50
    # every byte the runs left on disk: SQLite stores, compute logs, Parquet tables
    needle = key.encode()
    files = [p for p in keyed_run.settings.data_dir.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert [str(p) for p in files if needle in p.read_bytes()] == []
    print(f"\nkey search: {len(runs)} runs, {n_records} event records, {len(files)} files: key in none")


def test_mixing_keyed_and_plain_partitions_is_flagged(
    keyed_run: KeyedRun, tmp_path: Path, monkeypatch
) -> None:
    """Switching the key on without re-cleaning every month gives a customer two ids: baskets says so."""
    import shutil

    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources

    settings = dataclasses.replace(keyed_run.settings, data_dir=tmp_path / "data")
    shutil.copytree(keyed_run.settings.data_dir / "assets", settings.data_dir / "assets")
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    instance = dg.DagsterInstance.ephemeral()

    def run(selection: list[str], partition: str | None = None):
        return dg.materialize(
            [*all_assets, *all_checks],
            selection=selection,
            partition_key=partition,
            instance=instance,
            resources=build_resources(settings),
        )

    plain = run(["clean_events"], DEMO_PARTITIONS[1])  # January without the key
    assert (
        plain.asset_materializations_for_node("clean_events")[0].metadata["ids_pseudonymised"].value is False
    )
    result = run(["baskets"])
    (mat,) = result.asset_materializations_for_node("baskets")
    assert mat.metadata["ids_pseudonymised"].value is False
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level == 30 and "pseudonyms" in (e.user_message or "")
    ]
    assert warnings and "re-materialize them all with the key" in warnings[0]
