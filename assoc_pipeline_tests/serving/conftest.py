"""A real `assoc-pipeline serve` process on a free port over the shared demo state."""

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
            env=env, stdout=out, stderr=subprocess.STDOUT,
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
        process.terminate()
        process.wait(timeout=30)
