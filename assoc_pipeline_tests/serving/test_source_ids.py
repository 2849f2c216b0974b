"""Source customer ids: with ids pseudonymised, `recommend --user` and the API take the source id."""

from __future__ import annotations

import time

import pytest

from assoc_pipeline.core.data.baskets import BasketSet, save_basket_set
from assoc_pipeline.core.recsys.item_lookup import UnknownQueryError
from assoc_pipeline.serving.scoring import ScoringState
from assoc_pipeline_tests.serving.conftest import Registered, free_port, request


def test_a_source_customer_id_is_pseudonymised_with_the_configured_key(
    registered: Registered, monkeypatch, tmp_path
):
    """Baskets keyed by pseudonyms; `recommend --user` and the server take the source id."""
    from assoc_pipeline.core.privacy.pseudonymise import pseudonym
    from assoc_pipeline.services.recommendations import recommend_command

    key = "test-key-not-a-secret"
    baskets = registered.baskets
    pseudonymised = BasketSet(
        baskets.matrix,
        baskets.baskets.assign(user_id=[pseudonym(str(u), key) for u in baskets.baskets["user_id"]]),
        baskets.vocabulary,
    )
    assets = tmp_path / "assets"
    save_basket_set(pseudonymised, assets / "baskets")
    monkeypatch.setenv("ASSOC_PSEUDONYM_KEY", key)
    state = ScoringState.load(registered.tracker, assets)
    source = str(baskets.baskets["user_id"].iloc[0])
    by_source = state.for_user(source, 5).items
    assert by_source == state.for_user(pseudonym(source, key), 5).items and len(by_source) == 5
    text = recommend_command(
        lambda: registered.tracker, registered.tracker.tracking_uri, assets, user=source, k=5
    )
    assert f"user {pseudonym(source, key)} " in text
    # the HTTP API (the real app on a real uvicorn server, in this process: the key is set here)
    status, body = serve_once(state, f"/recommend/user/{source}?k=5")
    assert status == 200 and body["items"] == by_source, body
    monkeypatch.delenv("ASSOC_PSEUDONYM_KEY")  # without the key the source id is unknown
    with pytest.raises(UnknownQueryError, match=f"unknown user '{source}'"):
        recommend_command(
            lambda: registered.tracker, registered.tracker.tracking_uri, assets, user=source, k=5
        )


def serve_once(state: ScoringState, path: str) -> tuple[int, dict | str]:
    """One GET against `create_app` over ``state`` on a uvicorn server started for it."""
    import threading

    import uvicorn

    from assoc_pipeline.serving.app import create_app
    from assoc_pipeline.serving.reloader import ChampionHolder

    holder = ChampionHolder(lambda: state, lambda: state.version, poll_seconds=3600)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(holder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        return request(f"http://127.0.0.1:{port}{path}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
