"""The MLflow model registry as the pipeline uses it: the champion, earlier versions, loading them.

Every registered recommender version carries a ``model_type`` tag naming its entry in
:data:`~assoc_pipeline.core.recsys.model_types.MODEL_TYPES`; that tag, not the file, decides what
a version may be used for (fine-tuning, serving).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from assoc_pipeline.core.recsys.task_names import SERVED_TASKS
from assoc_pipeline.resources.registry_alias import (
    CHAMPION_ALIAS,
    RECOMMENDER_MODEL,
    AliasReading,
    alias_surely_unset,
    read_alias,
)

if TYPE_CHECKING:
    from assoc_pipeline.core.recsys.model_types import ModelType
    from assoc_pipeline.resources.mlflow_tracking import MLflowResource


def champion_version(tracker: MLflowResource) -> Any | None:
    """The registered version the ``champion`` alias points at, or None before any promotion."""
    return tracker.alias_version(RECOMMENDER_MODEL, CHAMPION_ALIAS)


TASKS_TAG = "promotion/tasks"  # on a version the gate promoted: the tasks it won, comma-separated


def served_tasks(version: Any) -> tuple[str, ...]:
    """The tasks the champion ``version`` serves: those its promotion won (the best baseline
    serves the rest). A version that holds the alias without such a tag (set by hand, or promoted
    before the gate promoted per task) serves every task."""
    return tasks_from_tag((version.tags or {}).get(TASKS_TAG))


def tasks_from_tag(tag: str | None) -> tuple[str, ...]:
    """The tasks a ``promotion/tasks`` tag names, every served task when there is none."""
    named = tuple(t for t in (tag or "").split(",") if t in SERVED_TASKS)
    return named or SERVED_TASKS


def serves(last_gate: Mapping[str, Any] | None, task: str) -> bool:
    """Whether the champion the last gate record names serves ``task`` (records written before the
    gate promoted per task name no tasks: their champion serves every task)."""
    tasks = (last_gate or {}).get("champion_tasks")
    return task in (tasks if tasks else SERVED_TASKS)


def no_champion_yet(tracking_uri: str) -> bool:
    """Sure that no version holds the ``champion`` alias, without MLflow (an embedded store's
    table read); False means "ask the registry" (:func:`champion_version`)."""
    return alias_surely_unset(tracking_uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)


def champion_alias(tracking_uri: str) -> AliasReading:
    """The champion's version as an embedded store's table says it, without MLflow; ``sure``
    False means "ask the registry" (:func:`champion_version`)."""
    return read_alias(tracking_uri, RECOMMENDER_MODEL, CHAMPION_ALIAS)


def version_type(version: Any) -> ModelType | None:
    """The registered model type of a version (None for versions of an unknown or retired type)."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES

    return MODEL_TYPES.get((version.tags or {}).get("model_type", ""))


def load_version(tracker: MLflowResource, version: Any) -> Any:
    """The model of a registered version (weights-only checkpoint, class from the registry)."""
    return tracker.load_version(version)


def latest_version_from_another_run(
    tracker: MLflowResource, dagster_run_id: str, *, fine_tunable: bool = True
) -> Any | None:
    """Newest version (of a fine-tunable type that may be a fallback base, ``ModelType.fallback_base``)
    whose training ran in another Dagster run."""
    for v in tracker.versions(RECOMMENDER_MODEL):
        t = version_type(v)
        if t is None or (fine_tunable and not (t.fine_tunable and t.fallback_base)):
            continue
        if tracker.run_tags(v.run_id).get("dagster_run_id") != dagster_run_id:
            return v
    return None
