"""Hot reload: moving the registry's champion alias changes the served version, with no failed request."""

from __future__ import annotations

import threading
import time

from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.resources import build_resources
from assoc_pipeline.resources.mlflow_tracking import CHAMPION_ALIAS, RECOMMENDER_MODEL
from assoc_pipeline.services.model_registry import version_type
from assoc_pipeline.services.recommendations import StoredState


def served_version(server) -> str | None:
    return server.get("/health")[1]["model"]["version"]


def wait_for_version(server, version: str | None, timeout: float = 240.0) -> float:
    started = time.monotonic()
    while served_version(server) != version:
        assert time.monotonic() - started < timeout, f"still serving {served_version(server)}, not {version}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_moving_the_champion_alias_swaps_the_model_without_a_failed_request(server):
    tracker = build_resources(server.settings)["mlflow"]
    before = tracker.alias_version(RECOMMENDER_MODEL, CHAMPION_ALIAS)
    before_version = None if before is None else str(before.version)
    assert served_version(server) == before_version
    target = next(
        str(v.version)
        for v in tracker.versions(RECOMMENDER_MODEL)
        if version_type(v) is not None and str(v.version) != before_version
    )
    stored = StoredState.load(server.settings.data_dir / "assets")
    users, _ = user_item_counts(stored.baskets)
    user, item = str(users[0]), str(stored.baskets.vocabulary["item_id"].iloc[0])

    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            for status, body in (
                server.get(f"/recommend/user/{user}?k=5"),
                server.post("/recommend/basket", {"items": [item], "k": 5}),
            ):
                answers.append((status, body["model"]["version"] if status == 200 else str(body)))

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(1.0)
        tracker.set_alias(RECOMMENDER_MODEL, target, CHAMPION_ALIAS)
        wait_for_version(server, target)
        n_at_swap = len(answers)
        while len(answers) < n_at_swap + 10:
            time.sleep(0.1)
    finally:
        stop.set()
        asker.join(timeout=60)
        # leave the registry as the demo fixture wrote it, and wait for the server to follow
        if before_version is None:
            tracker.client().delete_registered_model_alias(RECOMMENDER_MODEL, CHAMPION_ALIAS)
        else:
            tracker.set_alias(RECOMMENDER_MODEL, before_version, CHAMPION_ALIAS)
    wait_for_version(server, before_version)

    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} requests failed during the swap: {failed[:3]}"
    versions = [v for _, v in answers]
    assert set(versions) == {before_version, target}, set(versions)
    # once the new version answered, no request went back to the old one
    first_new = versions.index(target)
    assert all(v == target for v in versions[first_new:])
    health = server.get("/health")[1]
    assert health["reloads"] >= 2 and health["reload_failures"] == 0
    assert "assoc_model_reloads_total" in server.get("/metrics")[1]
