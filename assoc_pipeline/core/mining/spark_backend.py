"""Spark backend: ``pyspark.ml.fpm.FPGrowth`` for data that outgrows one machine.

pyspark is imported lazily (the ``spark`` extra). Spark's threshold is
``ceil(minSupport * n)``, so we hand it ``(min_count - 0.5) / n`` to land on ``min_count``.
Spark has no length limit: itemsets longer than ``max_len`` are dropped afterwards.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from .itemsets import Levels, levels_from_pairs

DEFAULT_MASTER = "local[2]"


def _require_pyspark() -> Any:
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'spark' mining backend needs pyspark: install the 'spark' extra "
            "(pip install 'assoc-pipeline[spark]') and a Java runtime"
        ) from exc
    return SparkSession


def get_spark(master: str | None = None, app_name: str = "assoc-pipeline-mining") -> Any:
    """A SparkSession without UI (reuses an active one).

    ``master`` (or ``ASSOC_SPARK_MASTER``; default ``local[2]``) picks the cluster: a ``local[...]``
    master binds the driver to 127.0.0.1; any other (``spark://host:7077``, ``yarn``,
    ``k8s://...``) leaves the driver address to Spark, or to ``ASSOC_SPARK_DRIVER_HOST`` when the
    executors must reach this machine under a given name.
    """
    session_cls = _require_pyspark()
    master = master or os.environ.get("ASSOC_SPARK_MASTER", DEFAULT_MASTER)
    builder = (
        session_cls.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
    )
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.host", "127.0.0.1").config(
            "spark.driver.bindAddress", "127.0.0.1"
        )
    elif os.environ.get("ASSOC_SPARK_DRIVER_HOST"):
        builder = builder.config("spark.driver.host", os.environ["ASSOC_SPARK_DRIVER_HOST"])
    return builder.getOrCreate()


def mine_levels(
    matrix: sp.spmatrix,
    min_count: int,
    max_len: int | None = None,
    *,
    spark: Any | None = None,
    master: str | None = None,
) -> tuple[Levels, np.ndarray]:
    x = sp.csr_matrix(matrix, dtype=bool)
    x.sort_indices()
    n, m = x.shape
    item_counts = np.bincount(x.indices, minlength=m).astype(np.int64)
    if n == 0 or not bool((item_counts >= min_count).any()) or (max_len is not None and max_len < 1):
        return {}, item_counts
    session = spark or get_spark(master)
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql.types import ArrayType, IntegerType, StructField, StructType

    rows = [(x.indices[x.indptr[i] : x.indptr[i + 1]].tolist(),) for i in range(n)]
    schema = StructType([StructField("items", ArrayType(IntegerType()), False)])
    with warnings.catch_warnings():  # "PySpark does not yet fully support pandas >= 3.0.0": unused here
        warnings.simplefilter("ignore", FutureWarning)
        df = session.createDataFrame(rows, schema)
        model = FPGrowth(itemsCol="items", minSupport=(min_count - 0.5) / n, minConfidence=1.0).fit(df)
        pairs = [
            (tuple(r["items"]), int(r["freq"]))
            for r in model.freqItemsets.collect()
            if max_len is None or len(r["items"]) <= max_len
        ]
    return levels_from_pairs(pairs), item_counts
