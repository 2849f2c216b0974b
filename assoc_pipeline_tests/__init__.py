"""The test suite. Imported before any conftest, so the thread limits below precede numpy's import."""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two xdist workers on two cores: one BLAS / OpenMP thread each (inherited by
    # the servers and step processes they start), or the workers' thread pools spin against each other.
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
