"""What the forkserver of the demo's step processes imports once, so each forked step starts warm.

The definitions bring torch, pandas and dagster; MLflow (every training step logs to it) and Great
Expectations (the contract checks) are imported here too, instead of once per step process.

A forkserver's ``__main__`` has neither ``__spec__`` nor ``__file__``: Great Expectations is imported
through ``checks/gx_import.py``, which keeps pyspark from taking that for a doctest run and exiting.
"""

from __future__ import annotations

import assoc_pipeline.definitions  # noqa: F401
from assoc_pipeline.checks.gx_import import import_great_expectations
from assoc_pipeline.resources.mlflow_tracking import import_mlflow

import_great_expectations()
import_mlflow()
