"""The spark backend on a real (one-machine) Spark standalone cluster, chosen by the master URL alone.

A standalone master and one worker are started from pyspark's own launcher (``spark-class``) on
127.0.0.1; the backend is pointed at ``spark://127.0.0.1:<port>`` through ``ASSOC_SPARK_MASTER``,
exactly as a deployment would point it at its cluster, and must give the native backend's answer.
The file sorts last in this folder: it stops the local session the other Spark tests share.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from assoc_pipeline.core.data.basket_line_files import read_baskets
from assoc_pipeline.core.mining import mine_itemsets
from assoc_pipeline_tests.mining.conftest import dataset, spark_skip_reason
from assoc_pipeline_tests.mining.helpers import as_dict
from assoc_pipeline_tests.process_groups import stop_process_group

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory):
    reason = spark_skip_reason()
    if reason:
        pytest.skip(reason)
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    logs = tmp_path_factory.mktemp("spark_cluster")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(spark_class.parents[1])}
    master_port, worker_port = _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{master_port}"
    procs = []
    try:
        master = _launch(
            [str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(master_port), "--webui-port", str(_free_port())],
            env, logs / "master.log",
        )  # fmt: skip
        procs.append(master)
        _wait_for_port(master_port, master, "spark master")
        worker = _launch(
            [str(spark_class), "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
             "--port", str(worker_port), "--webui-port", str(_free_port()), "--cores", "2", "--memory", "1g",
             "--work-dir", str(logs / "work")],
            env, logs / "worker.log",
        )  # fmt: skip
        procs.append(worker)
        _wait_for_port(worker_port, worker, "spark worker")
        yield master_url
    finally:
        for p in reversed(procs):  # the JVMs took 30 s each to honour SIGTERM: SIGKILL after 10
            stop_process_group(p, grace_s=10)


def test_spark_backend_on_a_standalone_cluster_matches_native(standalone_cluster, monkeypatch) -> None:
    from pyspark.sql import SparkSession

    from assoc_pipeline.core.mining.spark_backend import get_spark

    active = SparkSession.getActiveSession()
    if active is not None:  # the local[2] session of the other tests: a master is fixed per JVM
        active.stop()
    monkeypatch.setenv("ASSOC_SPARK_MASTER", standalone_cluster)
    monkeypatch.setenv("ASSOC_SPARK_DRIVER_HOST", "127.0.0.1")
    bs = read_baskets(dataset("groceries/groceries.csv"))
    session = get_spark()
    try:
        assert session.sparkContext.master == standalone_cluster
        on_cluster = mine_itemsets(bs.matrix, 0.01, backend="spark", spark=session)
        executors = session.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    finally:
        session.stop()
    native = mine_itemsets(bs.matrix, 0.01, backend="native")
    assert executors >= 2  # the driver plus at least one executor on the worker
    assert len(on_cluster) == len(native) == 333  # arules: 333 itemsets at support 0.01
    assert as_dict(on_cluster) == as_dict(native)
