"""A real `assoc-pipeline serve` process on a free port over the shared demo state; a small CF
model trained and registered as champion in a temporary MLflow store (the pyfunc tests)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from assoc_pipeline.core.data.baskets import BasketSet, save_basket_set
from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
from assoc_pipeline.core.recsys.split import BasketSplit, temporal_split
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource
from assoc_pipeline.services.training import train_recommender
from assoc_pipeline_tests.models.conftest import planted_baskets
from assoc_pipeline_tests.process_groups import stop_process_group

POLL_SECONDS = 0.5  # the hot-reload test waits a few polls, not a default 30 s


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    settings: object

    def get(self, path: str) -> tuple[int, dict | str]:
        return request(self.url + path)

    def post(self, path: str, body: object) -> tuple[int, dict | str]:
        return request(self.url + path, json.dumps(body).encode())


def request(url: str, data: bytes | None = None, timeout: float = 30) -> tuple[int, dict | str]:
    """(status, JSON or text) of one request; 4xx/5xx answers are returned, not raised."""
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body, kind = r.status, r.read().decode(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read().decode(), e.headers.get("Content-Type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(demo_run, tmp_path_factory):
    """The console script as a user starts it, with the data folder the demo fixture wrote."""
    settings, _, _ = demo_run
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "ASSOC_DATA_DIR": str(settings.data_dir), "ASSOC_SOURCE": str(settings.source_path)}
    script = Path(sys.executable).parent / "assoc-pipeline"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--poll-seconds", str(POLL_SECONDS)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    srv = Server(f"http://127.0.0.1:{port}", process, settings)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, f"serve exited {process.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if srv.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /health within 300 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield srv
    finally:
        stop_process_group(process)


@dataclass
class Registered:
    tracker: MLflowResource
    assets_dir: Path
    baskets: BasketSet
    log_seconds: float


@pytest.fixture(scope="session")
def planted_split() -> BasketSplit:
    return temporal_split(planted_baskets(), "2024-05-20", "2024-06-19")


@pytest.fixture(scope="session")
def registered(tmp_path_factory, planted_split: BasketSplit) -> Registered:
    """A CF model trained and registered by the training service; the alias set on it (tests
    must leave it as they found it)."""
    root = tmp_path_factory.mktemp("pyfunc")
    tracker = MLflowResource(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "mlartifacts")
    )
    params = MODEL_TYPES["cf"].default_params(epochs=1, patience=0, device="cpu")
    timings: list[float] = []
    original = MLflowResource.log_model

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            timings.append(time.perf_counter() - started)

    MLflowResource.log_model = timed
    try:
        trained = train_recommender(
            MODEL_TYPES["cf"], params, planted_split, tracker, ArtifactStore(base_dir=str(root / "a")),
            log=lambda _: None,
        )  # fmt: skip
    finally:
        MLflowResource.log_model = original
    tracker.set_alias(RECOMMENDER_MODEL, trained.metadata["mlflow_model_version"])
    assets = root / "assets"
    save_basket_set(planted_split.baskets, assets / "baskets")
    return Registered(tracker, assets, planted_split.baskets, timings[0])
