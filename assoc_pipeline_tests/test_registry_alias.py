"""`recommend` skips MLflow only when a real MLflow SQLite store surely says which version, if any,
holds the champion alias."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from assoc_pipeline.resources.registry_alias import (
    CHAMPION_ALIAS,
    RECOMMENDER_MODEL,
    AliasReading,
    alias_surely_unset,
    read_alias,
)


def test_the_alias_read_without_mlflow_agrees_with_mlflow(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)  # no store yet: nothing promoted
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(RECOMMENDER_MODEL)
    version = client.create_model_version(RECOMMENDER_MODEL, source=(tmp_path / "model").as_uri())
    assert alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)  # a version, but no alias
    client.set_registered_model_alias(RECOMMENDER_MODEL, "challenger", version.version)
    assert alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)  # another alias
    assert read_alias(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS) == AliasReading(sure=True, version=None)
    client.set_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS, version.version)
    assert not alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)
    second = client.create_model_version(RECOMMENDER_MODEL, source=(tmp_path / "model2").as_uri())
    client.set_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS, second.version)
    reading = read_alias(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert reading == AliasReading(sure=True, version=str(second.version)) != AliasReading(True, "1")
    assert reading.version == str(
        client.get_model_version_by_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS).version
    )
    client.delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)


def test_anything_it_cannot_read_is_left_to_mlflow(tmp_path: Path) -> None:
    not_mlflow = tmp_path / "other.db"
    not_mlflow.write_bytes(b"not a database at all" * 100)
    assert not alias_surely_unset(f"sqlite:///{not_mlflow}", RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert not alias_surely_unset("postgresql://assoc@db/mlflow", RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert not alias_surely_unset("http://127.0.0.1:5000", RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert read_alias("http://127.0.0.1:5000", RECOMMENDER_MODEL, CHAMPION_ALIAS) == AliasReading(sure=False)


def test_an_alias_held_in_two_workspaces_is_left_to_mlflow(tmp_path: Path) -> None:
    """Which workspace applies is MLflow's to say: two rows for the alias give no answer."""
    db = tmp_path / "mlflow.db"
    uri, row = f"sqlite:///{db}", "INSERT INTO registered_model_aliases VALUES (?, ?, ?, ?)"
    with closing(sqlite3.connect(db)) as con:
        con.execute(
            "CREATE TABLE registered_model_aliases (alias TEXT, version INT, name TEXT, workspace TEXT)"
        )
        con.execute(row, (CHAMPION_ALIAS, 3, RECOMMENDER_MODEL, "default"))
        con.commit()
        assert read_alias(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS) == AliasReading(sure=True, version="3")
        con.execute(row, (CHAMPION_ALIAS, 5, RECOMMENDER_MODEL, "shop-b"))
        con.commit()
    assert read_alias(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS) == AliasReading(sure=False)
