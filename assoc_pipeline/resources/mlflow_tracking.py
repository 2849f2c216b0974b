"""MLflow behind a Dagster resource: runs, params, metrics, artifacts, the model registry.

The only module that imports ``mlflow``: services and assets log through these methods, so the
tracking store is one swappable resource (SQLite by default, PostgreSQL in production) and a
test can point everything at a temporary store. ``dagster-mlflow`` is a legacy ``@resource``
pinned to pandas<3; this is the small piece we need. Defaults: a SQLite tracking store and a local
artifact folder inside ``.assoc_data/`` (a ``./mlruns`` file store is deprecated), the same
store `make mlflow` serves.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

from assoc_pipeline.core.rich_values import Url
from assoc_pipeline.settings import project_root, redact_uri

RECOMMENDER_MODEL = "assoc-recommender"
GAN_MODEL = "assoc-basket-gan"
CHAMPION_ALIAS = "champion"
CHECKPOINT_FILE = "model.pt"  # our weights-only checkpoint at the root of a training run


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
    """One MLflow tracking store + model registry for every training and evaluation step."""

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

    # ------------------------------------------------------------------ the active run
    @contextmanager
    def start_run(
        self, run_name: str, tags: Mapping[str, str] | None = None, experiment: str | None = None
    ) -> Iterator[Any]:
        """An active MLflow run tagged with the git sha (and whatever ``tags`` say, e.g. Dagster's run)."""
        import mlflow

        self._setup()
        all_tags = {"git_sha": git_sha(), **(tags or {})}
        with mlflow.start_run(
            experiment_id=self.experiment_id(experiment), run_name=run_name, tags=all_tags
        ) as run:
            yield run

    def log_params(self, params: Mapping[str, Any]) -> None:
        import mlflow

        mlflow.log_params(dict(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Metrics of the active run; ``@`` in names becomes ``_at_`` (MLflow refuses it)."""
        import mlflow

        mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()}, step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        import mlflow

        mlflow.set_tags(dict(tags))

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_files(self, files: Mapping[str, bytes | str], artifact_path: str | None = None) -> None:
        """Small generated files (reports, tables) logged without the caller managing temp files."""
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                target = Path(tmp) / name
                target.write_bytes(content if isinstance(content, bytes) else content.encode())
            mlflow.log_artifacts(tmp, artifact_path=artifact_path)

    def log_model(
        self, model: Any, registered_name: str, model_type: str, plots: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Weights (our checkpoint + state_dict), an mlflow.pytorch model with signature and input
        example, and plots into the active run; registers a version. Returns {"version", "model_uri"}."""
        import mlflow
        import torch

        from assoc_pipeline.core.recsys.models.checkpoint_files import save_model

        with tempfile.TemporaryDirectory() as tmp:
            save_model(model, Path(tmp) / CHECKPOINT_FILE)
            torch.save(model.module.state_dict(), Path(tmp) / "state_dict.pt")
            mlflow.log_artifact(str(Path(tmp) / CHECKPOINT_FILE))
            mlflow.log_artifact(str(Path(tmp) / "state_dict.pt"))
        for path in (plots or {}).values():
            mlflow.log_artifact(str(path), artifact_path="plots")
        example = model.input_example()
        # pyfunc signatures take one tensor; the GAN's forward(z, log_size) takes two: no example there
        example = None if isinstance(example, tuple) else example.numpy()
        info = mlflow.pytorch.log_model(
            model.module.cpu().eval(),
            name="model",
            input_example=example,
            serialization_format="pickle",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "assoc-pipeline"],
            registered_model_name=registered_name,
            tags={"model_type": model_type},
        )
        version = info.registered_model_version
        client = self.client()
        client.set_model_version_tag(registered_name, str(version), "model_type", model_type)
        client.set_model_version_tag(registered_name, str(version), "checkpoint", CHECKPOINT_FILE)
        return {"version": version, "model_uri": info.model_uri}

    # ------------------------------------------------------------------ runs and registry
    def run_url(self, run_id: str) -> str:
        run = self.client().get_run(run_id)
        return f"{self.ui_url}/#/experiments/{run.info.experiment_id}/runs/{run_id}"

    def run_metadata(self, run_id: str) -> dict[str, object]:
        """What an asset shows to link to its MLflow run (plain values; the link as a Url)."""
        return {
            "mlflow_run_id": run_id,
            "mlflow_run": Url(self.run_url(run_id)),
            "mlflow_tracking_uri": redact_uri(self.tracking_uri),
        }

    def run_params(self, run_id: str) -> dict[str, str]:
        return dict(self.client().get_run(run_id).data.params)

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client().get_run(run_id).data.tags)

    def tag_run(self, run_id: str, tags: Mapping[str, str]) -> None:
        client = self.client()
        for k, v in tags.items():
            client.set_tag(run_id, k, v)

    def tag_version(self, model_name: str, version: str | int, tags: Mapping[str, str]) -> None:
        client = self.client()
        for k, v in tags.items():
            client.set_model_version_tag(model_name, str(version), k, v)

    def versions(self, model_name: str = RECOMMENDER_MODEL) -> list[Any]:
        """Every registered version of ``model_name``, newest first."""
        found = self.client().search_model_versions(f"name='{model_name}'")
        return sorted(found, key=lambda v: int(v.version), reverse=True)

    def alias_version(self, model_name: str = RECOMMENDER_MODEL, alias: str = CHAMPION_ALIAS) -> Any | None:
        """The model version an alias points at, or None when the alias is not set yet."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client().get_model_version_by_alias(model_name, alias)
        except MlflowException:
            return None

    def set_alias(self, model_name: str, version: str | int, alias: str = CHAMPION_ALIAS) -> None:
        self.client().set_registered_model_alias(model_name, alias, str(version))

    def load_version(self, version: Any) -> Any:
        """The model of a registered version, from its run's weights-only checkpoint."""
        import mlflow

        from assoc_pipeline.core.recsys.models.checkpoint_files import load_model

        name = (version.tags or {}).get("checkpoint", CHECKPOINT_FILE)
        self._setup()
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=name, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            return load_model(Path(path))
