"""The Dagster UI on the demo run: a run launched through GraphQL succeeds and the global asset
lineage shows every asset of the project, each materialized."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import pytest

from assoc_pipeline.definitions import all_assets
from assoc_pipeline_tests.browser.conftest import http_json, save_screenshot
from assoc_pipeline_tests.conftest import DEMO_PARTITIONS

pytestmark = pytest.mark.browser
PlaywrightTimeout = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
).TimeoutError

RUN_TIMEOUT_S = 300
GRAPH_SVG = 'svg[class*="AssetGraphExplorer_svgContainer"]'
ASSET_NAME = '[class*="AssetNode_assetName"]'
# A node is on screen when its box's centre and four (inset) corners hit the node itself, not the
# toolbar over the graph nor nothing (outside the window).
ON_SCREEN = """el => {
  const box = el.closest('[class*="AssetNode_minimalAssetNodeBox"], [class*="AssetNode_assetNodeBox"]') || el;
  const r = box.getBoundingClientRect();
  const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 2, r.top + 2],
                  [r.right - 2, r.top + 2], [r.left + 2, r.bottom - 2], [r.right - 2, r.bottom - 2]];
  return points.every(([x, y]) => {
    const hit = document.elementFromPoint(x, y);
    return !!hit && box.contains(hit);
  });
}"""
CATALOG_ROW = '[class*="VirtualizedTable_row"]'
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on PythonError { stack }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}"""
RUN_ERRORS = """
query Errors($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events { __typename ... on MessageEvent { message level } } }
  }
}"""
ASSET_NODES = """
{ assetNodes { assetKey { path } groupName assetMaterializations(limit: 1) { runId timestamp } } }
"""


def graphql(base: str, query: str, **variables: Any) -> dict:
    body = http_json(f"{base}/graphql", {"query": query, "variables": variables})
    assert not body.get("errors"), body["errors"]
    return body["data"]


def launch_and_wait(base: str, asset: str) -> str:
    """Materialize one asset through the webserver's GraphQL API; the run id once it succeeded."""
    selector = {
        "repositoryLocationName": "assoc_pipeline",
        "repositoryName": "__repository__",
        "jobName": "__ASSET_JOB",
        "assetSelection": [{"path": [asset]}],
    }
    params = {"selector": selector, "mode": "default", "runConfigData": {}}
    launched = graphql(base, LAUNCH, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = "?"
    while time.monotonic() < deadline:
        run = graphql(base, RUN_STATUS, runId=run_id)["runOrError"]
        assert run["__typename"] == "Run", run
        status = run["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(2)
    if status != "SUCCESS":
        events = graphql(base, RUN_ERRORS, runId=run_id)["logsForRun"].get("events", [])
        errors = [e.get("message") for e in events if e.get("level") in {"ERROR", "CRITICAL"}]
        pytest.fail(f"run {run_id} of {asset}: {status} after launch; errors: {errors[-5:]}")
    return run_id


def settle(page) -> None:
    """Let the page finish its queries (asset statuses re-lay out and re-centre the graph)."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=20_000)


def screenshot_whole_graph(page, expected: set[str], name: str) -> tuple[set[str], Path | None]:
    """Expand every group of the global lineage, zoom out (the graph's own button) until every
    expected asset node is on screen, take the screenshot and check nothing moved meanwhile.

    Returns the assets on screen (the graph culls nodes out of view) and the screenshot, if taken.
    """
    graph = page.locator(GRAPH_SVG)
    graph.locator("foreignObject").first.wait_for()
    settle(page)
    nodes = graph.locator(ASSET_NAME)
    if nodes.count() == 0:  # groups start collapsed: "Expand all groups" (its shortcut)
        page.keyboard.press("Alt+e")
        nodes.first.wait_for()
        settle(page)

    def on_screen() -> set[str]:
        return {node.inner_text().strip() for node in nodes.all() if node.evaluate(ON_SCREEN)}

    shown: set[str] = set()
    for _ in range(10):
        page.wait_for_timeout(1000)  # zooming animates
        shown = on_screen()
        if shown >= expected:
            path = save_screenshot(page, name)
            if on_screen() >= expected:
                return shown, path
        else:
            page.locator('[aria-label="zoom_out"]').first.click()
    save_screenshot(page, f"{name}-incomplete")  # what was on screen, for whoever reads the failure
    return shown, None


def test_launched_run_succeeds_and_every_asset_is_shown_materialized(dagster_ui: str, page) -> None:
    expected = {key.to_user_string(): a.partitions_def is not None for a in all_assets for key in a.keys}
    run_id = launch_and_wait(dagster_ui, "item_catalog")

    # The instance, through the webserver's API: every asset has a materialization, item_catalog ours.
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(dagster_ui, ASSET_NODES)["assetNodes"]}
    assert set(nodes) == set(expected)
    missing = sorted(k for k, n in nodes.items() if not n["assetMaterializations"])
    assert not missing, f"never materialized: {missing}"
    assert nodes["item_catalog"]["assetMaterializations"][0]["runId"] == run_id

    # The run page shows the run succeeded.
    page.goto(f"{dagster_ui}/runs/{run_id}")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_text(re.compile(r"^Finished execution of run")).first.wait_for()
    page.get_by_text("Succeeded (1)").wait_for()
    save_screenshot(page, "dagster-run")

    # The catalog: one row per asset, each "Materialized" (partitioned: the demo's partitions done).
    page.set_viewport_size({"width": 1600, "height": 200 + 70 * len(expected)})  # rows are virtualized
    page.goto(f"{dagster_ui}/assets")
    for key, partitioned in sorted(expected.items()):
        row = page.locator(CATALOG_ROW).filter(has=page.locator(f'a[href="/assets/{key}"]'))
        status = row.locator('[class*="VirtualizedTable_cellBox"]').nth(3)
        status.get_by_text(re.compile(r"Materialized|partitions")).first.wait_for()
        text = " ".join(status.inner_text().split())
        if partitioned:  # "<done|All> <missing> <failed> <in progress> N partitions"
            total = int(re.search(r"(\d+) partitions", text)[1])
            done = total if text.startswith("All") else int(re.match(r"\d+", text)[0])
            # the partitions are the source's own months, every one of them materialized
            assert done == total == len(DEMO_PARTITIONS), (key, text)
        else:
            assert text.startswith("Materialized"), (key, text)
    save_screenshot(page, "dagster-asset-catalog")

    # The global asset lineage: a node for every asset, all of them in view.
    # a tall window: past a zoom level the graph drops node names, and ours is taller than wide
    page.set_viewport_size({"width": 1920, "height": 2600})
    page.goto(f"{dagster_ui}/asset-groups")
    shown, path = screenshot_whole_graph(page, set(expected), "dagster-asset-graph")
    assert sorted(shown) == sorted(expected)
    assert path is not None and path.stat().st_size > 20_000
