"""Hot reload: follow the registry's ``champion`` alias without a restart or a failed request.

A daemon thread asks the registry every ``poll_seconds`` which version the alias points at; when
that differs from the version served, it loads the new version completely (model, top-K tables)
off the request path and only then replaces the holder's reference, one assignment. A request
reads the reference once and answers from that state, so it sees the old or the new version,
never half of each. A version that fails to load is reported and kept out until the alias moves
again; the old version goes on serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from assoc_pipeline.serving.scoring import ScoringState

log = logging.getLogger("assoc_pipeline.serving")
NOT_FAILED = object()  # no version failed (None is a real alias state: no champion)


@dataclass
class ReloadStatus:
    """What /health and /metrics report about reloads."""

    loaded_at: float
    reloads: int = 0
    failures: int = 0
    last_error: str | None = None


class ChampionHolder:
    """The state being served, swapped whole when the champion alias moves."""

    def __init__(
        self,
        load: Callable[[], ScoringState],
        current_champion: Callable[[], str | None],
        poll_seconds: float = 30.0,
    ) -> None:
        self._load = load
        self._current_champion = current_champion
        self.poll_seconds = poll_seconds
        self.state = load()
        self.status = ReloadStatus(loaded_at=time.time())
        self._failed_version: object = NOT_FAILED
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Reload if the alias points elsewhere than the version served; True when swapped."""
        wanted = self._current_champion()
        if wanted == self.state.version or wanted == self._failed_version:
            return False
        try:
            fresh = self._load()
        except Exception as exc:  # a broken version must not take the server down
            self._failed_version = wanted
            self.status.failures += 1
            self.status.last_error = f"version {wanted}: {type(exc).__name__}: {exc}"
            log.error("hot reload of champion version %s failed, still serving %s: %s",
                      wanted, self.state.version, exc)  # fmt: skip
            return False
        previous, self.state = self.state.version, fresh  # the swap: one reference assignment
        self._failed_version = NOT_FAILED
        self.status.reloads += 1
        self.status.loaded_at = time.time()
        log.warning("champion moved: now serving version %s (was %s, loaded in %.1f s)",
                    fresh.version, previous, fresh.load_seconds)  # fmt: skip
        return True

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check_once()
            except Exception as exc:  # the registry unreachable for a moment: try again next poll
                self.status.last_error = f"registry: {type(exc).__name__}: {exc}"
                log.error("polling the champion alias failed: %s", exc)

    def start(self) -> None:
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="champion-poll", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
