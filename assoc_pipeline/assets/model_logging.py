"""Logging a trained model into the active MLflow run, the same way for every model."""

import tempfile
from pathlib import Path
from typing import Any

from assoc_pipeline.core.recsys.models.checkpoint_files import save_model

MODEL_FILE = "model.pt"  # our checkpoint: loads back into the same Recommender class


def log_model_to_mlflow(model: Any, curves_png: str, registered_name: str, model_type: str) -> dict[str, Any]:
    """Weights (our checkpoint + state_dict), an mlflow.pytorch model with signature and input
    example, the training-curve PNG; registers a model version. Returns {"version", "model_uri"}."""
    import mlflow
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, Path(tmp) / MODEL_FILE)
        torch.save(model.module.state_dict(), Path(tmp) / "state_dict.pt")
        mlflow.log_artifact(str(Path(tmp) / MODEL_FILE))
        mlflow.log_artifact(str(Path(tmp) / "state_dict.pt"))
    mlflow.log_artifact(curves_png, artifact_path="plots")
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
    client = mlflow.MlflowClient()
    client.set_model_version_tag(registered_name, str(version), "model_type", model_type)
    client.set_model_version_tag(registered_name, str(version), "checkpoint", MODEL_FILE)
    return {"version": version, "model_uri": info.model_uri}
