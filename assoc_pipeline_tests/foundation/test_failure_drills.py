"""Failure drills on real Dagster runs, each on its own data dir and on-disk instance.

* a run SIGKILLed while a step is running leaves the previous materialization intact and
  readable, and the same command run again succeeds;
* a write SIGKILLed half way through leaves the previous Parquet intact (atomic rename);
* re-materializing a partition is idempotent: same content, same row counts, one file; a
  smaller source really shrinks it (a write replaces, never appends);
* two partitions materialized at once by two processes on one instance and one data dir both
  succeed with the right rows.

Subprocesses run the real command line, ``dagster asset materialize -m assoc_pipeline.definitions``,
with ``DAGSTER_HOME`` / ``ASSOC_DATA_DIR`` / ``ASSOC_SOURCE`` pointing at the drill's folders.
Figures (timings, counts) are printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assoc_pipeline.core.tables import read_table
from assoc_pipeline_tests.conftest import REPO

DEC, JAN = "2010-12-01", "2011-01-01"
CLI_TIMEOUT = 240
COPIES = 10  # the big source of the kill drill: December 10 times


@dataclasses.dataclass
class Drill:
    """One drill's private world: data dir, Dagster home, settings and an instance on it."""

    root: Path
    data_dir: Path
    home: Path
    instance: dg.DagsterInstance

    def table(self, asset: str, partition: str) -> Path:
        return self.data_dir / "assets" / asset / f"{partition}.parquet"

    def env(self, source: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSOC_")}
        env.update(
            DAGSTER_HOME=str(self.home),
            ASSOC_DATA_DIR=str(self.data_dir),
            ASSOC_SOURCE=str(source),
            DAGSTER_DISABLE_TELEMETRY="true",
            GX_ANALYTICS_ENABLED="false",
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        return env

    def start_cli(self, source: Path, partition: str, log_name: str) -> subprocess.Popen:
        """`dagster asset materialize` of raw_events + clean_events for one partition."""
        cmd = [
            sys.executable, "-m", "dagster", "asset", "materialize",
            "-m", "assoc_pipeline.definitions",
            "--select", "raw_events,clean_events",
            "--partition", partition,
        ]  # fmt: skip
        log = (self.root / log_name).open("w")  # a file, not a pipe: a full pipe would stall the run
        return subprocess.Popen(cmd, cwd=REPO, env=self.env(source), stdout=log, stderr=subprocess.STDOUT)

    def wait(self, proc: subprocess.Popen, log_name: str) -> tuple[int, float]:
        start = time.monotonic()
        try:
            rc = proc.wait(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"CLI run did not finish in {CLI_TIMEOUT}s; log:\n{self.log_tail(log_name)}")
        return rc, time.monotonic() - start

    def log_tail(self, log_name: str) -> str:
        return (self.root / log_name).read_text()[-3000:]

    def materialize(self, source: Path, partition: str, selection: list[str] | None = None):
        """In-process run on the drill's on-disk instance (the same one the CLI runs use)."""
        from assoc_pipeline.definitions import all_assets, all_checks
        from assoc_pipeline.resources import build_resources
        from assoc_pipeline.settings import get_settings

        settings = dataclasses.replace(get_settings(), data_dir=self.data_dir, source_path=source)
        return dg.materialize(
            [*all_assets, *all_checks],
            selection=selection or ["raw_events", "clean_events"],
            partition_key=partition,
            instance=self.instance,
            resources=build_resources(settings),
        )


@pytest.fixture
def drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from assoc_pipeline.dagster_home import write_dagster_yaml

    monkeypatch.delenv("ASSOC_PSEUDONYM_KEY", raising=False)  # drills compare against the source ids
    home = write_dagster_yaml(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield Drill(tmp_path, tmp_path / "data", home, instance)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def month_rows(csv: Path, month: str) -> int:
    dates = pd.read_csv(csv, dtype=str, usecols=["InvoiceDate"])["InvoiceDate"]
    return int(pd.to_datetime(dates, format="mixed").dt.strftime("%Y-%m-01").eq(month).sum())


def leftovers(drill: Drill) -> list[str]:
    return sorted(p.name for p in (drill.data_dir / "assets").rglob("*") if p.name.endswith(".tmp"))


def runs_by_status(drill: Drill) -> dict[str, int]:
    out: dict[str, int] = {}
    for run in drill.instance.get_runs():
        out[run.status.value] = out.get(run.status.value, 0) + 1
    return out


@pytest.fixture(scope="module")
def december_csv(tmp_path_factory: pytest.TempPathFactory, retail_sample_csv: Path) -> Path:
    df = pd.read_csv(retail_sample_csv, dtype=str, keep_default_na=False)
    path = tmp_path_factory.mktemp("dec") / "december.csv"
    df[df["InvoiceDate"].str.startswith("2010-12")].to_csv(path, index=False)
    return path


def big_december(december_csv: Path, folder: Path, copies: int) -> Path:
    """December repeated ``copies`` times, dates written as in the UCI original (12/1/2010 8:26):
    ~40k rows a copy, parsed at ~1 s per 100k rows, so the raw_events step runs for seconds. Each
    copy has its own invoice numbers: new baskets, not duplicates (which clean_events' data-loss
    guard would rightly refuse as 90% of the rows)."""
    df = pd.read_csv(december_csv, dtype=str, keep_default_na=False)
    t = pd.to_datetime(df["InvoiceDate"])
    df["InvoiceDate"] = (
        t.dt.month.astype(str) + "/" + t.dt.day.astype(str) + "/" + t.dt.year.astype(str) + " "
        + t.dt.hour.astype(str) + ":" + t.dt.strftime("%M")
    )  # fmt: skip
    path = folder / "big_december.csv"
    with path.open("w") as fh:
        for k in range(copies):
            copy = df.assign(InvoiceNo=df["InvoiceNo"] + (f"-{k}" if k else ""))
            fh.write(copy.to_csv(index=False, header=k == 0))
    return path


# --- drill 1: SIGKILL while a step runs ---------------------------------------------------------


def wait_for_step_start(
    drill: Drill, proc: subprocess.Popen, step: str, known: set[str]
) -> tuple[str, float]:
    start = time.monotonic()
    while time.monotonic() - start < CLI_TIMEOUT:
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before step {step} started")
        for run in drill.instance.get_runs():
            if run.run_id in known:
                continue
            starts = drill.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
            if any(e.step_key == step for e in starts):
                return run.run_id, time.monotonic() - start
        time.sleep(0.1)
    pytest.fail(f"step {step} did not start in {CLI_TIMEOUT}s")


def test_run_killed_mid_step_keeps_last_good_output_and_rerun_succeeds(
    drill: Drill, december_csv: Path
) -> None:
    assert drill.materialize(december_csv, DEC).success  # the last good materialization
    raw_file, clean_file = drill.table("raw_events", DEC), drill.table("clean_events", DEC)
    good = {p: (digest(p), read_table(p)) for p in (raw_file, clean_file)}
    good_rows = len(good[raw_file][1])

    big = big_december(december_csv, drill.root, copies=COPIES)
    known = {r.run_id for r in drill.instance.get_runs()}
    proc = drill.start_cli(big, DEC, "killed.log")
    run_id, to_start = wait_for_step_start(drill, proc, "raw_events", known)
    time.sleep(1.0)  # well inside the step: it parses ~425k rows (~4 s)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # the killed run never finished the step, and left the last good tables as they were
    successes = drill.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    assert successes == []
    killed_status = drill.instance.get_run_by_id(run_id).status
    for path, (sha, frame) in good.items():
        assert digest(path) == sha, f"{path} changed"
        pd.testing.assert_frame_equal(read_table(path), frame)
    stray = leftovers(drill)

    # the same command again completes, and now holds the big month
    rerun = drill.start_cli(big, DEC, "rerun.log")
    rc, seconds = drill.wait(rerun, "rerun.log")
    assert rc == 0, drill.log_tail("rerun.log")
    rows = len(read_table(raw_file))
    assert rows == COPIES * good_rows
    kept = read_table(clean_file)
    assert 0 < len(kept) <= rows
    print(
        f"\nkill drill: step started {to_start:.1f}s after launch, SIGKILL 1.0s into raw_events; "
        f"killed run status {killed_status.value}; previous raw {good_rows:,} rows and clean "
        f"{len(good[clean_file][1]):,} rows intact (sha256 equal); stray temp files {stray}; "
        f"re-run rc 0 in {seconds:.1f}s: raw {rows:,} rows, clean {len(kept):,} rows; "
        f"runs by status {runs_by_status(drill)}"
    )


# --- drill 2: SIGKILL in the middle of a Parquet write ------------------------------------------

WRITER = """
import sys, pathlib
import numpy as np, pandas as pd
from assoc_pipeline.core.tables import write_table
n = 4_000_000
rng = np.random.default_rng(0)
df = pd.DataFrame({"a": rng.integers(0, 1 << 60, n), "b": rng.random(n), "c": rng.integers(0, 1 << 60, n)})
pathlib.Path(sys.argv[2]).touch()  # ready
write_table(df, sys.argv[1])
"""


def test_write_killed_half_way_leaves_previous_parquet_intact(tmp_path: Path) -> None:
    from assoc_pipeline.core.tables import write_table

    folder = tmp_path / "assets" / "clean_events"
    target = folder / f"{DEC}.parquet"
    previous = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": [7, 8, 9]})
    write_table(previous, target)
    sha = digest(target)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(ready)], cwd=REPO)
    try:
        deadline = time.monotonic() + CLI_TIMEOUT
        partial = []
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in folder.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 1e6]
            if ready.exists() and partial:
                break
            time.sleep(0.005)
        assert partial, "the writer finished (or failed) before it could be caught mid-write"
        size = partial[0].stat().st_size
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert digest(target) == sha
    pd.testing.assert_frame_equal(read_table(target), previous)
    stray = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert stray and all(name.startswith(".") for name in stray)  # hidden: listings skip it
    # the next write of that table removes what the killed writer left (its pid is dead), but not
    # the temp file of a write still running (a live process's pid)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        in_flight = folder / f".{target.name}.{live.pid}.abcd1234.tmp"
        in_flight.write_bytes(b"still being written")
        write_table(previous, target)
        left = sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))
        assert left == [in_flight.name], left
    finally:
        live.kill()
        live.wait()
    write_table(previous, target)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    print(f"\nwrite kill: killed with {size / 1e6:.1f} MB of the new file written; previous file intact; "
          f"left {stray}")  # fmt: skip


# --- drill 3: idempotent re-materialization -----------------------------------------------------


def test_rematerializing_a_partition_is_idempotent_and_replaces(
    drill: Drill, retail_sample_csv: Path, december_csv: Path
) -> None:
    tables = ["raw_events", "clean_events"]
    seen = []
    for _ in range(2):
        t0 = time.monotonic()
        result = drill.materialize(retail_sample_csv, DEC)
        assert result.success
        frames = {t: read_table(drill.table(t, DEC)) for t in tables}
        counts = {
            t: result.asset_materializations_for_node(t)[0].metadata["dagster/row_count"].value
            for t in tables
        }
        seen.append((frames, counts, {t: digest(drill.table(t, DEC)) for t in tables}, time.monotonic() - t0))
    (first, c1, d1, s1), (second, c2, d2, s2) = seen
    expected = month_rows(retail_sample_csv, DEC)
    assert c1 == c2 and c1["raw_events"] == len(first["raw_events"]) == expected
    for t in tables:
        pd.testing.assert_frame_equal(first[t], second[t])
        assert sorted(p.name for p in drill.table(t, DEC).parent.iterdir()) == [f"{DEC}.parquet"]
    assert leftovers(drill) == []

    # a third run from a source with half of December: the partition shrinks, nothing is appended
    df = pd.read_csv(december_csv, dtype=str, keep_default_na=False)
    half = drill.root / "half.csv"
    df.iloc[: len(df) // 2].to_csv(half, index=False)
    assert drill.materialize(half, DEC).success
    assert len(read_table(drill.table("raw_events", DEC))) == len(df) // 2
    print(
        f"\nidempotency: runs of {s1:.1f}s and {s2:.1f}s; raw {c1['raw_events']:,} rows both times "
        f"(source month {expected:,}), clean {c1['clean_events']:,} both times; frames equal; "
        f"byte-identical files: raw {d1['raw_events'] == d2['raw_events']}, "
        f"clean {d1['clean_events'] == d2['clean_events']}; half source -> {len(df) // 2:,} rows"
    )


# --- drill 4: two partitions at once -------------------------------------------------------------


def test_two_partitions_materialized_concurrently_do_not_clash(drill: Drill, retail_sample_csv: Path) -> None:
    t0 = time.monotonic()
    procs = {p: drill.start_cli(retail_sample_csv, p, f"{p}.log") for p in (DEC, JAN)}
    results = {p: drill.wait(proc, f"{p}.log") for p, proc in procs.items()}
    wall = time.monotonic() - t0
    for p, (rc, _) in results.items():
        assert rc == 0, drill.log_tail(f"{p}.log")
    assert runs_by_status(drill) == {"SUCCESS": 2}
    stats = [drill.instance.get_run_stats(r.run_id) for r in drill.instance.get_runs()]
    overlap = min(s.end_time for s in stats) - max(s.start_time for s in stats)
    assert overlap > 0, "the two runs did not overlap in time: the drill proved nothing"
    took = {
        r.tags.get("dagster/partition"): s.end_time - s.start_time
        for r, s in zip(drill.instance.get_runs(), stats, strict=True)
    }
    summary = []
    for p in (DEC, JAN):
        raw = read_table(drill.table("raw_events", p))
        kept = read_table(drill.table("clean_events", p))
        assert len(raw) == month_rows(retail_sample_csv, p)
        for frame in (raw, kept):  # each file holds its own month only
            assert frame["event_time"].dt.strftime("%Y-%m-01").eq(p).all()
        only = dg.AssetRecordsFilter(asset_key=dg.AssetKey("clean_events"), asset_partitions=[p])
        (record,) = drill.instance.fetch_materializations(only, limit=10).records
        assert record.asset_materialization.metadata["dagster/row_count"].value == len(kept)
        summary.append(f"{p}: raw {len(raw):,} / clean {len(kept):,} rows, run {took[p]:.1f}s")
    assert leftovers(drill) == []
    print(
        f"\nconcurrency: both runs succeeded, {wall:.1f}s wall for both processes, runs overlapped "
        f"{overlap:.1f}s; " + "; ".join(summary)
    )


# --- drill 5: SIGKILL of a launched run's worker: the run is marked FAILURE ----------------------


def test_a_launched_run_whose_worker_is_sigkilled_is_marked_failed(drill: Drill, december_csv: Path) -> None:
    """`dagster job launch` (the instance's run launcher, as the UI and schedules launch runs);
    the run worker is killed while ``raw_events`` runs; the instance then says FAILURE, not
    STARTED forever. Our dagster.yaml enables run monitoring for when the code server is gone too."""
    import uuid

    assert drill.instance.run_monitoring_enabled
    assert drill.instance.run_monitoring_max_runtime_seconds == 43200
    big = big_december(december_csv, drill.root, copies=COPIES)
    run_id = str(uuid.uuid4())
    cmd = [
        sys.executable, "-m", "dagster", "job", "launch", "-m", "assoc_pipeline.definitions",
        "-j", "daily_refresh", "--run-id", run_id, "--tags", json.dumps({"dagster/partition": DEC}),
    ]  # fmt: skip
    started = time.monotonic()
    with (drill.root / "launch.log").open("w") as log:
        launcher = subprocess.run(
            cmd, cwd=REPO, env=drill.env(big), stdout=log, stderr=subprocess.STDOUT, timeout=CLI_TIMEOUT
        )
    assert launcher.returncode == 0, drill.log_tail("launch.log")
    pid = None
    while time.monotonic() - started < CLI_TIMEOUT:
        events = drill.instance.all_logs(run_id)
        pids = [
            m.group(1)
            for e in events
            if (m := re.search(r"Started process for run \(pid: (\d+)\)", e.message or ""))
        ]
        steps = [
            e
            for e in events
            if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
        ]
        if pids and any(e.step_key == "raw_events" for e in steps):
            pid = int(pids[0])
            break
        assert not drill.instance.get_run_by_id(run_id).is_finished, "the run ended before it was killed"
        time.sleep(0.2)
    assert pid is not None, "raw_events never started"
    time.sleep(1.0)  # inside the step (it parses ~425k rows)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 60:
        status = drill.instance.get_run_by_id(run_id).status
        if status != dg.DagsterRunStatus.STARTED:
            break
        time.sleep(0.2)
    assert status == dg.DagsterRunStatus.FAILURE, status
    why = [e.message for e in drill.instance.all_logs(run_id) if "execution process" in (e.message or "")]
    after = time.monotonic() - killed_at
    print(f"\nrun worker pid {pid} SIGKILLed in raw_events; FAILURE {after:.1f}s later: {why[-1:]}")
