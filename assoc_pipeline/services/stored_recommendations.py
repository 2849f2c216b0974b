"""`assoc-pipeline recommend` answered from the `recommendations` asset's own rows when they hold it.

The asset has already written the served model's top-K for every user and for every single item:
the best baseline's until a champion is promoted, after that the champion's for the tasks it
serves and the best baseline's for the others. A command-line question
about one of them has its answer in that table: reading it needs no basket matrix, no model, no
SciPy, torch or MLflow, so the command takes about the time of starting Python and reading two
Parquet files (with a champion the full path takes about 5 s, most of it importing MLflow and
torch). Whatever the table cannot answer exactly (rows another model wrote, more than the table's
K, a basket of several items, a user it does not list) returns None and is left to the full path,
which computes what the asset would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assoc_pipeline.core.privacy.pseudonymise import PSEUDONYM_KEY_ENV, pseudonym
from assoc_pipeline.core.recsys.contribution_cells import contributions_text
from assoc_pipeline.core.recsys.item_lookup import ItemLookup
from assoc_pipeline.core.recsys.task_names import COMPLETION, NEXT_BASKET
from assoc_pipeline.services.model_registry import serves

RECOMMENDATIONS_FILE = "recommendations.parquet"  # the `recommendations` asset's table
CHAMPION_FILE = "champion.json"  # the last gate's verdict, written by the `champion` asset
VOCABULARY_PATH = Path("baskets") / "vocabulary.parquet"
BASKETS_PATH = Path("baskets") / "baskets.parquet"
# what the table was computed from: rewritten after it, the table is stale and the full path answers
INPUTS = (BASKETS_PATH, VOCABULARY_PATH, "evaluation_report.parquet", "baseline_tuning.json",
          "association_rules.parquet", CHAMPION_FILE)  # fmt: skip


def answer_text(header: str, notes: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """What `recommend` prints: the header, notes, one block per recommended item, two summaries."""
    lines = [header, *notes]
    for r in rows:
        lines.append(f"{r['rank']:>3}. {r['item_id']:<8} {r['item_name']:<40} score {r['score']:8.4f}")
        if r.get("explanation"):
            lines.append(f"       because {r['explanation']}")
        if r.get("contributions"):
            lines.append(f"       ranked by {contributions_text(r['contributions'])}")
    n_expl = sum(1 for r in rows if r.get("explanation"))
    lines.append(f"({n_expl} of {len(rows)} recommendations backed by a mined association rule)")
    n_contrib = sum(1 for r in rows if r.get("contributions"))
    if n_contrib:
        lines.append(
            f"(ranked by: the ranker's top feature groups by integrated gradients, logit units "
            f"against the average candidate of the list; {n_contrib} of {len(rows)} items)"
        )
    return "\n".join(lines)


NO_CHAMPION = " (no champion promoted yet)"
SCOPE_TASK = {"user": NEXT_BASKET, "item": COMPLETION, "basket": COMPLETION}


def baseline_source(name: str, champion: str | None = None, champion_tasks: Sequence[str] = ()) -> str:
    """How a baseline's answers are labelled: standing in until a promotion, or beside a champion
    that serves other tasks only."""
    if champion is None:
        return f"baseline {name}{NO_CHAMPION}"
    return f"baseline {name}{beside_champion(champion, champion_tasks)}"


def beside_champion(champion: str, champion_tasks: Sequence[str]) -> str:
    return f" (the champion, version {champion}, serves {' and '.join(champion_tasks)} only)"


def gate_note(
    last_gate: Mapping[str, Any] | None,
    task: str = NEXT_BASKET,
    champion: str | None = None,
    champion_tasks: Sequence[str] = (),
) -> list[str]:
    """The line that says why a baseline answers ``task``: the gate has not promoted a model, or
    the ``champion`` version holding the alias serves ``champion_tasks`` only."""
    if champion is not None:
        return [
            f"note: the champion (version {champion}) serves {' and '.join(champion_tasks)} only: "
            f"the best baseline of the evaluation report serves {task}"
        ]
    if not last_gate:
        return []
    return [
        f"note: no champion promoted yet (last gate verdict: {last_gate.get('verdict')}): "
        "serving the best baseline of the evaluation report"
    ]


def user_id_candidates(user: str) -> list[str]:
    """The ids the baskets may hold for ``user``: as given, then its keyed pseudonym when ids are
    pseudonymised (``ASSOC_PSEUDONYM_KEY`` set), so people can ask with the source customer id."""
    user = str(user).strip()
    key = os.environ.get(PSEUDONYM_KEY_ENV, "")
    return [user, pseudonym(user, key, setting=PSEUDONYM_KEY_ENV)] if key else [user]


def stored_answer(
    assets_dir: Path, user: str | None, items: str | None, k: int, champion: str | None = None
) -> str | None:
    """The answer to `recommend --user` / `--items` (one item) from the asset's table, or None when
    the table does not hold exactly that answer. ``champion``: the version the registry's
    ``champion`` alias points to now (None: no champion)."""
    table_path = assets_dir / RECOMMENDATIONS_FILE
    if not table_is_current(assets_dir):
        return None
    import pyarrow.parquet as pq

    if user is not None:
        scope, queries = "user", user_id_candidates(user)
    else:
        vocabulary = pq.ParquetFile(assets_dir / VOCABULARY_PATH).read(columns=["item_id", "item_name"])
        lookup = ItemLookup(vocabulary.to_pydict())
        tokens = [t for t in (items or "").split(",") if t.strip()]
        found = {lookup.index(t) for t in tokens}
        if len(found) != 1 or None in found:
            return None  # several items, none, or an unknown one: the full path answers or explains
        item = found.pop()
        scope, queries = "item", [str(lookup.ids[item])]
    rows = rows_where(table_path, {"scope": [scope], "query": queries})
    if not rows:
        return None
    query = next(q for q in queries if any(r["query"] == q for r in rows))
    rows = sorted((r for r in rows if r["query"] == query), key=lambda r: r["rank"])
    gate_path = assets_dir / CHAMPION_FILE
    last_gate = json.loads(gate_path.read_text()) if gate_path.exists() else None
    if len(rows) < k or not written_by_served_model(rows[0]["source"], scope, champion, last_gate):
        return None  # the table holds fewer than asked, or another model than the one serving now wrote it
    if len(rows) > k and rows[k - 1]["score"] == rows[k]["score"]:
        return None  # a tie across the k-th place: which of the tied items a top-k keeps is the model's
    rows = rows[:k]
    if any(r.get("contributions") for r in rows) and not all(r.get("contributions") for r in rows):
        return None  # a ranker's rows explained only to the asset's `explain_top`; the full path: all k
    label = rows[0]["source"]
    champion_tasks = (last_gate or {}).get("champion_tasks", ())
    notes = (
        []
        if label.startswith("champion")
        else gate_note(last_gate, SCOPE_TASK[scope], champion, champion_tasks)
    )
    if scope == "user":
        bought = distinct_items_bought(assets_dir / BASKETS_PATH, query)
        header = f"user {query} ({bought} distinct items bought)"
    else:
        header = f"basket: {lookup.names[item]}"
    return answer_text(f"{header} — {label}", notes, rows)


def written_by_served_model(
    source: str, scope: str, champion: str | None, last_gate: Mapping[str, Any] | None
) -> bool:
    """Whether rows labelled ``source`` are what the model serving now would write: the best
    baseline while no champion holds the alias; with one, that version as the last gate recorded
    it, or the best baseline beside it where it does not serve the scope's task. For users, only a
    champion whose user scores read the purchase history: another adds a note for users it never
    learned, which the table does not hold."""
    if champion is None:
        return source.startswith("baseline ") and source.endswith(NO_CHAMPION)
    gate = last_gate or {}
    if str(gate.get("champion_version")) != champion:
        return False  # the alias moved since the last gate (by hand, or another store's run)
    if not serves(gate, SCOPE_TASK[scope]):
        return source.startswith("baseline ") and source.endswith(
            beside_champion(champion, gate["champion_tasks"])
        )
    if scope == "user" and gate.get("champion_reads_history") is not True:
        return False
    return source == f"champion: {gate.get('champion_model_type')} (version {champion})"


def table_is_current(assets_dir: Path) -> bool:
    """The table exists and none of its inputs was rewritten after it."""
    table = assets_dir / RECOMMENDATIONS_FILE
    if not table.exists() or not (assets_dir / VOCABULARY_PATH).exists():
        return False
    written = table.stat().st_mtime
    return all(not (assets_dir / p).exists() or (assets_dir / p).stat().st_mtime <= written for p in INPUTS)


def distinct_items_bought(baskets_path: Path, user: str) -> int:
    """How many distinct items ``user`` bought across the stored baskets."""
    baskets = rows_where(baskets_path, {"user_id": [user]}, columns=["items"])
    return len({item for basket in baskets for item in basket["items"]})


def rows_where(
    path: Path, equals_any: Mapping[str, Sequence[str]], columns: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The rows of a Parquet file whose columns each hold one of the given values, as dicts.

    Matched in Python over the key columns: ``pq.read_table(filters=...)``, and any conversion of
    Python values to Arrow for a compute filter, import pandas (a second of this command's time)."""
    import pyarrow.parquet as pq

    read = list(dict.fromkeys([*columns, *equals_any])) if columns else None
    table = pq.ParquetFile(path).read(columns=read)
    keys = [(table.column(c).to_pylist(), set(values)) for c, values in equals_any.items()]
    hits = [i for i in range(table.num_rows) if all(column[i] in wanted for column, wanted in keys)]
    if columns:
        table = table.select(list(columns))
    return [table.slice(i, 1).to_pylist()[0] for i in hits]
