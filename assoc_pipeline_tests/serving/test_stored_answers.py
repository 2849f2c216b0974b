"""`recommend` answers from the `recommendations` asset's rows exactly what the full path computes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.resources import build_resources
from assoc_pipeline.services.model_registry import no_champion_yet
from assoc_pipeline.services.recommendations import StoredState, recommend_command
from assoc_pipeline.services.stored_recommendations import stored_answer


@pytest.fixture(scope="module")
def state(demo_run):
    settings, _, _ = demo_run
    assert no_champion_yet(settings.mlflow_tracking_uri), "the two-month sample's gate should refuse"
    return settings, StoredState.load(settings.data_dir / "assets")


def full_path(settings, **query) -> str:
    tracker = build_resources(settings)["mlflow"]
    return recommend_command(lambda: tracker, tracker.tracking_uri, settings.data_dir / "assets", **query)


def test_stored_answers_equal_the_full_path_for_users_and_items(state) -> None:
    settings, stored = state
    users, history = user_item_counts(stored.baskets)
    busiest = users[(-history.getnnz(axis=1)).argsort()[:3]]
    popular = (-stored.baskets.matrix.getnnz(axis=0)).argsort()[:3]
    vocab = stored.baskets.vocabulary
    queries = [{"user": str(u)} for u in busiest]
    queries += [{"items": str(vocab["item_id"].iloc[i])} for i in popular]
    queries += [{"items": str(vocab["item_name"].iloc[popular[0]]).lower()}]  # a name, any case
    answered = 0
    for query in queries:
        for k in (10, 5, 3):
            fast = stored_answer(settings.data_dir / "assets", query.get("user"), query.get("items"), k)
            if fast is None:  # only a tie across the k-th place may send a query to the full path
                continue
            answered += 1
            assert fast == full_path(settings, k=k, **query), query
    assert answered >= len(queries) * 2


def test_what_the_table_cannot_answer_goes_to_the_full_path(state) -> None:
    settings, stored = state
    assets = settings.data_dir / "assets"
    users, _ = user_item_counts(stored.baskets)
    ids = stored.baskets.vocabulary["item_id"].astype(str)
    assert stored_answer(assets, str(users[0]), None, 11) is None  # more than the asset's k=10
    assert stored_answer(assets, None, f"{ids.iloc[0]},{ids.iloc[1]}", 5) is None  # several items
    assert stored_answer(assets, None, "no such product", 5) is None  # the full path explains it
    assert stored_answer(assets, "no such user", None, 5) is None


def test_a_table_older_than_its_inputs_is_not_used(state, tmp_path) -> None:
    import shutil

    settings, stored = state
    assets = tmp_path / "assets"
    shutil.copytree(settings.data_dir / "assets" / "baskets", assets / "baskets")
    shutil.copy2(settings.data_dir / "assets" / "recommendations.parquet", assets)
    user = str(user_item_counts(stored.baskets)[0][0])
    assert stored_answer(assets, user, None, 5) is not None
    later = (assets / "recommendations.parquet").stat().st_mtime + 60
    os.utime(assets / "baskets" / "baskets.parquet", (later, later))  # new baskets, table not rebuilt
    assert stored_answer(assets, user, None, 5) is None


def test_the_command_answers_from_the_table(state) -> None:
    """The console script, as a user runs it, prints the full path's answer."""
    settings, stored = state
    users, _ = user_item_counts(stored.baskets)
    user = str(users[0])
    env = {**os.environ, "ASSOC_DATA_DIR": str(settings.data_dir), "ASSOC_SOURCE": str(settings.source_path)}
    script = Path(sys.executable).parent / "assoc-pipeline"
    done = subprocess.run(
        [str(script), "recommend", "--user", user, "--k", "10"], env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip("\n") == full_path(settings, user=user, k=10)
    # and it got there without the model stack: no SciPy, torch, Dagster or MLflow imported
    code = (
        "import sys; from assoc_pipeline.cli import main; main(['recommend', '--user', sys.argv[1]]); "
        "print('heavy:', sorted(m for m in ('scipy', 'torch', 'dagster', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, user], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "heavy: []" in done.stdout, (done.stdout[-500:], done.stderr[-2000:])
    # a customer's basket is scored, not read: still neither torch, Dagster nor MLflow (torch alone
    # took 1.5 s of the README's example)
    items = ",".join(stored.baskets.vocabulary["item_id"].astype(str).iloc[:2])
    code = (
        "import sys; from assoc_pipeline.cli import main; "
        "main(['recommend', '--items', sys.argv[2], '--user', sys.argv[1], '--k', '5']); "
        "print('heavy:', sorted(m for m in ('torch', 'dagster', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, user, items], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.rstrip("\n").endswith("heavy: []"), (
        done.stdout[-500:],
        done.stderr[-2000:],
    )
    assert done.stdout.startswith(full_path(settings, items=items, user=user, k=5))


def test_recommend_without_a_user_or_items_says_what_to_give(tmp_path) -> None:
    env = {**os.environ, "ASSOC_DATA_DIR": str(tmp_path)}
    script = Path(sys.executable).parent / "assoc-pipeline"
    command = [str(script), "recommend", "--k", "3"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "assoc-pipeline: error: recommend: give --user (next basket), --items (basket completion) or both"
    ]


def champion_table(tmp_path: Path, contributions: list[str], reads_history: bool = True) -> Path:
    """A `recommendations` table the champion version 7 (a ranker) wrote for user u1, its gate
    record and the basket files beside it, written in the pipeline's order (the table last)."""
    import json

    import pandas as pd

    assets = tmp_path / "assets"
    (assets / "baskets").mkdir(parents=True)
    pd.DataFrame({"item_id": ["A", "B", "C"], "item_name": ["APPLE", "BREAD", "CHEESE"]}).to_parquet(
        assets / "baskets" / "vocabulary.parquet"
    )
    pd.DataFrame({"user_id": ["u1", "u1"], "items": [["A", "B"], ["B"]]}).to_parquet(
        assets / "baskets" / "baskets.parquet"
    )
    gate = {"verdict": "promoted", "champion_version": "7", "champion_model_type": "ranker"}
    (assets / "champion.json").write_text(json.dumps({**gate, "champion_reads_history": reads_history}))
    rows = [
        {
            "scope": "user",
            "query": "u1",
            "rank": rank,
            "item_id": item,
            "item_name": name,
            "score": 3.0 - rank,
            "explanation": "",
            "contributions": cell,
            "source": "champion: ranker (version 7)",
        }
        for rank, (item, name, cell) in enumerate(
            zip("ABC", ("APPLE", "BREAD", "CHEESE"), contributions, strict=True), 1
        )
    ]
    pd.DataFrame(rows).to_parquet(assets / "recommendations.parquet")
    return assets


def test_a_champions_table_answers_only_for_that_version_and_only_what_it_explained(tmp_path) -> None:
    cell = '[{"group": "cycle", "feature": "overdue", "value": 0.38, "why": "bought every ~32 days"}]'
    assets = champion_table(tmp_path / "all", [cell, cell, cell])
    answer = stored_answer(assets, "u1", None, 3, champion="7")
    assert (
        answer is not None
        and answer.splitlines()[0] == "user u1 (2 distinct items bought) — champion: ranker (version 7)"
    )
    assert "note:" not in answer and answer.count("ranked by cycle +0.38 (bought every ~32 days)") == 3
    assert stored_answer(assets, "u1", None, 3, champion="8") is None  # the alias points elsewhere now
    assert stored_answer(assets, "u1", None, 3, champion=None) is None  # no champion: not its rows
    mixed = champion_table(tmp_path / "mixed", [cell, cell, ""])  # explained to the asset's explain_top=2
    assert stored_answer(mixed, "u1", None, 2, champion="7") is not None
    assert stored_answer(mixed, "u1", None, 3, champion="7") is None  # the full path explains all 3
    learned = champion_table(tmp_path / "learned", [cell, cell, cell], reads_history=False)
    assert stored_answer(learned, "u1", None, 3, champion="7") is None  # its note for unlearned users
