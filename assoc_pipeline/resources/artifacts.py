"""A folder for files people open: plots and reports that assets attach to their metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class ArtifactStore(dg.ConfigurableResource):
    base_dir: str

    def path(self, *parts: str) -> Path:
        path = Path(self.base_dir).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
