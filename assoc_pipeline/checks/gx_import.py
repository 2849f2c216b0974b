"""Import Great Expectations safely from any process, whatever its ``__main__``.

Great Expectations imports ``pyspark.sql.connect``, whose import calls ``sys.exit(0)`` when
``__main__`` has neither ``__spec__`` nor ``__file__`` (it takes the process for a doctest run).
``python -c``, a multiprocessing forkserver and a pytest-xdist worker all have such a ``__main__``:
the contract check would end the process with exit status 0 and no message. The import here sets a
placeholder ``__file__`` on ``__main__`` for the duration of the import and removes it right after
(a lasting one would mislead multiprocessing, which re-runs ``__main__.__file__`` in its children).
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_great_expectations() -> ModuleType:
    """``great_expectations``, imported without pyspark's doctest exit."""
    if "great_expectations" in sys.modules:
        return sys.modules["great_expectations"]
    main = sys.modules["__main__"]
    placeholder = getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if placeholder:
        main.__file__ = "<no main file>"
    try:
        import great_expectations
    finally:
        if placeholder:
            del main.__file__
    return great_expectations
