"""Typed project settings with embedded defaults, overridable by environment variables.

Everything runs with nothing to start by hand: tables under ``.assoc_data/`` (Parquet), the
Dagster instance under ``.dagster_home/`` (SQLite) and MLflow in a SQLite file, all inside the
project. Dagster run config overrides the per-asset values (thresholds, cutoffs) on top.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "ASSOC_"


def project_root() -> Path:
    """The checkout this package lives in (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source_path: Path
    source_format: str
    partition_start: str
    partition_end: str | None
    mlflow_experiment: str
    inbox_override: Path | None = None
    mlflow_tracking_uri_override: str | None = None
    mlflow_artifact_root_override: Path | None = None

    @property
    def inbox_dir(self) -> Path:
        """Where new event files are dropped for the sensor (ASSOC_INBOX)."""
        return self.inbox_override or self.data_dir / "inbox"

    @property
    def landing_dir(self) -> Path:
        """Validated files from the inbox; the event source reads them beside ``source_path``."""
        return self.data_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def mlflow_tracking_uri(self) -> str:
        """SQLite store inside the data dir unless ASSOC_MLFLOW_TRACKING_URI says otherwise."""
        return self.mlflow_tracking_uri_override or f"sqlite:///{self.data_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.mlflow_artifact_root_override or self.data_dir / "mlartifacts"

    @classmethod
    def from_env(cls) -> Settings:
        root = project_root()
        data_dir = Path(_env("DATA_DIR", str(root / ".assoc_data"))).resolve()
        return cls(
            data_dir=data_dir,
            source_path=Path(_env("SOURCE", str(root / "data" / "sample" / "online_retail.csv.gz"))),
            source_format=_env("SOURCE_FORMAT", "auto"),
            partition_start=_env("PARTITION_START", "2010-12-01"),
            partition_end=os.environ.get(ENV_PREFIX + "PARTITION_END") or None,
            mlflow_experiment=_env("MLFLOW_EXPERIMENT", "assoc-pipeline"),
            inbox_override=Path(os.environ[ENV_PREFIX + "INBOX"])
            if os.environ.get(ENV_PREFIX + "INBOX")
            else None,
            mlflow_tracking_uri_override=os.environ.get(ENV_PREFIX + "MLFLOW_TRACKING_URI") or None,
            mlflow_artifact_root_override=(
                Path(os.environ[ENV_PREFIX + "MLFLOW_ARTIFACT_ROOT"])
                if os.environ.get(ENV_PREFIX + "MLFLOW_ARTIFACT_ROOT")
                else None
            ),
        )


def get_settings() -> Settings:
    return Settings.from_env()
