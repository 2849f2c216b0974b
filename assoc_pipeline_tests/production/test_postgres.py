"""The production profile: ASSOC_PROFILE=postgres moves Dagster and MLflow onto PostgreSQL.

Fast tests check the settings and the dagster.yaml they produce. The slow test runs a real slice
of the pipeline (ingest two monthly partitions, baskets with their blocking contract, split and a
1-epoch DNN logged and registered in MLflow) against a throwaway PostgreSQL server, then queries
PostgreSQL directly: the Dagster runs and event logs and the MLflow runs and model versions are
there, no SQLite file was made for either, and the password is in none of the files or rows.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.dagster_home import MARKER, write_dagster_yaml
from assoc_pipeline.resources.mlflow_tracking import CHECKPOINT_FILE
from assoc_pipeline.settings import Settings, get_settings, redact_uri
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS

SECRET = "s3cr@t:pw #1"
PG_VARS = ("HOST", "PORT", "USER", "PASSWORD", "DB", "MLFLOW_DB", "SSLMODE")


@pytest.fixture
def pg_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """ASSOC_PROFILE=postgres with a password; PGPASSWORD restored afterwards."""
    for name in PG_VARS:
        monkeypatch.delenv(f"ASSOC_PG_{name}", raising=False)
    monkeypatch.delenv("ASSOC_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PGPASSWORD", "placeholder")  # settings overwrite it; monkeypatch restores it
    monkeypatch.setenv("ASSOC_PROFILE", "postgres")
    monkeypatch.setenv("ASSOC_PG_HOST", "db.internal")
    monkeypatch.setenv("ASSOC_PG_PASSWORD", SECRET)
    return monkeypatch


def test_unknown_profile_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSOC_PROFILE", "postgress")
    with pytest.raises(InputError, match=r"ASSOC_PROFILE='postgress'.*embedded, postgres"):
        get_settings()


def test_embedded_is_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ASSOC_PROFILE", raising=False)
    monkeypatch.delenv("ASSOC_MLFLOW_TRACKING_URI", raising=False)
    settings = get_settings()
    assert settings.profile == "embedded" and settings.postgres is None
    assert settings.mlflow_tracking_uri.startswith("sqlite:///")
    home = write_dagster_yaml(tmp_path / "home", settings)
    assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())  # SQLite in the folder


def test_settings_travel_to_step_processes_without_the_password(pg_env: pytest.MonkeyPatch) -> None:
    """The demo's step processes rebuild the settings from JSON stored in the run's job pointer."""
    settings = get_settings()
    text = settings.to_json()
    assert SECRET not in text
    assert Settings.from_json(text) == settings  # the password comes back from the environment
    pg_env.delenv("ASSOC_PG_PASSWORD")
    assert Settings.from_json(text).postgres.password is None


def test_postgres_profile_keeps_the_password_out(pg_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pg_env.setenv("ASSOC_PG_PORT", "6543")
    pg_env.setenv("ASSOC_PG_SSLMODE", "require")
    settings = get_settings()
    pg = settings.postgres
    assert (pg.host, pg.port, pg.user, pg.dagster_db, pg.mlflow_db) == (
        "db.internal", 6543, "assoc", "dagster", "mlflow"
    )  # fmt: skip
    assert settings.mlflow_tracking_uri == "postgresql://assoc@db.internal:6543/mlflow?sslmode=require"
    assert os.environ["PGPASSWORD"] == SECRET  # how libpq (MLflow's store) gets it
    for shown in (repr(settings), str(settings), repr(pg), settings.summary()):
        assert SECRET not in shown
    assert "password='***'" in repr(pg)

    home = write_dagster_yaml(tmp_path / "home", settings)
    text = (home / "dagster.yaml").read_text()
    assert SECRET not in text
    db = yaml.safe_load(text)["storage"]["postgres"]["postgres_db"]
    assert db == {
        "hostname": "db.internal",
        "port": 6543,
        "username": "assoc",
        "password": {"env": "ASSOC_PG_PASSWORD"},
        "db_name": "dagster",
        "params": {"sslmode": "require"},
    }
    from dagster._core.instance.config import dagster_instance_config

    dagster_instance_config(str(home))  # Dagster's own schema accepts it


def test_profile_switch_rewrites_our_yaml_only(pg_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pg_env.setenv("ASSOC_PROFILE", "embedded")
    home = write_dagster_yaml(tmp_path / "home")
    assert "storage" not in yaml.safe_load((home / "dagster.yaml").read_text())
    pg_env.setenv("ASSOC_PROFILE", "postgres")
    write_dagster_yaml(home)
    assert "postgres_db" in (home / "dagster.yaml").read_text()

    mine = tmp_path / "hand"
    mine.mkdir()
    (mine / "dagster.yaml").write_text("# hand-written\ntelemetry:\n  enabled: false\n")
    write_dagster_yaml(mine)
    assert (mine / "dagster.yaml").read_text().startswith("# hand-written")
    assert MARKER not in (mine / "dagster.yaml").read_text()


def test_postgres_profile_errors_name_the_setting(pg_env: pytest.MonkeyPatch) -> None:
    pg_env.setenv("ASSOC_PG_MLFLOW_DB", "dagster")
    with pytest.raises(InputError, match="ASSOC_PG_DB and ASSOC_PG_MLFLOW_DB"):
        get_settings()
    pg_env.delenv("ASSOC_PG_MLFLOW_DB")
    pg_env.setenv("ASSOC_PG_PORT", "fivefour")
    with pytest.raises(InputError, match="ASSOC_PG_PORT"):
        get_settings()


def test_redact_uri() -> None:
    assert redact_uri("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_uri("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_uri("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


# --- the real thing -------------------------------------------------------------------------------

DAGSTER_DB, MLFLOW_DB = "assoc_dagster", "assoc_mlflow"
ONE_EPOCH = {"ops": {"dnn_model": {"config": {"epochs": 1, "patience": 0}}}}
SELECTED = ["raw_events", "clean_events", "baskets", "split", "dnn_model"]


@dataclasses.dataclass
class ProductionRun:
    server: object
    settings: object
    home: Path
    run_ids: list[str]
    mlflow_run_id: str
    model_version: str


def _sqlite_files(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size >= 16:
                with path.open("rb") as f:
                    if f.read(16) == b"SQLite format 3\x00":
                        found.append(path)
    return found


@pytest.fixture(scope="module")
def production_run(
    postgres_server, tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path
) -> ProductionRun:
    pytest.importorskip(
        "dagster_postgres", reason='dagster-postgres missing: pip install -c constraints.txt -e ".[postgres]"'
    )
    import dagster as dg

    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources

    server = postgres_server
    for name in (DAGSTER_DB, MLFLOW_DB):
        server.create_database(name)
    env = {
        "ASSOC_PROFILE": "postgres",
        "ASSOC_PG_HOST": server.host,
        "ASSOC_PG_PORT": str(server.port),
        "ASSOC_PG_USER": server.user,
        "ASSOC_PG_PASSWORD": server.password,
        "ASSOC_PG_DB": DAGSTER_DB,
        "ASSOC_PG_MLFLOW_DB": MLFLOW_DB,
        "PGPASSWORD": "placeholder",  # the settings set it; restored afterwards
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("ASSOC_MLFLOW_TRACKING_URI", "ASSOC_PG_SSLMODE", "ASSOC_MLFLOW_ARTIFACT_ROOT"):
            mp.delenv(name, raising=False)
        data_dir = tmp_path_factory.mktemp("production")
        settings = dataclasses.replace(get_settings(), data_dir=data_dir, source_path=retail_sample_csv)
        home = write_dagster_yaml(data_dir / "dagster_home", settings)
        instance = dg.DagsterInstance.from_config(str(home))
        try:
            resources = build_resources(settings)
            assets = [*all_assets, *all_checks]
            run_ids = []
            for key in DEMO_PARTITIONS:
                result = dg.materialize(
                    assets,
                    selection=["raw_events", "clean_events"],
                    partition_key=key,
                    instance=instance,
                    resources=resources,
                )
                run_ids.append(result.run_id)
            result = dg.materialize(
                assets,
                selection=["baskets", "split", "dnn_model"],
                instance=instance,
                resources=resources,
                run_config=ONE_EPOCH,
            )
            run_ids.append(result.run_id)
            meta = result.asset_materializations_for_node("dnn_model")[0].metadata
            return ProductionRun(
                server=server,
                settings=settings,
                home=home,
                run_ids=run_ids,
                mlflow_run_id=meta["mlflow_run_id"].value,
                model_version=str(meta["mlflow_model_version"].value),
            )
        finally:
            instance.dispose()


@pytest.mark.slow
def test_dagster_instance_lives_in_postgres(
    production_run: ProductionRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    run, server = production_run, production_run.server
    rows = dict(server.query(DAGSTER_DB, "SELECT run_id, status FROM runs"))
    assert {rows.get(r) for r in run.run_ids} == {"SUCCESS"}, rows
    (events,) = server.query(
        DAGSTER_DB, "SELECT count(*) FROM event_logs WHERE run_id = ANY(%s)", (run.run_ids,)
    )[0]
    assert events > 20
    materialized = {
        key
        for (key,) in server.query(
            DAGSTER_DB, "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = %s",
            ("ASSET_MATERIALIZATION",),
        )
    }  # fmt: skip
    assert {f'["{name}"]' for name in SELECTED} <= materialized
    checks = server.query(DAGSTER_DB, "SELECT count(*) FROM event_logs WHERE dagster_event_type = %s",
                          ("ASSET_CHECK_EVALUATION",))[0][0]  # fmt: skip
    assert checks >= 1  # the blocking baskets contract ran and was recorded there

    # what `make ui` would open: a fresh instance from the same folder reads the same runs, with
    # the password taken from the environment only
    monkeypatch.delenv("ASSOC_PG_PASSWORD", raising=False)
    with pytest.raises(Exception, match="ASSOC_PG_PASSWORD"):
        dg.DagsterInstance.from_config(str(run.home))
    monkeypatch.setenv("ASSOC_PG_PASSWORD", server.password)
    with dg.DagsterInstance.from_config(str(run.home)) as again:
        assert isinstance(again.run_storage, PostgresRunStorage)
        assert isinstance(again.event_log_storage, PostgresEventLogStorage)
        assert set(run.run_ids) <= {r.run_id for r in again.get_runs()}


@pytest.mark.slow
def test_mlflow_tracking_and_registry_live_in_postgres(production_run: ProductionRun) -> None:
    run, server = production_run, production_run.server
    assert run.settings.mlflow_tracking_uri == (
        f"postgresql://{server.user}@{server.host}:{server.port}/{MLFLOW_DB}"
    )
    runs = server.query(
        MLFLOW_DB,
        "SELECT r.status, e.name FROM runs r JOIN experiments e USING (experiment_id) WHERE run_uuid = %s",
        (run.mlflow_run_id,),
    )
    assert runs == [("FINISHED", "assoc-pipeline")]
    (metrics,) = server.query(MLFLOW_DB, "SELECT count(*) FROM metrics WHERE run_uuid = %s",
                              (run.mlflow_run_id,))[0]  # fmt: skip
    assert metrics > 0
    versions = server.query(MLFLOW_DB, "SELECT name, version FROM model_versions WHERE run_id = %s",
                            (run.mlflow_run_id,))  # fmt: skip
    assert versions == [("assoc-recommender", int(run.model_version))]
    # the weights stay files under the artifact root; only their location is in PostgreSQL
    assert any(run.settings.mlflow_artifact_root.rglob(CHECKPOINT_FILE))


@pytest.mark.slow
def test_no_sqlite_and_no_secret_anywhere(production_run: ProductionRun) -> None:
    run, server = production_run, production_run.server
    data_dir = run.settings.data_dir
    assert not (data_dir / "mlflow.db").exists()
    assert _sqlite_files(data_dir, run.home) == []  # neither Dagster's runs.db/index.db nor MLflow's

    text = (run.home / "dagster.yaml").read_text()
    assert "env: ASSOC_PG_PASSWORD" in text
    assert server.password not in text
    leaks = {
        DAGSTER_DB: ["SELECT count(*) FROM event_logs WHERE position(%s in event) > 0",
                     "SELECT count(*) FROM runs WHERE position(%s in run_body) > 0"],
        MLFLOW_DB: ["SELECT count(*) FROM params WHERE position(%s in value) > 0",
                    "SELECT count(*) FROM tags WHERE position(%s in value) > 0"],
    }  # fmt: skip
    for db, queries in leaks.items():
        for sql in queries:
            assert server.query(db, sql, (server.password,)) == [(0,)], sql
