"""MLflow behind a Dagster resource: runs, params, metrics, artifacts, registry aliases.

``dagster-mlflow`` is a legacy ``@resource`` pinned to pandas<3; this is the small piece we need.
Defaults: a SQLite tracking store and a local artifact folder inside ``.assoc_data/`` (a
``./mlruns`` file store is deprecated), the same store `make mlflow` serves.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from assoc_pipeline.settings import project_root, redact_uri

RECOMMENDER_MODEL = "assoc-recommender"
CHAMPION_ALIAS = "champion"


def metric_key(name: str) -> str:
    """MLflow metric names allow no '@': ``val_ndcg@10`` is logged as ``val_ndcg_at_10``."""
    return name.replace("@", "_at_")


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class MLflowResource(dg.ConfigurableResource):
    """One MLflow tracking store + model registry for every training and evaluation asset."""

    tracking_uri: str
    artifact_root: str
    experiment: str = "assoc-pipeline"
    ui_url: str = "http://127.0.0.1:5000"

    def _setup(self) -> None:
        import mlflow

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)

    def client(self):
        import mlflow

        self._setup()
        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, name: str | None = None) -> str:
        """The experiment's id, creating it with its artifact location inside our artifact root."""
        client = self.client()
        name = name or self.experiment
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = Path(self.artifact_root).resolve() / name
        return client.create_experiment(name, artifact_location=location.as_uri())

    @contextmanager
    def start_run(
        self,
        run_name: str,
        context: dg.AssetExecutionContext | None = None,
        tags: Mapping[str, str] | None = None,
        experiment: str | None = None,
    ) -> Iterator[Any]:
        """An active MLflow run tagged with the Dagster run, partition and git sha."""
        import mlflow

        self._setup()
        all_tags = {"git_sha": git_sha(), **(tags or {})}
        if context is not None:
            all_tags["dagster_run_id"] = context.run.run_id
            all_tags["dagster_asset"] = context.asset_key.to_user_string()
            if context.has_partition_key:
                all_tags["dagster_partition"] = context.partition_key
        with mlflow.start_run(
            experiment_id=self.experiment_id(experiment), run_name=run_name, tags=all_tags
        ) as run:
            yield run

    def run_url(self, run_id: str) -> str:
        run = self.client().get_run(run_id)
        return f"{self.ui_url}/#/experiments/{run.info.experiment_id}/runs/{run_id}"

    def alias_version(self, model_name: str, alias: str = CHAMPION_ALIAS) -> Any | None:
        """The model version an alias points at, or None when the alias is not set yet."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model_name, alias)
        except MlflowException:
            return None

    def set_alias(self, model_name: str, version: str | int, alias: str = CHAMPION_ALIAS) -> None:
        self.client().set_registered_model_alias(model_name, alias, str(version))

    def run_metadata(self, run_id: str) -> dict[str, dg.MetadataValue]:
        """What a Dagster asset shows to link to its MLflow run."""
        return {
            "mlflow_run_id": dg.MetadataValue.text(run_id),
            "mlflow_run": dg.MetadataValue.url(self.run_url(run_id)),
            "mlflow_tracking_uri": dg.MetadataValue.text(redact_uri(self.tracking_uri)),
        }
