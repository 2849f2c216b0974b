"""Which ready steps a run with several lanes starts first (Dagster's ``dagster/priority`` tag).

With two lanes (`demo --workers 2`) the order matters: the multiprocess executor starts ready
steps in plan order, so the ranker (the longest step) and the chain the evaluation report waits
on (item_embeddings -> baseline_tuning -> hybrid_model) used to start last, leaving one lane idle
at the end. Longest and critical first; every other step keeps priority 0. One lane: no effect.
"""

from __future__ import annotations

PRIORITY_TAG = "dagster/priority"
STEP_PRIORITY = {"ranker_model": 3, "item_embeddings": 2, "baseline_tuning": 2, "hybrid_model": 2}


def priority_tags(asset_name: str) -> dict[str, str]:
    """The op tags that set ``asset_name``'s start priority (empty for priority 0)."""
    priority = STEP_PRIORITY.get(asset_name, 0)
    return {PRIORITY_TAG: str(priority)} if priority else {}
