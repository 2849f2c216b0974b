"""The Dagster instance folder and its dagster.yaml, written from the profile (ASSOC_PROFILE).

``embedded`` (default): SQLite storage in ``.dagster_home/`` inside the project. ``postgres``:
runs, event logs and schedules in PostgreSQL via dagster-postgres; the password is never written
here, the file names the environment variable Dagster reads it from (``env: ASSOC_PG_PASSWORD``).
A dagster.yaml this module wrote is rewritten when the profile changes; one written by hand (without
the marker below on its first line) is left as it is.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.settings import PG_PASSWORD_ENV, Settings, get_settings, project_root

MARKER = "(written by assoc-pipeline)"

_COMMON = """\
telemetry:
  enabled: false
nux:
  enabled: false
# Runs launched from the UI start at once; no daemon is needed to launch them.
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
# A run whose worker dies (SIGKILL, OOM) is marked FAILURE: by the code server that started it,
# at once; by the daemon's run monitoring when the server died too (a run stuck starting, or
# still "started" after the ceiling below). See docs/operations.md.
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
  start_timeout_seconds: 300
  cancel_timeout_seconds: 300
  max_runtime_seconds: 43200
"""

DAGSTER_YAML = f"""\
# Embedded instance for local use: SQLite storage under this folder {MARKER}.
{_COMMON}"""


def _scalar(value: object) -> str:
    """A YAML scalar: JSON strings are valid YAML, so any host or name is quoted safely."""
    return json.dumps(value) if isinstance(value, str) else str(value)


def dagster_yaml(settings: Settings) -> str:
    """The dagster.yaml text for the settings' profile (no secret in it, whatever the profile)."""
    pg = settings.postgres
    if settings.profile != "postgres" or pg is None:
        return DAGSTER_YAML
    lines = [
        f"# Production profile (ASSOC_PROFILE=postgres) {MARKER}: runs, event logs and schedules",
        f"# in PostgreSQL. No password here: Dagster reads it from ${PG_PASSWORD_ENV} at start-up.",
        _COMMON.rstrip("\n"),
        "storage:",
        "  postgres:",
        "    postgres_db:",
        f"      hostname: {_scalar(pg.host)}",
        f"      port: {pg.port}",
        f"      username: {_scalar(pg.user)}",
    ]
    if pg.password:  # else libpq's own fallbacks apply (PGPASSWORD, ~/.pgpass, trust)
        lines += ["      password:", f"        env: {PG_PASSWORD_ENV}"]
    lines.append(f"      db_name: {_scalar(pg.dagster_db)}")
    if pg.sslmode:
        lines += ["      params:", f"        sslmode: {_scalar(pg.sslmode)}"]
    return "\n".join(lines) + "\n"


def _require_postgres_extra() -> None:
    missing = [m for m in ("dagster_postgres", "psycopg2") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(
            f"ASSOC_PROFILE=postgres needs {' and '.join(missing)}: "
            'pip install -c constraints.txt -e ".[postgres]"'
        )


def write_dagster_yaml(home: str | os.PathLike, settings: Settings | None = None) -> Path:
    """Create an instance folder with our dagster.yaml for the profile (``settings`` or the env).

    A hand-written dagster.yaml (no marker on its first line) is kept as it is.
    """
    settings = settings or get_settings()
    if settings.profile == "postgres":
        _require_postgres_extra()
    path = Path(home).resolve()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    text = dagster_yaml(settings)
    if config.exists():
        current = config.read_text()
        if current == text or MARKER not in current.partition("\n")[0]:
            return path
    tmp = config.with_name(f".dagster.yaml.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(config)
    return path


def ensure_dagster_home(home: str | os.PathLike | None = None, settings: Settings | None = None) -> Path:
    """Point DAGSTER_HOME at the project's instance (creating it) unless already set."""
    path = write_dagster_yaml(
        home or os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home", settings
    )
    os.environ["DAGSTER_HOME"] = str(path)
    return path
