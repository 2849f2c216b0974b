"""Which version an MLflow registry alias points to, read straight from an embedded SQLite store.

`assoc-pipeline recommend` should answer in about a second; importing MLflow and opening its
SQLAlchemy store (schema checks) take several. Its first question is "which version is the
champion, if any?", and on the embedded profile the answer is one read-only query of MLflow's
``registered_model_aliases`` table. Anything else (another store, a file without that table, an
alias held in several workspaces) is left to MLflow itself: this reader only answers when it is
sure.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

SQLITE_PREFIX = "sqlite:///"
RECOMMENDER_MODEL = "assoc-recommender"  # the registered model every recommender version goes to
CHAMPION_ALIAS = "champion"  # the alias the promotion gate moves; serving follows it


@dataclass(frozen=True)
class AliasReading:
    """What the embedded store says of an alias. ``sure`` False: only MLflow can tell."""

    sure: bool
    version: str | None = None  # the version it points to; None when unset (or not sure)


def read_alias(tracking_uri: str, model_name: str, alias: str) -> AliasReading:
    """The version ``alias`` of ``model_name`` points to in the SQLite store at ``tracking_uri``
    (no store yet: surely unset); not sure for another store or anything it cannot read."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return AliasReading(sure=False)
    path = Path(unquote(tracking_uri[len(SQLITE_PREFIX) :].split("?", 1)[0]))
    if not path.exists():
        return AliasReading(sure=True)  # nothing was ever tracked: no registry, no alias
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ? LIMIT 2",
                (model_name, alias),
            ).fetchall()
    except sqlite3.Error:  # another schema, a locked or damaged file: MLflow decides
        return AliasReading(sure=False)
    if len(rows) > 1:  # the alias in several workspaces: which one applies is MLflow's to say
        return AliasReading(sure=False)
    return AliasReading(sure=True, version=str(rows[0][0]) if rows else None)


def alias_surely_unset(tracking_uri: str, model_name: str, alias: str) -> bool:
    """True when the SQLite store at ``tracking_uri`` holds no ``alias`` of ``model_name`` (or no
    store exists yet); False when it does, or when this cannot be read without MLflow."""
    reading = read_alias(tracking_uri, model_name, alias)
    return reading.sure and reading.version is None
