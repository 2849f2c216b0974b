"""MLflow behind a Dagster resource: runs, params, metrics, artifacts, the model registry.

The only module that imports ``mlflow``: services and assets log through these methods, so the
tracking store is one swappable resource (SQLite by default, PostgreSQL in production) and a
test can point everything at a temporary store. ``dagster-mlflow`` is a legacy ``@resource``
pinned to pandas<3; this is the small piece we need. Defaults: a SQLite tracking store and a local
artifact folder inside ``.assoc_data/`` (a ``./mlruns`` file store is deprecated), the same
store `make mlflow` serves.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from assoc_pipeline.core.rich_values import Url
from assoc_pipeline.resources.registry_alias import CHAMPION_ALIAS, RECOMMENDER_MODEL
from assoc_pipeline.settings import project_root, redact_uri

if TYPE_CHECKING:
    from assoc_pipeline.core.data.baskets import BasketSet

GAN_MODEL = "assoc-basket-gan"
CHECKPOINT_FILE = "model.pt"  # our weights-only checkpoint at the root of a training run
# The pyfunc model from code: the file MLflow copies into the model and runs to get the model (a
# few lines importing our installed package; a path, not an import: serving sits above resources)
PYFUNC_ENTRY = Path(__file__).resolve().parents[1] / "serving" / "pyfunc_entry.py"
PYFUNC_CHECKPOINT, PYFUNC_BASKETS = "checkpoint", "baskets"  # the pyfunc model's artifact names
# A request row: a customer's next basket (user_id) or the completion of a basket (items); k items
PYFUNC_REQUEST = {"user_id": "string", "items": "list[string]", "k": "long"}
PYFUNC_RESPONSE = {
    "request": "long",
    "query": "string",
    "rank": "long",
    "item_id": "string",
    "item_name": "string",
    "score": "double",
    "explanation": "string",
    "model_type": "string",
}


def pyfunc_signature() -> Any:
    """The request and response columns of the pyfunc model (every request column optional)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Schema

    def spec(name: str, kind: str, required: bool) -> ColSpec:
        return ColSpec(Array("string") if kind == "list[string]" else kind, name, required=required)

    return ModelSignature(
        inputs=Schema([spec(n, t, False) for n, t in PYFUNC_REQUEST.items()]),
        outputs=Schema([spec(n, t, n != "explanation") for n, t in PYFUNC_RESPONSE.items()]),
    )


def pyfunc_input_example(baskets: BasketSet) -> Any:
    """Two requests on real ids of ``baskets``: a customer's next basket, a basket to complete."""
    import pandas as pd

    from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts

    users, _ = user_item_counts(baskets)
    items = baskets.vocabulary["item_id"].astype(str).tolist()[:2]
    return pd.DataFrame({"user_id": [str(users[0]), ""], "items": [[], items], "k": [5, 5]})


def metric_key(name: str) -> str:
    """MLflow metric and param names allow no '@': ``val_ndcg@10`` is logged as ``val_ndcg_at_10``."""
    return name.replace("@", "_at_")


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def import_mlflow() -> None:
    """Import MLflow now (seconds): a forkserver does it once for all the step processes it forks."""
    import mlflow  # noqa: F401


class MLflowResource(dg.ConfigurableResource):
    """One MLflow tracking store + model registry for every training and evaluation step."""

    tracking_uri: str
    artifact_root: str
    experiment: str = "assoc-pipeline"
    ui_url: str = "http://127.0.0.1:5000"

    def _setup(self) -> None:
        import mlflow

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        # no "Downloading artifacts" bar: the store is local, and the bar breaks the demo's progress
        # lines and `recommend`'s answer
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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
        """Params of the active run; ``@`` in names becomes ``_at_``, as in :meth:`log_metrics`."""
        import mlflow

        mlflow.log_params({metric_key(k): v for k, v in params.items()})

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
        self,
        model: Any,
        registered_name: str,
        model_type: str,
        plots: Mapping[str, str] | None = None,
        serving_baskets: BasketSet | None = None,
    ) -> dict[str, Any]:
        """Our weights-only checkpoint and plots into the active run, and a registered version.

        With ``serving_baskets`` (a recommender) the version is an MLflow pyfunc model from code
        (no pickle: :data:`PYFUNC_ENTRY` + the checkpoint + those baskets as artifacts, with a
        signature and input example), so ``mlflow models serve`` answers recommendation requests.
        Without (the basket GAN, not a recommender) the version's source is the checkpoint alone.
        Returns {"version", "model_uri"}."""
        import mlflow

        from assoc_pipeline.core.recsys.models.checkpoint_files import save_model

        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = Path(tmp) / CHECKPOINT_FILE
            save_model(model, checkpoint)
            mlflow.log_artifact(str(checkpoint))
            for path in (plots or {}).values():
                mlflow.log_artifact(str(path), artifact_path="plots")
            if serving_baskets is None:
                info = self._register_checkpoint(registered_name, model_type)
            else:
                info = self._log_pyfunc(checkpoint, serving_baskets, registered_name, model_type)
        version = info["version"]
        client = self.client()
        client.set_model_version_tag(registered_name, str(version), "model_type", model_type)
        client.set_model_version_tag(registered_name, str(version), "checkpoint", CHECKPOINT_FILE)
        return info

    def _log_pyfunc(
        self, checkpoint: Path, baskets: BasketSet, registered_name: str, model_type: str
    ) -> dict[str, Any]:
        """The recommender as a pyfunc model from code; artifacts: checkpoint + serving baskets."""
        import mlflow

        from assoc_pipeline.core.data.baskets import save_basket_set

        with tempfile.TemporaryDirectory() as tmp:
            save_basket_set(baskets, Path(tmp) / "baskets")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_ENTRY),
                artifacts={PYFUNC_CHECKPOINT: str(checkpoint), PYFUNC_BASKETS: str(Path(tmp) / "baskets")},
                signature=pyfunc_signature(),
                input_example=pyfunc_input_example(baskets),
                pip_requirements=[f"mlflow=={mlflow.__version__}", "assoc-pipeline"],
                model_config={"model_type": model_type},
                registered_model_name=registered_name,
                tags={"model_type": model_type},
            )
        return {"version": info.registered_model_version, "model_uri": info.model_uri}

    def _register_checkpoint(self, registered_name: str, model_type: str) -> dict[str, Any]:
        """A registered version whose source is the active run's checkpoint (no MLflow flavour)."""
        import mlflow
        from mlflow.exceptions import MlflowException

        client = self.client()
        with contextlib.suppress(MlflowException):  # already registered
            client.create_registered_model(registered_name)
        run_id = mlflow.active_run().info.run_id
        source = f"{mlflow.get_artifact_uri()}/{CHECKPOINT_FILE}"
        version = client.create_model_version(
            registered_name, source, run_id=run_id, tags={"model_type": model_type}
        )
        return {"version": version.version, "model_uri": f"runs:/{run_id}/{CHECKPOINT_FILE}"}

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
