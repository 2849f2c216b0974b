"""Optional compiled kernels: whether their package is installed, without importing it (numba's
import alone takes seconds; callers fall back to numpy / scipy where it is missing)."""

from __future__ import annotations

import importlib.util


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None
