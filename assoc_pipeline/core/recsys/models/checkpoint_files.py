"""Trained recommenders on disk: a torch checkpoint that names its class, loaded back exactly."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch

from assoc_pipeline.core.tables import write_atomic


def save_model(model: Any, path: str | os.PathLike) -> None:
    """Atomically save any object with ``to_checkpoint()`` / ``from_checkpoint()``."""
    cls = type(model)
    payload = {"class": f"{cls.__module__}:{cls.__qualname__}", "checkpoint": model.to_checkpoint()}
    write_atomic(Path(path), lambda tmp: torch.save(payload, tmp))


def load_model(path: str | os.PathLike, device: str = "cpu") -> Any:
    payload = torch.load(path, map_location=device, weights_only=False)
    module, _, name = payload["class"].partition(":")
    if not module.startswith("assoc_pipeline."):
        raise ValueError(f"{path}: refuses to load class {payload['class']!r} from outside assoc_pipeline")
    cls = getattr(importlib.import_module(module), name)
    return cls.from_checkpoint(payload["checkpoint"], device=device)
