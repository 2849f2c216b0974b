"""`recommend` skips MLflow only when a real MLflow SQLite store surely has no champion alias."""

from __future__ import annotations

from pathlib import Path

from assoc_pipeline.resources.registry_alias import CHAMPION_ALIAS, RECOMMENDER_MODEL, alias_surely_unset


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
    client.set_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS, version.version)
    assert not alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)
    client.delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert alias_surely_unset(uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)


def test_anything_it_cannot_read_is_left_to_mlflow(tmp_path: Path) -> None:
    not_mlflow = tmp_path / "other.db"
    not_mlflow.write_bytes(b"not a database at all" * 100)
    assert not alias_surely_unset(f"sqlite:///{not_mlflow}", RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert not alias_surely_unset("postgresql://assoc@db/mlflow", RECOMMENDER_MODEL, CHAMPION_ALIAS)
    assert not alias_surely_unset("http://127.0.0.1:5000", RECOMMENDER_MODEL, CHAMPION_ALIAS)
