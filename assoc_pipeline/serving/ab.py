"""A/B routing: which version answers a request, and the exposure it leaves in the log.

Without an experiment every request is answered by the champion holder (hot reload as before)
and nothing is recorded. With one, the request's unit — the user id, else the basket/session id
the client sends — is hashed (``core/experiments/assignment.py``) to the champion or the
challenger, and the answer shown is queued in the :class:`ExposureLog`. A request with neither
id is outside the experiment: the champion answers and no exposure is recorded (it could never
be joined with a purchase). The replay (``ab_replay.py``) calls the same methods with the
historical time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.experiments.assignment import CHALLENGER, CHAMPION, assign_arm, check_share
from assoc_pipeline.core.recsys.report import COMPLETION, NEXT_BASKET
from assoc_pipeline.resources.mlflow_tracking import RECOMMENDER_MODEL, MLflowResource
from assoc_pipeline.services.recommendations import StoredState, served_version
from assoc_pipeline.serving.exposure_log import ExposureLog
from assoc_pipeline.serving.reloader import ChampionHolder
from assoc_pipeline.serving.scoring import Answer, ScoringState

SIMILAR = "similar"


def default_experiment(challenger: str) -> str:
    """The assignment salt when none is configured: one name per challenger version."""
    return f"challenger-v{challenger}"


def registered_version(tracker: MLflowResource, number: str) -> Any:
    """The registered version ``number`` of the recommender (an InputError naming the known ones)."""
    versions = tracker.versions(RECOMMENDER_MODEL)
    for v in versions:
        if str(v.version) == str(number).strip():
            return v
    known = ", ".join(str(v.version) for v in versions) or "none registered yet"
    raise InputError(
        f"challenger version {number!r} is not a registered {RECOMMENDER_MODEL} version (registered: {known})"
    )


def challenger_state(tracker: MLflowResource, stored: StoredState, number: str) -> ScoringState:
    """The challenger version loaded like the champion (same baskets, rules, precomputed top-K)."""
    served = served_version(tracker, stored.baskets, registered_version(tracker, number), role="challenger")
    state = ScoringState(stored, served, served)
    state.users_model = state.items_model = dataclasses.replace(state.users_model, from_champion=False)
    return state


@dataclass
class Experiment:
    """A running A/B test: the challenger's state, its share of units, the salt and the log."""

    name: str
    share: float
    challenger: ScoringState
    log: ExposureLog
    source: str = "live"  # live | replay

    def __post_init__(self) -> None:
        self.share = check_share(self.share, "--challenger-share")


class ABRouter:
    """Answers requests from the champion holder or, for the challenger's units, the challenger."""

    def __init__(self, holder: ChampionHolder, experiment: Experiment | None = None) -> None:
        self.holder = holder
        self.experiment = experiment

    def arm_of(self, unit: str | None) -> str:
        if self.experiment is None or not unit:
            return CHAMPION
        return assign_arm(unit, self.experiment.share, self.experiment.name)

    def _state(self, arm: str) -> ScoringState:
        return self.experiment.challenger if arm == CHALLENGER and self.experiment else self.holder.state

    def _answer(self, kind: str, user_id: str | None, basket_id: str | None, at: datetime | None, ask):
        user = str(user_id).strip() if user_id is not None and str(user_id).strip() else None
        basket = str(basket_id).strip() if basket_id is not None and str(basket_id).strip() else None
        unit = user or basket
        arm = self.arm_of(unit)
        answer: Answer = ask(self._state(arm))
        if self.experiment is not None and unit:
            m = answer.model
            self.experiment.log.record(
                {
                    "time": at or datetime.now(UTC),
                    "experiment": self.experiment.name,
                    "unit_id": unit,
                    "user_id": user,
                    "basket_id": basket,
                    "arm": arm,
                    "model_name": m.name,
                    "model_version": m.version,
                    "query_kind": kind,
                    "items": [item["item_id"] for item in answer.items],
                    "source": self.experiment.source,
                }
            )
        return answer, arm

    def for_user(self, user_id: str, k: int, at: datetime | None = None) -> tuple[Answer, str]:
        """A user's next basket from their arm's version; (answer, arm)."""
        return self._answer(NEXT_BASKET, user_id, None, at, lambda s: s.for_user(user_id, k))

    def for_basket(
        self, items: Sequence[str], k: int, user_id: str | None = None, basket_id: str | None = None,
        at: datetime | None = None,
    ) -> tuple[Answer, str]:  # fmt: skip
        """Completions of a posted basket from the arm of its user (else of its basket/session id)."""
        return self._answer(COMPLETION, user_id, basket_id, at, lambda s: s.for_basket(items, k, user_id))

    def similar(self, item: str, k: int, user_id: str | None = None) -> tuple[Answer, str]:
        return self._answer(SIMILAR, user_id, None, None, lambda s: s.similar(item, k))

    def start(self) -> None:
        if self.experiment is not None:
            self.experiment.log.start()

    def stop(self) -> None:
        """Write every queued exposure (the app's lifespan stop, the end of a replay)."""
        if self.experiment is not None:
            self.experiment.log.close()

    def describe(self) -> dict | None:
        """The experiment for /health (None without one)."""
        e = self.experiment
        if e is None:
            return None
        s = e.log.status
        return {
            "experiment": e.name,
            "challenger": e.challenger.users_model.version,
            "champion": self.holder.state.version,
            "challenger_share": e.share,
            "exposures_recorded": s.recorded,
            "exposures_written": s.written,
            "exposures_pending": e.log.pending,
            "write_failures": s.write_failures,
            "exposures_dir": str(e.log.directory),
        }
