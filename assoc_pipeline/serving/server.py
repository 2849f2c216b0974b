"""`assoc-pipeline serve`: load the champion once, then answer over HTTP until stopped."""

from __future__ import annotations

import logging

from assoc_pipeline.serving.app import create_app
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import ScoringState
from assoc_pipeline.settings import Settings


def build_holder(settings: Settings, poll_seconds: float) -> ChampionHolder:
    """The served state loaded from the settings' data folder and MLflow registry."""
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.services.model_registry import champion_version

    tracker = build_resources(settings)["mlflow"]
    assets_dir = settings.data_dir / "assets"

    def current_champion() -> str | None:
        version = champion_version(tracker)
        return None if version is None else str(version.version)

    return ChampionHolder(lambda: ScoringState.load(tracker, assets_dir), current_champion, poll_seconds)


# one basket per request: torch's intra-op threads only fight the server's own threads for the
# cores (the DNN champion's basket scoring took 22 ms with 2 threads, 9 ms with 1 on 2 cores)
TORCH_THREADS = 1


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, poll_seconds: float = 30.0) -> None:
    import torch
    import uvicorn

    torch.set_num_threads(TORCH_THREADS)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    holder = build_holder(settings, poll_seconds)
    m = holder.state.users_model
    print(
        f"serving {m.label} ({len(holder.state.per_user.spans):,} users, "
        f"{len(holder.state.per_item.spans):,} items, loaded in {holder.state.load_seconds:.1f} s) "
        f"on http://{host}:{port} (docs: /docs; champion alias polled every {poll_seconds:g} s)",
        flush=True,
    )
    uvicorn.run(create_app(holder), host=host, port=port, log_level="warning", access_log=False)
