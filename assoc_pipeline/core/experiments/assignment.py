"""Deterministic, sticky arm assignment: the same unit lands in the same arm in every process.

A unit (a user id, else a basket/session id the client sends) is hashed with the experiment's
name as salt (SHA-256, not Python's per-process salted ``hash``) to a number in [0, 1); below the
challenger's share it sees the challenger. No table of assignments is kept: any server, the
replay and the report recompute the same arm. A new experiment name reshuffles the units, so one
experiment's winners are not the next one's by construction.
"""

from __future__ import annotations

import hashlib

from assoc_pipeline.core.errors import InputError

CHAMPION, CHALLENGER = "champion", "challenger"
ARMS = (CHAMPION, CHALLENGER)


def check_share(share: float, what: str = "challenger share") -> float:
    """The challenger's share of units, checked: a number strictly between 0 and 1."""
    try:
        value = float(share)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}={share!r}: must be a number between 0 and 1 (e.g. 0.1)") from exc
    if not 0.0 < value < 1.0:
        raise InputError(f"{what}={share!r}: must be between 0 and 1, exclusive (e.g. 0.1)")
    return value


def unit_position(unit_id: str, salt: str) -> float:
    """Where ``unit_id`` falls in [0, 1) for the experiment ``salt`` (uniform over many ids)."""
    digest = hashlib.sha256(f"{salt}\x1f{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_arm(unit_id: str, share: float, salt: str) -> str:
    """The arm of ``unit_id``: the challenger for a ``share`` of units, the champion for the rest."""
    return CHALLENGER if unit_position(str(unit_id), salt) < share else CHAMPION
