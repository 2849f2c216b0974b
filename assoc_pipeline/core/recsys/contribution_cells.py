"""A ranker's contribution cells read back: the JSON the serving table stores, in words and in sum.

Apart from :mod:`~assoc_pipeline.core.recsys.explanations` (which computes the cells with the
ranking features and torch) so that printing a stored answer needs nothing but ``json``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable


def contributions_text(cell: str) -> str:
    """A table cell back in words: ``cycle +1.92 (bought every ~30 days, last 28 days ago); recency
    +0.80; ...``."""
    if not cell:
        return ""
    return "; ".join(
        f"{c['group']} {c['value']:+.2f}" + (f" ({c['why']})" if c["why"] else "") for c in json.loads(cell)
    )


def top_groups(cells: Iterable[str]) -> dict[str, int]:
    """How often each feature group is the first contribution of a cell (a table's summary)."""
    return dict(Counter(json.loads(c)[0]["group"] for c in cells if c).most_common())
