"""The MLflow way: the registered champion is a pyfunc model (no pickle) answering like `serve`.

A small CF model is trained on planted baskets into a temporary SQLite MLflow store by the real
training service, promoted by moving the alias, and then asked the same questions three ways:
the server's ScoringState, ``mlflow.pyfunc.load_model("models:/...@champion")`` and the real
``mlflow models serve`` process over HTTP. Loading is weights-only: a planted pickle is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.core.recsys.models.checkpoint_files import UnsafeCheckpointError
from assoc_pipeline.resources.mlflow_tracking import (
    CHAMPION_ALIAS,
    CHECKPOINT_FILE,
    RECOMMENDER_MODEL,
)
from assoc_pipeline.serving.scoring import ScoringState
from assoc_pipeline_tests.process_groups import stop_process_group
from assoc_pipeline_tests.serving.conftest import Registered, free_port, request

CHAMPION_URI = f"models:/{RECOMMENDER_MODEL}@{CHAMPION_ALIAS}"


def queries(baskets: BasketSet) -> pd.DataFrame:
    users, _ = user_item_counts(baskets)
    items = baskets.vocabulary["item_id"].astype(str).tolist()
    return pd.DataFrame(
        {
            "user_id": [str(users[0]), str(users[7]), "", ""],
            "items": [[], [], [items[0], items[5]], [items[3]]],
            "k": [5, 10, 5, 7],
        }
    )


def expected(state: ScoringState, request_rows: pd.DataFrame) -> list[list[str]]:
    """The item ids `assoc-pipeline serve` answers for each request row."""
    out = []
    for row in request_rows.to_dict("records"):
        answer = (
            state.for_user(row["user_id"], row["k"])
            if row["user_id"]
            else state.for_basket(row["items"], row["k"])
        )
        out.append([item["item_id"] for item in answer.items])
    return out


def served_items(response: pd.DataFrame, n: int) -> list[list[str]]:
    return [response.loc[response["request"] == i].sort_values("rank")["item_id"].tolist() for i in range(n)]


def test_the_registered_version_is_a_pyfunc_model_without_pickle(registered: Registered, tmp_path):
    tracker = registered.tracker
    version = tracker.alias_version()
    assert version.tags["model_type"] == "cf" and version.tags["checkpoint"] == CHECKPOINT_FILE
    local = Path(mlflow.artifacts.download_artifacts(CHAMPION_URI, dst_path=str(tmp_path)))
    files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))], files
    mlmodel = yaml.safe_load((local / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"python_function"}, mlmodel["flavors"]  # no pytorch pickle
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model" and "python_model" not in flavor
    assert set(flavor["artifacts"]) == {"checkpoint", "baskets"} and flavor["config"] == {"model_type": "cf"}
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == ["user_id", "items", "k"]
    assert (local / "input_example.json").exists() and (local / "serving_input_example.json").exists()
    # the stored code is our three-line entry, importing the installed package
    (code,) = [f for f in files if f.endswith("pyfunc_entry.py")]
    assert "set_model(RecommenderPyfunc())" in (local / code).read_text()
    print(f"\nlog_model (checkpoint + pyfunc model + registration): {registered.log_seconds:.2f} s")


def test_pyfunc_load_model_answers_the_same_items_as_the_server(registered: Registered):
    state = ScoringState.load(registered.tracker, registered.assets_dir)
    assert state.version == str(registered.tracker.alias_version().version)
    asked = queries(registered.baskets)
    model = mlflow.pyfunc.load_model(CHAMPION_URI)
    response = model.predict(asked)
    assert list(response.columns[:3]) == ["request", "query", "rank"]
    assert served_items(response, len(asked)) == expected(state, asked)
    assert all(
        len(items) == k for items, k in zip(served_items(response, len(asked)), asked["k"], strict=True)
    )
    assert set(response["model_type"]) == {"cf"}
    with pytest.raises(mlflow.exceptions.MlflowException, match="unknown user 'nobody'"):
        model.predict(pd.DataFrame({"user_id": ["nobody"], "items": [[]], "k": [5]}))


def test_mlflow_models_serve_answers_the_same_items_over_http(registered: Registered, tmp_path):
    """The real `mlflow models serve` (env-manager local) on a free port: POST /invocations."""
    tracker = registered.tracker
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` from PATH: the venv's
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MLFLOW_TRACKING_URI": tracker.tracking_uri,
        "MLFLOW_REGISTRY_URI": tracker.tracking_uri,
    }
    log = tmp_path / "serve.log"
    mlflow_cli = Path(bin_dir) / "mlflow"
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(mlflow_cli), "models", "serve", "-m", CHAMPION_URI, "--env-manager", "local",
             "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert process.poll() is None, f"mlflow models serve exited:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2) as ping:
                    if ping.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() - started < 120, f"no /ping within 120 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        print(f"\nmlflow models serve ready in {time.monotonic() - started:.1f} s")
        asked = queries(registered.baskets)
        body = {"dataframe_records": asked.to_dict("records")}
        status, answer = request(url + "/invocations", json.dumps(body).encode())
        assert status == 200, answer
        response = pd.DataFrame(answer["predictions"])
        state = ScoringState.load(tracker, registered.assets_dir)
        assert served_items(response, len(asked)) == expected(state, asked)
        status, answer = request(
            url + "/invocations",
            json.dumps({"dataframe_records": [{"items": ["NO-SUCH-ITEM"], "k": 3}]}).encode(),
        )
        assert status == 400 and "unknown item(s): 'NO-SUCH-ITEM'" in answer["message"], answer
    finally:
        stop_process_group(process)


class PlantedPickle:
    """Unpickling this object creates ``marker``: what an attacker's checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_in_a_registered_version_is_refused(registered: Registered, tmp_path):
    """Overwrite the champion's checkpoints (run root and pyfunc artifact) with a pickle that would
    create a file: every loader refuses it with an error naming the file, and no file appears."""
    tracker = registered.tracker
    version = tracker.alias_version()
    run_root = Path(mlflow.get_run(version.run_id).info.artifact_uri.removeprefix("file://"))
    model_dir = Path(
        mlflow.get_logged_model(version.source.removeprefix("models:/")).artifact_location.removeprefix(
            "file://"
        )
    )
    targets = [run_root / CHECKPOINT_FILE, *model_dir.rglob(f"artifacts/{CHECKPOINT_FILE}")]
    assert len(targets) == 2 and all(t.exists() for t in targets), targets
    saved = {t: t.read_bytes() for t in targets}
    marker = tmp_path / "code_ran"
    try:
        for t in targets:
            torch.save(PlantedPickle(marker), t)
        with pytest.raises(UnsafeCheckpointError, match="refused: not a weights-only checkpoint"):
            tracker.load_version(version)  # training, gate, `recommend`, `serve`
        with pytest.raises(UnsafeCheckpointError, match="refused: not a weights-only checkpoint"):
            ScoringState.load(tracker, registered.assets_dir)
        with pytest.raises(UnsafeCheckpointError, match="refused: not a weights-only checkpoint"):
            mlflow.pyfunc.load_model(CHAMPION_URI)  # `mlflow models serve`
        assert not marker.exists(), "loading the planted checkpoint ran its code"
    finally:
        for t, content in saved.items():
            t.write_bytes(content)
    # the planted file is live: plain torch.load (what mlflow.pytorch did) would have run it
    torch.save(PlantedPickle(marker), tmp_path / "planted.pt")
    torch.load(tmp_path / "planted.pt", weights_only=False)
    assert marker.exists()


def test_the_request_rows_decide_the_query():
    """A row with neither user nor items is a clear error (400 from the MLflow server)."""
    from assoc_pipeline.serving.pyfunc_model import _given

    assert not _given(None) and not _given(float("nan")) and not _given([]) and not _given("")
    assert _given("u1") and _given(["A"]) and _given(np.array(["A"])) and _given(5)
