"""`assoc-pipeline serve`: load the champion once, then answer over HTTP until stopped."""

from __future__ import annotations

import logging

from assoc_pipeline.serving.ab import ABRouter
from assoc_pipeline.serving.app import create_app
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import ScoringState
from assoc_pipeline.settings import Settings


def build_holder(settings: Settings, poll_seconds: float) -> ChampionHolder:
    """The served state loaded from the settings' data folder and MLflow registry (EASE inverses
    read from the pipeline's disk cache where a step computed them)."""
    from assoc_pipeline.core.recsys.baselines.ease import share_on_disk
    from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.services.model_registry import champion_version

    tracker = build_resources(settings)["mlflow"]
    assets_dir = settings.data_dir / "assets"
    share_on_disk(EaseDiskCache(settings.ease_cache_dir))

    def current_champion() -> str | None:
        version = champion_version(tracker)
        return None if version is None else str(version.version)

    return ChampionHolder(lambda: ScoringState.load(tracker, assets_dir), current_champion, poll_seconds)


DEFAULT_SHARE = 0.1  # of users sent to the challenger when neither flag nor setting says


def build_router(
    settings: Settings,
    holder: ChampionHolder,
    challenger: str | None = None,
    share: float | None = None,
    experiment: str | None = None,
) -> ABRouter:
    """The A/B router: arguments first, then the settings' [ab_test] / ASSOC_CHALLENGER*; no
    challenger anywhere: the champion answers every request and nothing is recorded."""
    from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.serving.ab import Experiment, challenger_state, default_experiment
    from assoc_pipeline.serving.exposure_log import ExposureLog

    ab = settings.ab_test
    challenger = challenger or ab.get("challenger")
    if not challenger:
        return ABRouter(holder)
    tracker = build_resources(settings)["mlflow"]
    state = challenger_state(tracker, holder.state.stored, str(challenger))
    log = ExposureLog(settings.data_dir / "assets" / EXPOSURES_DIR)
    name = experiment or str(ab.get("experiment") or default_experiment(str(challenger)))
    share = share if share is not None else float(ab.get("share", DEFAULT_SHARE))  # type: ignore[arg-type]
    return ABRouter(holder, Experiment(name, share, state, log))


# one basket per request: torch's intra-op threads only fight the server's own threads for the
# cores (the DNN champion's basket scoring took 22 ms with 2 threads, 9 ms with 1 on 2 cores)
TORCH_THREADS = 1


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 8000, poll_seconds: float = 30.0,
    challenger: str | None = None, challenger_share: float | None = None,
) -> None:  # fmt: skip
    import torch
    import uvicorn

    torch.set_num_threads(TORCH_THREADS)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    holder = build_holder(settings, poll_seconds)
    router = build_router(settings, holder, challenger, challenger_share)
    users, items = holder.state.users_model.label, holder.state.items_model.label
    print(
        f"serving {users if users == items else f'users: {users}; baskets: {items}'} "
        f"({len(holder.state.per_user.spans):,} users, "
        f"{len(holder.state.per_item.spans):,} items, loaded in {holder.state.load_seconds:.1f} s) "
        f"on http://{host}:{port} (docs: /docs; champion alias polled every {poll_seconds:g} s)",
        flush=True,
    )
    if router.experiment is not None:
        e = router.experiment
        print(
            f"A/B test {e.name!r}: {e.share:.0%} of users to the {e.challenger.users_model.label}, "
            f"exposures to {e.log.directory}",
            flush=True,
        )
    uvicorn.run(
        create_app(holder, router=router), host=host, port=port, log_level="warning", access_log=False
    )
