"""Resources per deployment: everything external sits behind one of these."""

from __future__ import annotations

from assoc_pipeline.resources.event_source import EventSourceResource
from assoc_pipeline.resources.storage import ParquetIOManager
from assoc_pipeline.settings import Settings


def build_resources(settings: Settings) -> dict[str, object]:
    """The embedded-default resources (local Parquet, local files); profiles override these."""
    return {
        "io_manager": ParquetIOManager(base_dir=str(settings.data_dir / "assets")),
        "event_source": EventSourceResource(path=str(settings.source_path), format=settings.source_format),
    }
