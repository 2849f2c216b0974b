"""ChampionHolder's rules, fast: what it does when the alias moves, fails to load, or is removed.

The loader here builds a small stand-in state (the real load is exercised end to end by
test_hot_reload.py); the holder only reads ``version`` and ``load_seconds`` from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from assoc_pipeline.serving.reloader import ChampionHolder


@dataclass
class Loaded:
    version: str | None
    load_seconds: float = 0.0


class Registry:
    """The alias and which versions load (a broken one raises as a corrupt artifact would)."""

    def __init__(self) -> None:
        self.alias: str | None = None
        self.broken: set[str] = set()
        self.loads = 0

    def load(self) -> Loaded:
        self.loads += 1
        if self.alias in self.broken:
            raise ValueError(f"version {self.alias}: checkpoint unreadable")
        return Loaded(self.alias)


def test_the_holder_follows_the_alias_and_keeps_serving_through_a_broken_version():
    registry = Registry()
    holder = ChampionHolder(registry.load, lambda: registry.alias, poll_seconds=0)
    assert holder.state.version is None and not holder.check_once()

    registry.alias = "1"
    assert holder.check_once() and holder.state.version == "1"
    registry.alias = None  # the alias removed before any failure: back to the baseline
    assert holder.check_once() and holder.state.version is None
    registry.alias = "1"
    assert holder.check_once() and holder.state.version == "1"

    registry.alias, registry.broken = "2", {"2"}
    assert not holder.check_once()
    assert holder.state.version == "1"  # the old version goes on serving
    assert holder.status.failures == 1 and "checkpoint unreadable" in holder.status.last_error
    loads = registry.loads
    assert not holder.check_once() and registry.loads == loads  # not retried until the alias moves

    registry.alias = None  # the alias removed: back to the labelled baseline
    assert holder.check_once() and holder.state.version is None
    assert holder.status.reloads == 4
