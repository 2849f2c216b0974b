r"""Typed project settings with embedded defaults, overridable by a project file and the environment.

Everything runs with nothing to start by hand: tables under ``.assoc_data/`` (Parquet), the
Dagster instance under ``.dagster_home/`` (SQLite) and MLflow in a SQLite file, all inside the
project. Precedence, lowest first: the defaults; the project file ``assoc-pipeline.toml`` in the
project root (or the file ``ASSOC_CONFIG`` names), which ``make demo``, ``make ui`` and the CLI all
read; ``ASSOC_*`` environment variables. Dagster run config overrides the per-asset values
(thresholds, cutoffs) on top.

The project file (every key optional)::

    source = "data/my_events.csv"       # a file or a folder of event files
    format = "events"                   # online_retail | events | basket_lines | fimi | auto
    live = false                        # true: the open month is a partition (the inbox sensor)
    [column_mapping]                    # canonical column = your column
    event_time = "ts"
    basket_id = "order_id"
    item_id = "sku"
    [cleaning]                          # defaults of the clean_events config (core/data/rule_sets.py)
    rule_set = "auto"                   # auto (the source format's) | online_retail | events
    product_code_pattern = '^\d{7}$'    # your product-code convention (non_product_code rule)
    rules = ["missing_id", "return", "duplicate"]   # instead of the rule set's defaults
    min_kept_rows = 0.8                 # data-loss guard floors (core/data/data_loss.py)
    [ab_test]                           # `serve`: split users between champion and a challenger
    challenger = "7"                    # a registered version (ASSOC_CHALLENGER; --challenger)
    share = 0.1                         # the challenger's share of users (ASSOC_CHALLENGER_SHARE)
    experiment = "dnn-v7"               # the assignment salt (default: challenger-v<version>)

Profiles (``ASSOC_PROFILE``) move the stores without code edits: ``embedded`` (default) is the
above; ``postgres`` puts the Dagster instance storage (runs, event logs, schedules) and the MLflow
tracking + registry store on PostgreSQL (``ASSOC_PG_*``). The password is only ever read from
``ASSOC_PG_PASSWORD``: dagster.yaml refers to it by name and MLflow gets it through libpq's
``PGPASSWORD``, so no URI, log line, asset metadata or repr carries it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import quote, urlencode

from assoc_pipeline.core.errors import InputError

ENV_PREFIX = "ASSOC_"
PROFILES = ("embedded", "postgres")
PG_PASSWORD_ENV = ENV_PREFIX + "PG_PASSWORD"
MASK = "***"
# the Settings fields that are paths (JSON keeps them as strings)
_PATH_FIELDS = ("data_dir", "source_path", "inbox_override", "mlflow_artifact_root_override")


def project_root() -> Path:
    """The checkout this package lives in (editable install), else the working directory."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


CONFIG_FILE = "assoc-pipeline.toml"
CONFIG_KEYS = (
    "source", "format", "live", "column_mapping", "data_dir", "partition_start", "partition_end", "cleaning",
    "ab_test",
)  # fmt: skip


def config_path() -> Path:
    """The project file: ``ASSOC_CONFIG``, else ``assoc-pipeline.toml`` in the project root."""
    return Path(os.environ.get(ENV_PREFIX + "CONFIG") or project_root() / CONFIG_FILE)


def read_project_file(path: Path | None = None) -> dict:
    """The project file's settings ({} when there is none); unknown keys are an error naming them."""
    import tomllib

    path = path or config_path()
    if not path.exists():
        if os.environ.get(ENV_PREFIX + "CONFIG"):
            raise InputError(f"{ENV_PREFIX}CONFIG={path}: file not found")
        return {}
    try:
        values = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a valid TOML project file: {exc}") from exc
    unknown = sorted(set(values) - set(CONFIG_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {unknown}; known: {', '.join(CONFIG_KEYS)}")
    mapping = values.get("column_mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise InputError(f"{path}: [column_mapping] must map canonical column names to your column names")
    cleaning_settings(values.get("cleaning", {}), f"{path}: [cleaning]")
    ab_test_settings(values.get("ab_test", {}), f"{path}: [ab_test]")
    return values


AB_TEST_KEYS = ("challenger", "share", "experiment")


def ab_test_settings(values: object, where: str) -> dict[str, object]:
    """The ``[ab_test]`` settings, checked: a challenger version, its share in (0, 1), a name."""
    from assoc_pipeline.core.experiments.assignment import check_share

    if not isinstance(values, dict):
        raise InputError(f"{where}: must be a table of settings")
    unknown = sorted(set(values) - set(AB_TEST_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown setting(s) {unknown}; known: {', '.join(AB_TEST_KEYS)}")
    out = {k: str(v).strip() for k, v in values.items() if k != "share" and str(v).strip()}
    if "share" in values:
        out["share"] = check_share(values["share"], f"{where} share")
    return out


def cleaning_settings(values: object, where: str) -> dict[str, object]:
    """The ``[cleaning]`` settings, checked: only the clean_events config's names, valid values."""
    import dataclasses

    from assoc_pipeline.core.data.data_loss import DataLossFloors
    from assoc_pipeline.core.data.rule_sets import CleaningRules

    if not isinstance(values, dict):
        raise InputError(f"{where}: must be a table of settings")
    rule_names = {f.name for f in dataclasses.fields(CleaningRules)}
    floor_names = {f.name for f in dataclasses.fields(DataLossFloors)}
    unknown = sorted(set(values) - rule_names - floor_names)
    if unknown:
        raise InputError(
            f"{where}: unknown setting(s) {unknown}; known: {', '.join(sorted(rule_names | floor_names))}"
        )
    rules = {k: v for k, v in values.items() if k in rule_names}
    if rules.get("rule_set", "auto") == "auto":
        rules["rule_set"] = "online_retail"  # resolved from the source at run time; checked as one
    try:
        CleaningRules(**rules)
        DataLossFloors(**{k: v for k, v in values.items() if k in floor_names})
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from exc
    return dict(values)


def parse_mapping(text: str, what: str = f"{ENV_PREFIX}COLUMN_MAP") -> dict[str, str]:
    """``"event_time=ts,basket_id=order_id"`` -> {"event_time": "ts", "basket_id": "order_id"}."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        canonical, sep, source = part.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            raise InputError(f"{what}: {part!r} is not canonical=column (e.g. event_time=ts)")
        mapping[canonical.strip()] = source.strip()
    return mapping


def project_column_mapping() -> dict[str, str]:
    """The column mapping every command applies to a generic event log: ASSOC_COLUMN_MAP, else
    the project file's [column_mapping] (read without building the whole :class:`Settings`)."""
    if os.environ.get(ENV_PREFIX + "COLUMN_MAP"):
        return parse_mapping(os.environ[ENV_PREFIX + "COLUMN_MAP"])
    return dict(read_project_file().get("column_mapping", {}))


def redact_uri(uri: str) -> str:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db`` (for logs and metadata)."""
    return re.sub(r"^([A-Za-z][\w+.-]*://[^:/@]*):[^@]*@", rf"\1:{MASK}@", uri)


@dataclass(frozen=True)
class PostgresSettings:
    """Where the ``postgres`` profile keeps the Dagster instance and the MLflow store.

    Two databases on one server: Dagster and MLflow both version their schema with an Alembic
    ``alembic_version`` table, so they cannot share one database.
    """

    host: str = "localhost"
    port: int = 5432
    user: str = "assoc"
    password: str | None = field(default=None, repr=False)
    dagster_db: str = "dagster"
    mlflow_db: str = "mlflow"
    sslmode: str | None = None

    def __repr__(self) -> str:
        password = MASK if self.password else None
        return (
            f"PostgresSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"password={password!r}, dagster_db={self.dagster_db!r}, mlflow_db={self.mlflow_db!r}, "
            f"sslmode={self.sslmode!r})"
        )

    def url(self, db_name: str) -> str:
        """A SQLAlchemy/libpq URL *without* the password (libpq reads it from PGPASSWORD)."""
        query = f"?{urlencode({'sslmode': self.sslmode})}" if self.sslmode else ""
        return f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/{db_name}{query}"

    @classmethod
    def from_env(cls) -> PostgresSettings:
        port = _env("PG_PORT", "5432")
        if not port.isdigit():
            raise InputError(f"{ENV_PREFIX}PG_PORT must be a port number, got {port!r}")
        settings = cls(
            host=_env("PG_HOST", "localhost"),
            port=int(port),
            user=_env("PG_USER", "assoc"),
            password=os.environ.get(PG_PASSWORD_ENV) or None,
            dagster_db=_env("PG_DB", "dagster"),
            mlflow_db=_env("PG_MLFLOW_DB", "mlflow"),
            sslmode=os.environ.get(ENV_PREFIX + "PG_SSLMODE") or None,
        )
        if settings.dagster_db == settings.mlflow_db:
            raise InputError(
                f"{ENV_PREFIX}PG_DB and {ENV_PREFIX}PG_MLFLOW_DB are both {settings.dagster_db!r}: "
                "Dagster and MLflow need a database each (both keep an alembic_version table)"
            )
        return settings


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    source_path: Path
    source_format: str
    partition_start: str | None  # None: the first month of the source's data
    partition_end: str | None  # None: after the source's last month (or open, when live)
    mlflow_experiment: str
    column_mapping: dict[str, str] = field(default_factory=dict)
    cleaning: dict[str, object] = field(default_factory=dict)  # [cleaning]: clean_events config defaults
    live: bool = False
    inbox_override: Path | None = None
    mlflow_tracking_uri_override: str | None = None
    mlflow_artifact_root_override: Path | None = None
    profile: str = "embedded"
    postgres: PostgresSettings | None = None
    ab_test: dict[str, object] = field(default_factory=dict)  # [ab_test]: serve's challenger split

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise InputError(
                f"{ENV_PREFIX}PROFILE={self.profile!r} is not a profile: use one of {', '.join(PROFILES)}"
            )
        if self.profile == "postgres" and self.postgres is None:
            object.__setattr__(self, "postgres", PostgresSettings())

    def __repr__(self) -> str:
        fields = {
            "profile": self.profile,
            "data_dir": str(self.data_dir),
            "source_path": str(self.source_path),
            "source_format": self.source_format,
            "partition_start": self.partition_start,
            "partition_end": self.partition_end,
            "column_mapping": self.column_mapping,
            "cleaning": self.cleaning,
            "live": self.live,
            "mlflow_experiment": self.mlflow_experiment,
            "mlflow_tracking_uri": redact_uri(self.mlflow_tracking_uri),
            "mlflow_artifact_root": str(self.mlflow_artifact_root),
            "inbox_dir": str(self.inbox_dir),
        }
        body = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        pg = f", postgres={self.postgres!r}" if self.postgres is not None else ""
        return f"Settings({body}{pg})"

    def to_json(self) -> str:
        """These settings as JSON, for a step process to rebuild them (:meth:`from_json`).

        Never the PostgreSQL password: the JSON travels in the run's job pointer, which Dagster
        stores; the step process reads the password from the environment as :meth:`from_env` does.
        """
        data: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.postgres is not None:
            data["postgres"] = {**asdict(self.postgres), "password": None}
        return json.dumps(data, default=str, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings :meth:`to_json` wrote (paths back to ``Path``, the password from the env)."""
        data = json.loads(text)
        for name in _PATH_FIELDS:
            if data.get(name) is not None:
                data[name] = Path(data[name])
        if data.get("postgres") is not None:
            data["postgres"] = PostgresSettings(
                **{**data["postgres"], "password": os.environ.get(PG_PASSWORD_ENV) or None}
            )
        return cls(**data)

    def summary(self) -> str:
        """Where things live, one line each; never shows a password."""
        lines = [
            f"profile          : {self.profile}",
            f"tables (Parquet) : {self.data_dir / 'assets'}",
            f"MLflow store     : {redact_uri(self.mlflow_tracking_uri)}",
            f"MLflow artifacts : {self.mlflow_artifact_root}",
        ]
        if self.postgres is not None:
            pg = self.postgres
            lines.append(f"Dagster storage  : {redact_uri(pg.url(pg.dagster_db))} (PostgreSQL)")
        return "\n".join(lines)

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
    def ease_cache_dir(self) -> Path:
        """EASE inverses shared by the steps, `recommend` and `serve` (resources/ease_cache.py)."""
        return self.data_dir / "cache" / "ease"

    @property
    def mlflow_tracking_uri(self) -> str:
        """ASSOC_MLFLOW_TRACKING_URI if set; else the profile's store (SQLite file or PostgreSQL).

        The PostgreSQL URI carries no password: libpq takes it from PGPASSWORD, which
        :meth:`from_env` sets from ASSOC_PG_PASSWORD.
        """
        if self.mlflow_tracking_uri_override:
            return self.mlflow_tracking_uri_override
        if self.postgres is not None:
            return self.postgres.url(self.postgres.mlflow_db)
        return f"sqlite:///{self.data_dir / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        return self.mlflow_artifact_root_override or self.data_dir / "mlartifacts"

    @classmethod
    def from_env(cls) -> Settings:
        root = project_root()
        project = read_project_file()

        def setting(env: str, key: str, default: str) -> str:
            return os.environ.get(ENV_PREFIX + env) or str(project.get(key, default))

        def in_project(value: str) -> Path:
            path = Path(value)
            return path if path.is_absolute() else root / path

        data_dir = in_project(setting("DATA_DIR", "data_dir", str(root / ".assoc_data"))).resolve()
        profile = _env("PROFILE", "embedded").strip().lower() or "embedded"
        if profile not in PROFILES:  # before reading the profile's own variables
            raise InputError(
                f"{ENV_PREFIX}PROFILE={profile!r} is not a profile: use one of {', '.join(PROFILES)}"
            )
        postgres = PostgresSettings.from_env() if profile == "postgres" else None
        if postgres is not None and postgres.password:
            # libpq (psycopg2 under MLflow's SQLAlchemy store, `mlflow server`) reads it from here,
            # so the MLflow URI, its log lines and the asset metadata showing it stay secret-free.
            os.environ["PGPASSWORD"] = postgres.password
        return cls(
            data_dir=data_dir,
            source_path=in_project(
                setting("SOURCE", "source", str(root / "data" / "sample" / "online_retail.csv.gz"))
            ),
            source_format=setting("SOURCE_FORMAT", "format", "auto"),
            partition_start=setting("PARTITION_START", "partition_start", "") or None,
            partition_end=setting("PARTITION_END", "partition_end", "") or None,
            column_mapping=parse_mapping(os.environ[ENV_PREFIX + "COLUMN_MAP"])
            if os.environ.get(ENV_PREFIX + "COLUMN_MAP")
            else dict(project.get("column_mapping", {})),
            cleaning=_cleaning_from(project),
            live=setting("LIVE", "live", "false").strip().lower() in ("1", "true", "yes"),
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
            profile=profile,
            postgres=postgres,
            ab_test=_ab_test_from(project),
        )


def _cleaning_from(project: dict) -> dict[str, object]:
    """The project file's [cleaning], with ASSOC_PRODUCT_CODE_PATTERN / ASSOC_CLEANING_RULES
    (comma-separated rule names) on top."""
    cleaning = dict(project.get("cleaning", {}))
    if ENV_PREFIX + "PRODUCT_CODE_PATTERN" in os.environ:
        cleaning["product_code_pattern"] = os.environ[ENV_PREFIX + "PRODUCT_CODE_PATTERN"]
    if os.environ.get(ENV_PREFIX + "CLEANING_RULES"):
        names = os.environ[ENV_PREFIX + "CLEANING_RULES"].split(",")
        cleaning["rules"] = [n.strip() for n in names if n.strip()]
    return cleaning_settings(cleaning, "cleaning settings (project file and ASSOC_ environment)")


def _ab_test_from(project: dict) -> dict[str, object]:
    """The project file's [ab_test], with ASSOC_CHALLENGER / ASSOC_CHALLENGER_SHARE /
    ASSOC_EXPERIMENT on top."""
    values = dict(project.get("ab_test", {}))
    names = (("CHALLENGER", "challenger"), ("CHALLENGER_SHARE", "share"), ("EXPERIMENT", "experiment"))
    for env, key in names:
        if os.environ.get(ENV_PREFIX + env):
            values[key] = os.environ[ENV_PREFIX + env]
    return ab_test_settings(values, "A/B test settings (project file [ab_test] and ASSOC_ environment)")


def get_settings() -> Settings:
    return Settings.from_env()
