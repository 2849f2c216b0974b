"""What the forkserver of the demo's step processes imports once, so each forked step starts warm.

The definitions bring torch, pandas and dagster; MLflow (every training step logs to it) and Great
Expectations (the contract checks) are imported here too, instead of once per step process.

One quirk is handled here: ``pyspark.sql.connect`` (which Great Expectations tries to import) calls
``sys.exit(0)`` at import when ``__main__`` has neither ``__spec__`` nor ``__file__``, taking the
process for a doctest run; a forkserver's ``__main__`` is exactly that. Great Expectations is
imported with a placeholder ``__file__`` on ``__main__``, removed right after.
"""

from __future__ import annotations

import sys

_main = sys.modules["__main__"]
_placeholder = getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__")
if _placeholder:
    _main.__file__ = "<forkserver>"
try:
    import great_expectations  # noqa: F401
finally:
    if _placeholder:
        del _main.__file__

import assoc_pipeline.definitions  # noqa: E402, F401
from assoc_pipeline.resources.mlflow_tracking import import_mlflow  # noqa: E402

import_mlflow()
