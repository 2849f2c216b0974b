"""Trained models on disk: weights and plain values only, loaded back into a class we name.

A checkpoint file holds ``{"kind": ..., "checkpoint": ...}`` and is read with
``torch.load(weights_only=True)``: no pickled object, so a file planted in a model store can
never run code when it is loaded. ``kind`` is looked up in :data:`model_types.CHECKPOINT_KINDS`;
an unknown kind, or a file that needs pickle, is refused with an error naming the file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from assoc_pipeline.core.tables import write_atomic


class UnsafeCheckpointError(ValueError):
    """A model file that is not a plain weights-only checkpoint of one of our model kinds."""


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Atomically save any model with a ``kind`` and ``to_checkpoint()``."""
    payload = {"kind": model.kind, "checkpoint": model.to_checkpoint()}
    write_atomic(Path(path), lambda tmp: torch.save(payload, tmp))


def load_model(path: str | os.PathLike, device: str = "cpu") -> Any:
    """The model saved at ``path``, rebuilt through its class's ``from_checkpoint``."""
    from assoc_pipeline.core.recsys.model_types import checkpoint_class

    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"{path}: refused: not a weights-only checkpoint (loading it would run pickled code)"
        ) from exc
    if not isinstance(payload, dict) or "kind" not in payload or "checkpoint" not in payload:
        raise UnsafeCheckpointError(f"{path}: refused: not an assoc-pipeline model checkpoint")
    return checkpoint_class(str(payload["kind"]), path).from_checkpoint(payload["checkpoint"], device=device)
