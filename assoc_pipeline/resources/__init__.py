"""Resources per deployment: everything external sits behind one of these."""

from __future__ import annotations

import os

import dagster as dg

from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.event_source import EventSourceResource
from assoc_pipeline.resources.inbox import InboxResource
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.resources.pseudonymiser import PSEUDONYM_KEY_ENV, PseudonymiserResource
from assoc_pipeline.resources.storage import ParquetIOManager
from assoc_pipeline.resources.text_encoder import TextEncoderResource
from assoc_pipeline.settings import Settings


def event_source(settings: Settings) -> EventSourceResource:
    return EventSourceResource(
        path=str(settings.source_path),
        format=settings.source_format,
        column_mapping=dict(settings.column_mapping),
        landing_dir=str(settings.landing_dir),
    )


def build_resources(settings: Settings) -> dict[str, object]:
    """The embedded-default resources (local Parquet, local files); profiles override these."""
    return {
        "io_manager": ParquetIOManager(base_dir=str(settings.data_dir / "assets")),
        "artifacts": ArtifactStore(base_dir=str(settings.data_dir / "artifacts")),
        "event_source": event_source(settings),
        "inbox": InboxResource(
            inbox_dir=str(settings.inbox_dir),
            landing_dir=str(settings.landing_dir),
            quarantine_dir=str(settings.quarantine_dir),
        ),
        "text_encoder": TextEncoderResource(
            cache_path=str(settings.data_dir / "cache" / "text_embeddings.parquet")
        ),
        # the key stays an env var reference (only its name reaches Dagster's snapshots); unset = off
        "pseudonymiser": PseudonymiserResource(
            key=dg.EnvVar(PSEUDONYM_KEY_ENV) if os.environ.get(PSEUDONYM_KEY_ENV) else ""
        ),
        "mlflow": MLflowResource(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_root=str(settings.mlflow_artifact_root),
            experiment=settings.mlflow_experiment,
        ),
    }
