"""The demo's downstream run as a job Dagster can rebuild in every step's process.

`demo --workers N` (N > 1): the models do not read each other's output, so the multiprocess executor
can run independent steps side by side (on 2 cores it does not pay: docs/architecture.md). Each
step process must rebuild the job; ``dg.build_reconstructable_job`` points
it at :func:`downstream_job` with JSON arguments (the settings, the asset selection). A forkserver
that has already imported the definitions (torch, pandas, dagster) forks each step in well under a
second, instead of the 8-14 s a fresh interpreter takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from assoc_pipeline.settings import Settings

JOB_NAME = "demo_downstream"
PRELOAD = "assoc_pipeline.demo.step_preload"  # imported once by the forkserver
# libraries that size a thread pool from the cores at start: one lane each must not oversubscribe
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def downstream_job(
    settings_json: str, selection: Sequence[str], workers: int, text_cache: str | None = None
) -> dg.JobDefinition:
    """The job over ``selection`` with the settings' resources, ``workers`` steps at a time.

    ``text_cache`` replaces the description-embedding cache (tests share one per session)."""
    from assoc_pipeline.definitions import all_assets, all_checks
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.resources.text_encoder import TextEncoderResource

    resources = build_resources(Settings.from_json(settings_json))
    if text_cache:
        resources["text_encoder"] = TextEncoderResource(cache_path=text_cache)
    executor = dg.multiprocess_executor.configured(
        {
            "max_concurrent": workers,
            "start_method": {"forkserver": {"preload_modules": [PRELOAD]}},
        }
    )
    job = dg.define_asset_job(JOB_NAME, selection=[dg.AssetKey(k) for k in selection], executor_def=executor)
    defs = dg.Definitions(assets=all_assets, asset_checks=all_checks, jobs=[job], resources=resources)
    return defs.resolve_job_def(JOB_NAME)


def reconstructable_downstream(
    settings: Settings, selection: Sequence[str], workers: int, text_cache: Path | None = None
) -> dg.ReconstructableJob:
    """:func:`downstream_job` as a pointer each step process follows to rebuild it."""
    return dg.build_reconstructable_job(
        __name__,
        downstream_job.__name__,
        reconstructable_kwargs={
            "settings_json": settings.to_json(),
            "selection": list(selection),
            "workers": workers,
            "text_cache": str(text_cache) if text_cache else None,
        },
    )


@contextmanager
def threads_per_worker(workers: int) -> Iterator[int]:
    """Thread pools of the step processes started inside sized to share the cores between
    ``workers`` lanes (two 2-thread torch pools on 2 cores spin against each other); the
    environment is restored on exit, so the caller's own later subprocesses are unaffected."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    saved = {name: os.environ.get(name) for name in THREAD_ENV}
    os.environ.update({name: str(threads) for name in THREAD_ENV})
    try:
        yield threads
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
