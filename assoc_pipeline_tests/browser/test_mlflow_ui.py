"""The MLflow UI as `make mlflow` serves it, on the demo run's store: the training runs are listed and
a run page shows its metrics."""

from __future__ import annotations

import urllib.parse

import pytest

from assoc_pipeline_tests.browser.conftest import http_json, save_screenshot

pytestmark = pytest.mark.browser

TRAINING_RUNS = {"cf", "dnn", "gan", "synthetic_baskets"}


def test_training_runs_and_their_metrics_appear(mlflow_ui: str, ui_settings, page) -> None:
    # The store, through the server's REST API: the demo's training runs, finished, with metrics.
    name = urllib.parse.quote(ui_settings.mlflow_experiment)
    experiment = http_json(f"{mlflow_ui}/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}")
    experiment_id = experiment["experiment"]["experiment_id"]
    found = http_json(
        f"{mlflow_ui}/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id], "max_results": 1000}
    )
    runs = {r["info"]["run_name"]: r for r in found["runs"]}
    assert set(runs) >= TRAINING_RUNS, sorted(runs)
    for run_name in TRAINING_RUNS:
        assert runs[run_name]["info"]["status"] == "FINISHED", run_name
        assert runs[run_name]["data"].get("metrics"), f"{run_name} logged no metrics"

    # The experiment's runs page (the "Model training" view) lists every run by name.
    page.set_viewport_size({"width": 1600, "height": 1200})
    page.goto(f"{mlflow_ui}/#/experiments/{experiment_id}/runs?workflowType=machine_learning")
    for run_name in sorted(runs):
        page.get_by_role("link", name=run_name, exact=True).first.wait_for()
    close_assistant(page)
    save_screenshot(page, "mlflow-experiment")

    # Each training run's page shows every metric it logged.
    for run_name in sorted(TRAINING_RUNS):
        run = runs[run_name]
        metrics = sorted(m["key"] for m in run["data"]["metrics"])
        page.goto(f"{mlflow_ui}/#/experiments/{experiment_id}/runs/{run['info']['run_id']}")
        page.get_by_text(f"Metrics ({len(metrics)})", exact=True).wait_for()
        for key in metrics:
            page.get_by_text(key, exact=True).first.wait_for(state="attached")
        if run_name == "cf":
            assert "best/val_ndcg_at_10" in metrics
            close_assistant(page)
            page.get_by_text("best/val_ndcg_at_10", exact=True).first.scroll_into_view_if_needed()
            save_screenshot(page, "mlflow-run-cf")


def close_assistant(page) -> None:
    """Close the "MLflow Assistant" side panel, if this MLflow version opens one, for the screenshot."""
    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count() and close.first.is_visible():
        close.first.click()
