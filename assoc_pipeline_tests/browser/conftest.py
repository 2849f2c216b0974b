"""Fixtures of the browser tests: a real Chromium, the Dagster webserver and the MLflow UI.

A fresh machine needs nothing prepared by hand: Chromium comes from Debian's packages (installed
here when missing and we are root), Playwright for Python drives it through ``executable_path`` and
never downloads a browser. Both servers run on 127.0.0.1 on free ports, against a private copy of
the shared demo run (``demo_run`` must not change in place; launching a run writes to the instance).
Each server is its own process group, stopped with SIGTERM, then SIGKILL, whatever the outcome.
Server logs and screenshots go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assoc_pipeline_tests.conftest import REPO, copy_data_dir
from assoc_pipeline_tests.process_groups import stop_process_group

CHROMIUM = Path(os.environ.get("ASSOC_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts"
LOOPBACK = "127.0.0.1"
APT_TIMEOUT_S = 900
SERVER_START_TIMEOUT_S = 180
# Headless, offline, no profile state (Playwright gives every launch a fresh user-data-dir).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
]
# urllib must not send loopback requests through an http_proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _install_chromium() -> str | None:
    """apt-get install Debian's chromium; the reason it cannot be done, or None when it worked."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and only root can `apt-get install chromium`"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and this machine has no apt-get (Debian/Ubuntu package 'chromium')"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300"]  # waits if another apt/dpkg is running
    for cmd in ([*apt, "update"], [*apt, "install", "-y", "chromium"]):
        try:
            done = subprocess.run(
                cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=APT_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` did not finish in {APT_TIMEOUT_S} s"
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed ({done.returncode}):\n{_tail(done.stdout + done.stderr, 15)}"
    return None if CHROMIUM.exists() else f"chromium installed, but {CHROMIUM} is still missing"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed on first use (~120 MB) when missing."""
    if not CHROMIUM.exists():
        reason = _install_chromium()
        if reason:
            pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    """One headless Chromium for the session, driven by Playwright (which downloads nothing)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    with sync_api.sync_playwright() as pw:
        chrome = pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS, timeout=120_000
        )
        try:
            yield chrome
        finally:
            chrome.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own context) that may reach the loopback servers only."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(60_000)
    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:)"), lambda route: route.abort())
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def ui_settings(demo_run, tmp_path_factory: pytest.TempPathFactory):
    """The demo run's settings on a private copy of its data dir (tables, Dagster home, MLflow)."""
    settings, _, _ = demo_run
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    copy_data_dir(settings, data_dir, dagster_home=True)
    return dataclasses.replace(settings, data_dir=data_dir)


def server_env(settings) -> dict[str, str]:
    """What `make ui` / `make mlflow` would see with these settings in the environment."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "DAGSTER_HOME": str(settings.data_dir / "dagster_home"),
        "ASSOC_DATA_DIR": str(settings.data_dir),
        "ASSOC_SOURCE": str(settings.source_path),
        "DAGSTER_DISABLE_TELEMETRY": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PYTHONUNBUFFERED": "1",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 30) -> bytes:
    with _HTTP.open(url, timeout=timeout) as response:
        return response.read()


def http_json(url: str, payload: dict | None = None, timeout: float = 60) -> Any:
    """GET (payload None) or POST JSON, decoded; HTTP errors raise with the server's answer."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with _HTTP.open(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{url}: HTTP {exc.code}: {exc.read()[:2000]!r}") from exc


@contextlib.contextmanager
def background_server(name: str, cmd: list[str], env: dict[str, str], ready_url: str) -> Iterator[Path]:
    """Run `cmd` in its own process group until the block ends; wait until `ready_url` answers 200.

    Yields the log file (stdout + stderr) under test-artifacts/.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            started = time.monotonic()
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"{name} exited ({proc.returncode}) before answering {ready_url}:\n"
                        + _tail(log_path.read_text(errors="replace"))
                    )
                with contextlib.suppress(OSError):
                    http_get(ready_url, timeout=5)
                    break
                if time.monotonic() - started > SERVER_START_TIMEOUT_S:
                    pytest.fail(
                        f"{name} did not answer {ready_url} within {SERVER_START_TIMEOUT_S} s:\n"
                        + _tail(log_path.read_text(errors="replace"))
                    )
                time.sleep(1)
            print(f"{name} ready in {time.monotonic() - started:.0f} s ({ready_url})")
            yield log_path
        finally:
            stop_process_group(proc)


@pytest.fixture(scope="module")
def dagster_ui(ui_settings) -> Iterator[str]:
    """`dagster-webserver` on the demo's instance and code location; yields its base URL."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    cmd = [sys.executable, "-m", "dagster_webserver", "-w", str(REPO / "workspace.yaml")]
    cmd += ["-h", LOOPBACK, "-p", str(port)]
    with background_server("dagster-webserver", cmd, server_env(ui_settings), f"{base}/server_info"):
        yield base


@pytest.fixture(scope="module")
def mlflow_ui(ui_settings) -> Iterator[str]:
    """The MLflow UI exactly as `make mlflow` starts it, on the demo's store; yields its base URL."""
    from assoc_pipeline.cli import mlflow_server_command

    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    cmd = mlflow_server_command(ui_settings, LOOPBACK, port)
    with background_server("mlflow-server", cmd, server_env(ui_settings), f"{base}/health"):
        yield base


def save_screenshot(page: Any, name: str) -> Path:
    """A PNG under test-artifacts/, checked to be a real, non-trivial image."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes: a blank page?"
    return path
