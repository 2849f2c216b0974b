"""Whether an MLflow registry alias is unset, read straight from an embedded SQLite store.

`assoc-pipeline recommend` should answer in about a second; importing MLflow and opening its
SQLAlchemy store (schema checks) take several. Before the first promotion, the only question is
"is there a champion?", and on the embedded profile the answer is one read-only query of MLflow's
``registered_model_aliases`` table. Anything else (another store, a file without that table, a
row that says the alias is set) is left to MLflow itself: this reader only ever says "unset" when
it is sure.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote

SQLITE_PREFIX = "sqlite:///"
RECOMMENDER_MODEL = "assoc-recommender"  # the registered model every recommender version goes to
CHAMPION_ALIAS = "champion"  # the alias the promotion gate moves; serving follows it


def alias_surely_unset(tracking_uri: str, model_name: str, alias: str) -> bool:
    """True when the SQLite store at ``tracking_uri`` holds no ``alias`` of ``model_name`` (or no
    store exists yet); False when it does, or when this cannot be read without MLflow."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return False
    path = Path(unquote(tracking_uri[len(SQLITE_PREFIX) :].split("?", 1)[0]))
    if not path.exists():
        return True  # nothing was ever tracked: no registry, no alias
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute(
                "SELECT 1 FROM registered_model_aliases WHERE name = ? AND alias = ? LIMIT 1",
                (model_name, alias),
            ).fetchone()
    except sqlite3.Error:  # another schema, a locked or damaged file: MLflow decides
        return False
    return row is None
