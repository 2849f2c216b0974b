"""The A/B path through the server: arms in responses, exposures written without blocking and
flushed on shutdown (TestClient's lifespan and a real `assoc-pipeline serve` stopped by SIGTERM),
and `assoc-pipeline ab-replay` on the registered challenger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from assoc_pipeline.core.experiments.assignment import CHALLENGER, CHAMPION, assign_arm
from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR, part_files, read_exposures
from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.services.recommendations import StoredState
from assoc_pipeline.serving.app import create_app
from assoc_pipeline.serving.server import build_holder, build_router
from assoc_pipeline_tests.experiments.conftest import TEST_CUTOFF
from assoc_pipeline_tests.serving.conftest import free_port, request


@pytest.fixture(scope="module")
def users(ab_state) -> list[str]:
    known, _ = user_item_counts(StoredState.load(ab_state.assets).baskets)
    return [str(u) for u in known[:120]]


def test_responses_name_their_arm_and_every_exposure_is_written_at_shutdown(ab_state, users, tmp_path):
    settings = ab_state.settings
    holder = build_holder(settings, poll_seconds=0)
    router = build_router(settings, holder, ab_state.challenger, 0.5, experiment="t-client")
    router.experiment.log.directory = tmp_path  # this test's own table
    router.experiment.log.flush_seconds = 3600  # nothing is written until the app stops
    item = holder.state.catalogue[0]["item_id"]
    with TestClient(create_app(holder, router=router)) as client:
        seen = {}
        for user in users:
            body = client.get(f"/recommend/user/{user}?k=5").json()
            assert body["arm"] == assign_arm(user, 0.5, "t-client")
            expected_version = ab_state.challenger if body["arm"] == CHALLENGER else None
            assert body["model"]["version"] == expected_version, body["model"]
            seen[user] = body
        again = client.get(f"/recommend/user/{users[0]}?k=5").json()
        assert again["arm"] == seen[users[0]]["arm"]  # sticky
        anon = client.post("/recommend/basket", json={"items": [item], "k": 3, "basket_id": "cart-9"}).json()
        assert anon["arm"] == assign_arm("cart-9", 0.5, "t-client")
        nobody = client.post("/recommend/basket", json={"items": [item], "k": 3}).json()
        assert nobody["arm"] == CHAMPION  # no unit: outside the experiment, not recorded
        assert client.get("/recommend/user/nobody-here").status_code == 404  # no exposure either
        health = client.get("/health").json()["ab_test"]
        assert health["exposures_recorded"] == len(users) + 2 and health["exposures_written"] == 0
        assert part_files(tmp_path) == []  # requests did not write
    rows = read_exposures(tmp_path)
    assert len(rows) == len(users) + 2
    first = rows[rows["user_id"] == users[0]].iloc[0]
    assert list(first["items"]) == [i["item_id"] for i in seen[users[0]]["items"]]
    assert set(rows["arm"]) == {CHAMPION, CHALLENGER} and set(rows["source"]) == {"live"}
    assert rows.loc[rows["basket_id"] == "cart-9", "user_id"].isna().all()
    assert set(rows["query_kind"]) == {"next_basket", "completion"}


def test_a_real_server_stopped_with_sigterm_loses_no_exposure(ab_state, users):
    port = free_port()
    env = {
        **os.environ,
        "ASSOC_DATA_DIR": str(ab_state.settings.data_dir),
        "ASSOC_CHALLENGER_SHARE": "0.5",
        "ASSOC_EXPERIMENT": "sigterm",
    }
    script = Path(sys.executable).parent / "assoc-pipeline"
    log = ab_state.settings.data_dir / "serve-ab.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--poll-seconds", "0",
             "--challenger", ab_state.challenger],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if request(url + "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        arms = [request(f"{url}/recommend/user/{u}?k=4")[1]["arm"] for u in users[:40]]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    rows = read_exposures(ab_state.assets / EXPOSURES_DIR)
    rows = rows[rows["experiment"] == "sigterm"]
    assert len(rows) == 40, log.read_text()[-2000:]
    assert rows["arm"].tolist() == arms == [assign_arm(u, 0.5, "sigterm") for u in users[:40]]
    assert "A/B test 'sigterm': 50% of users" in log.read_text()


def test_ab_replay_command_records_the_test_period_and_prints_the_report(ab_state, monkeypatch, capsys):
    from assoc_pipeline.cli import main

    monkeypatch.setenv("ASSOC_DATA_DIR", str(ab_state.settings.data_dir))
    code = main(["ab-replay", "--challenger", ab_state.challenger, "--experiment", "cli-replay"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = read_exposures(ab_state.assets / EXPOSURES_DIR)
    rows = rows[rows["experiment"] == "cli-replay"]
    assert len(rows) > 0 and set(rows["source"]) == {"replay"}
    assert set(rows.loc[rows["arm"] == CHALLENGER, "model_version"]) == {ab_state.challenger}
    assert f"exposures_written : {len(rows)}" in out and "| arm" in out
    # the historical times: one second before a test-period basket, none after the data
    assert rows["time"].min() >= pd.Timestamp(TEST_CUTOFF, tz="UTC") - pd.Timedelta(seconds=1)


def test_unknown_challenger_and_bad_share_are_one_line_errors(ab_state, monkeypatch, capsys):
    from assoc_pipeline.cli import main

    monkeypatch.setenv("ASSOC_DATA_DIR", str(ab_state.settings.data_dir))
    assert main(["ab-replay", "--challenger", "99"]) == 2
    assert "challenger version '99' is not a registered" in capsys.readouterr().err
    assert main(["ab-replay", "--challenger", ab_state.challenger, "--share", "1.5"]) == 2
    assert "--share=1.5: must be between 0 and 1" in capsys.readouterr().err
    monkeypatch.setenv("ASSOC_CHALLENGER_SHARE", "two")
    assert main(["ab-replay", "--challenger", "1"]) == 2
    assert "share='two'" in capsys.readouterr().err


def test_without_a_challenger_the_champion_answers_everything_and_nothing_is_recorded(ab_state, users):
    holder = build_holder(ab_state.settings, poll_seconds=0)
    router = build_router(ab_state.settings, holder)  # no flag, no [ab_test]: no experiment
    assert router.experiment is None
    item = holder.state.catalogue[0]["item_id"]
    with TestClient(create_app(holder, router=router)) as client:
        for body in (
            client.get(f"/recommend/user/{users[0]}?k=3").json(),
            client.post("/recommend/basket", json={"items": [item], "k": 3, "user_id": users[0]}).json(),
            client.get(f"/similar/{item}?k=3&user_id={users[0]}").json(),
        ):
            assert body["arm"] == CHAMPION and body["model"]["version"] is None and len(body["items"]) == 3
        assert client.get("/health").json()["ab_test"] is None


def test_the_project_file_and_environment_configure_the_experiment(tmp_path, monkeypatch):
    from assoc_pipeline.core.errors import InputError
    from assoc_pipeline.settings import get_settings

    config = tmp_path / "assoc-pipeline.toml"
    config.write_text('[ab_test]\nchallenger = 4\nshare = 0.2\nexperiment = "spring"\n')
    monkeypatch.setenv("ASSOC_CONFIG", str(config))
    assert get_settings().ab_test == {"challenger": "4", "share": 0.2, "experiment": "spring"}
    monkeypatch.setenv("ASSOC_CHALLENGER_SHARE", "0.3")  # the environment wins over the file
    assert get_settings().ab_test["share"] == 0.3
    config.write_text("[ab_test]\nshare = 2\n")
    monkeypatch.delenv("ASSOC_CHALLENGER_SHARE")
    with pytest.raises(InputError, match=r"\[ab_test\] share=2: must be between 0 and 1"):
        get_settings()
    config.write_text('[ab_test]\nchalenger = "4"\n')
    with pytest.raises(InputError, match=r"unknown setting\(s\) \['chalenger'\]"):
        get_settings()


def test_replay_without_a_split_names_the_missing_asset(ab_state, tmp_path, monkeypatch, capsys):
    import shutil

    from assoc_pipeline.cli import main

    shutil.copytree(ab_state.assets / "baskets", tmp_path / "assets" / "baskets")
    monkeypatch.setenv("ASSOC_DATA_DIR", str(tmp_path))
    assert main(["ab-replay", "--challenger", "1"]) == 2
    assert "no split under" in capsys.readouterr().err
