"""Arm assignment: deterministic across processes, sticky per unit, the share honoured."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.experiments.assignment import CHALLENGER, CHAMPION, assign_arm, check_share

IDS = [f"user-{i}" for i in range(20_000)]


def test_the_same_unit_gets_the_same_arm_in_another_process() -> None:
    here = [assign_arm(u, 0.3, "exp-a") for u in IDS[:2_000]]
    code = (
        "import json, sys\n"
        "from assoc_pipeline.core.experiments.assignment import assign_arm\n"
        "ids = json.load(sys.stdin)\n"
        "print(json.dumps([assign_arm(u, 0.3, 'exp-a') for u in ids]))\n"
    )
    # another interpreter with another hash seed: Python's own hash() would differ here
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(IDS[:2_000]), capture_output=True, text=True,
        check=True, env={"PYTHONHASHSEED": "12345", "PATH": "", **_pythonpath()},
    )  # fmt: skip
    assert json.loads(out.stdout) == here
    assert [assign_arm(u, 0.3, "exp-a") for u in IDS[:2_000]] == here  # and again here: sticky


def _pythonpath() -> dict[str, str]:
    import os

    return {"PYTHONPATH": os.environ.get("PYTHONPATH", "")} if os.environ.get("PYTHONPATH") else {}


@pytest.mark.parametrize("share", [0.1, 0.5])
def test_the_share_is_honoured_on_many_ids(share: float) -> None:
    arms = [assign_arm(u, share, "exp-b") for u in IDS]
    observed = arms.count(CHALLENGER) / len(arms)
    tolerance = 4 * math.sqrt(share * (1 - share) / len(arms))  # 4 standard errors
    assert abs(observed - share) < tolerance, (observed, share)
    assert set(arms) == {CHAMPION, CHALLENGER}


def test_a_larger_share_only_moves_units_to_the_challenger_and_a_new_salt_reshuffles() -> None:
    small = [assign_arm(u, 0.1, "exp-c") for u in IDS]
    large = [assign_arm(u, 0.3, "exp-c") for u in IDS]
    assert all(b == CHALLENGER for a, b in zip(small, large, strict=True) if a == CHALLENGER)
    other = [assign_arm(u, 0.1, "exp-d") for u in IDS]
    both = sum(a == b == CHALLENGER for a, b in zip(small, other, strict=True))
    assert both < 0.1 * small.count(CHALLENGER) * 2  # ~independent: overlap near 10% of the arm


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "a lot", None])
def test_a_share_outside_zero_one_is_refused(bad) -> None:
    with pytest.raises(InputError, match="between 0 and 1"):
        check_share(bad)
