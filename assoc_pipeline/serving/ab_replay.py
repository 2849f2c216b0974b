"""Replay: the A/B path driven by the test period of the stored baskets, so the report has data.

Both versions are loaded as the server loads them, but on the baskets *before* the test cutoff
(the history a server would have held then, so no answer sees the basket it is scored on). Each
test-period basket of a known user becomes one request, "asked" one second before the basket:
the :class:`~assoc_pipeline.serving.ab.ABRouter` assigns the user's arm, answers from that arm's
version and queues the exposure in the :class:`~assoc_pipeline.serving.exposure_log.ExposureLog`
with that historical time, exactly as a live request would. The ``ab_report`` asset then joins
them with the purchases that followed. Users whose first basket is in the test period are unknown
to a server holding the earlier history; they are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR
from assoc_pipeline.core.recsys.item_lookup import UnknownQueryError
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.services.recommendations import StoredState
from assoc_pipeline.serving.ab import ABRouter, Experiment, challenger_state
from assoc_pipeline.serving.exposure_log import ExposureLog
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import ScoringState

ASKED_BEFORE = pd.Timedelta(seconds=1)  # the request precedes its basket by this much


def history_before_test(assets_dir: Path) -> tuple[StoredState, pd.DataFrame]:
    """(the stored state cut at the test cutoff, the test-period baskets) from the split asset."""
    stored = StoredState.load(assets_dir)
    split_path = assets_dir / "split.json"
    if not split_path.exists():
        raise InputError(f"no split under {assets_dir}: materialize `split` first (make demo)")
    try:
        split = split_from_record(stored.baskets, json.loads(split_path.read_text()))
    except ValueError as exc:  # baskets re-materialized after the split: say so in one line
        raise InputError(str(exc)) from exc
    return dataclasses.replace(stored, baskets=split.train_full), split.test.baskets


def replay_requests(router: ABRouter, test_baskets: pd.DataFrame, k: int = 10) -> dict[str, int]:
    """One next-basket request per test basket of a known user, at its time minus a second."""
    asked = unknown = anonymous = 0
    rows = test_baskets.sort_values("basket_time")
    for user, when in zip(rows["user_id"], pd.to_datetime(rows["basket_time"]), strict=True):
        if pd.isna(user):
            anonymous += 1
            continue
        at = (when - ASKED_BEFORE).floor("us").to_pydatetime()
        try:
            router.for_user(str(user), k, at=at if at.tzinfo else at.replace(tzinfo=UTC))
        except UnknownQueryError:
            unknown += 1
            continue
        asked += 1
    return {
        "requests": asked, "skipped_baskets_of_new_users": unknown, "skipped_anonymous_baskets": anonymous,
    }  # fmt: skip


def replay(
    tracker: MLflowResource,
    assets_dir: Path,
    challenger: str,
    share: float = 0.5,
    experiment: str | None = None,
    k: int = 10,
) -> dict[str, Any]:
    """Replay the test period through the A/B router; a summary of what was recorded."""
    stored, test_baskets = history_before_test(assets_dir)
    champion = ScoringState.from_stored(tracker, stored)
    holder = ChampionHolder(lambda: champion, lambda: champion.version, poll_seconds=0)
    name = experiment or f"replay-v{challenger}-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}"
    log = ExposureLog(assets_dir / EXPOSURES_DIR)
    arm = challenger_state(tracker, stored, challenger)
    router = ABRouter(holder, Experiment(name, share, arm, log, "replay"))
    router.start()
    try:
        counts = replay_requests(router, test_baskets, k)
    finally:
        router.stop()
    return {
        "experiment": name,
        "champion": champion.users_model.label,
        "challenger": router.experiment.challenger.users_model.label,
        "share": share,
        **counts,
        "exposures_written": log.status.written,
        "exposures_dir": str(log.directory),
    }
