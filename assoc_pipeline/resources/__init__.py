"""Resources per deployment: everything external sits behind one of these.

The imports are inside the functions: importing one light module of this package (the registry
alias reader of `recommend`) must not pull in Dagster, torch and every resource.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assoc_pipeline.resources.event_source import EventSourceResource
    from assoc_pipeline.settings import Settings


def source_resource(settings: Settings) -> EventSourceResource:
    """The event source the settings name (file or folder, format, column mapping)."""
    from assoc_pipeline.resources.event_source import EventSourceResource

    return EventSourceResource(
        path=str(settings.source_path),
        format=settings.source_format,
        column_mapping=dict(settings.column_mapping),
        landing_dir=str(settings.landing_dir),
    )


def build_resources(settings: Settings) -> dict[str, object]:
    """The embedded-default resources (local Parquet, local files); profiles override these."""
    import dagster as dg

    from assoc_pipeline.core.privacy.pseudonymise import PSEUDONYM_KEY_ENV
    from assoc_pipeline.resources.artifacts import ArtifactStore
    from assoc_pipeline.resources.ease_cache import EaseCacheResource
    from assoc_pipeline.resources.inbox import InboxResource
    from assoc_pipeline.resources.mlflow_tracking import MLflowResource
    from assoc_pipeline.resources.pseudonymiser import PseudonymiserResource
    from assoc_pipeline.resources.storage import ParquetIOManager
    from assoc_pipeline.resources.text_encoder import TextEncoderResource

    return {
        "io_manager": ParquetIOManager(base_dir=str(settings.data_dir / "assets")),
        "artifacts": ArtifactStore(base_dir=str(settings.data_dir / "artifacts")),
        "event_source": source_resource(settings),
        "inbox": InboxResource(
            inbox_dir=str(settings.inbox_dir),
            landing_dir=str(settings.landing_dir),
            quarantine_dir=str(settings.quarantine_dir),
        ),
        "text_encoder": TextEncoderResource(
            cache_path=str(settings.data_dir / "cache" / "text_embeddings.parquet")
        ),
        "ease_cache": EaseCacheResource(directory=str(settings.ease_cache_dir)),
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
