"""The embedded Dagster instance: SQLite storage in ``.dagster_home/`` inside the project."""

from __future__ import annotations

import os
from pathlib import Path

from assoc_pipeline.settings import project_root

DAGSTER_YAML = """\
# Embedded instance for local use: SQLite storage under this folder (written by assoc-pipeline).
telemetry:
  enabled: false
nux:
  enabled: false
# Runs launched from the UI start at once; no daemon is needed to launch them.
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
"""


def write_dagster_yaml(home: str | os.PathLike) -> Path:
    """Create an instance folder with our dagster.yaml (kept if one is already there)."""
    path = Path(home).resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return path


def ensure_dagster_home(home: str | os.PathLike | None = None) -> Path:
    """Point DAGSTER_HOME at the project's embedded instance (creating it) unless already set."""
    path = write_dagster_yaml(home or os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home")
    os.environ["DAGSTER_HOME"] = str(path)
    return path
