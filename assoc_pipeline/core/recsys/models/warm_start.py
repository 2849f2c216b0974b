"""Warm start: initialise a new model from a previously trained one (e.g. the champion), by id.

Why by id: when new events arrive the vocabulary grows (new products) and users come and go, so
row ``i`` of the old item table is not row ``i`` of the new one. Rows of item- or user-indexed
tensors are copied for the ids both models know; new ids keep their fresh initialisation; other
tensors are copied when their shapes agree. Tensors a model recomputes in closed form (the DNN's
EASE layer) are left alone. The caller then fine-tunes as usual (shared training loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class WarmStartReport:
    """What was carried over from the base model (logged as MLflow params and asset metadata)."""

    shared_items: int
    new_items: int
    dropped_items: int
    shared_users: int
    new_users: int
    tensors_copied: list[str] = field(default_factory=list)
    tensors_fresh: list[str] = field(default_factory=list)

    def as_params(self) -> dict[str, Any]:
        d = asdict(self)
        d["tensors_copied"] = ",".join(self.tensors_copied) or "-"
        d["tensors_fresh"] = ",".join(self.tensors_fresh) or "-"
        return {f"warm_start/{k}": v for k, v in d.items()}


def id_alignment(old_ids: Sequence[str], new_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(new_pos, old_pos)`` of the ids present in both sequences (new order)."""
    old = pd.Index(np.asarray(old_ids, dtype=str))
    if not old.is_unique:
        raise ValueError("warm start: the base model's ids are not unique")
    found = old.get_indexer(np.asarray(new_ids, dtype=str))
    new_pos = np.flatnonzero(found >= 0)
    return new_pos, found[new_pos]


def _copy_rows(target: torch.Tensor, source: torch.Tensor, new_pos: np.ndarray, old_pos: np.ndarray) -> None:
    if target.shape[1:] != source.shape[1:]:
        raise ValueError(f"warm start: row shapes differ ({tuple(source.shape)} -> {tuple(target.shape)})")
    if len(new_pos):
        target[torch.as_tensor(new_pos)] = source[torch.as_tensor(old_pos)].to(target.dtype)


def transfer_state(
    module: torch.nn.Module,
    base_state: Mapping[str, torch.Tensor],
    *,
    item_ids: tuple[Sequence[str], Sequence[str]],
    user_ids: tuple[Sequence[str], Sequence[str]] | None = None,
    item_rows: Sequence[str] = (),
    user_rows: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> WarmStartReport:
    """Load ``base_state`` into ``module`` by id; see the module docstring.

    ``item_ids`` / ``user_ids`` = (base ids, new ids); ``item_rows`` / ``user_rows`` name the
    tensors whose first axis is indexed by items / users; ``skip`` names tensors to leave as they are.
    """
    item_new, item_old = id_alignment(*item_ids)
    user_new, user_old = id_alignment(*user_ids) if user_ids is not None else (np.array([]), np.array([]))
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    copied, fresh = [], []
    for name, tensor in state.items():
        source = base_state.get(name)
        if name in skip:
            continue
        if source is None:
            fresh.append(name)
        elif name in item_rows:
            _copy_rows(tensor, source.to(tensor.device), item_new, item_old)
            copied.append(name)
        elif name in user_rows:
            _copy_rows(tensor, source.to(tensor.device), user_new, user_old)
            copied.append(name)
        elif source.shape == tensor.shape:
            tensor.copy_(source.to(tensor.device, tensor.dtype))
            copied.append(name)
        else:
            fresh.append(name)
    module.load_state_dict(state)
    n_new_users = len(user_ids[1]) if user_ids is not None else 0
    return WarmStartReport(
        shared_items=len(item_new),
        new_items=len(item_ids[1]) - len(item_new),
        dropped_items=len(item_ids[0]) - len(item_new),
        shared_users=len(user_new),
        new_users=n_new_users - len(user_new),
        tensors_copied=copied,
        tensors_fresh=fresh,
    )


def require_same_kind(model: Any, base: Any) -> None:
    """A warm start only makes sense between models of one class with known item ids."""
    if type(base) is not type(model):
        raise ValueError(
            f"warm start: cannot initialise a {type(model).__name__} from a {type(base).__name__}"
        )
    if base.module is None:
        raise ValueError("warm start: the base model is not trained")
    if getattr(base, "item_ids", None) is None:
        raise ValueError(
            "warm start: the base model has no item ids (saved before warm-start support); "
            "retrain it from scratch once"
        )


def warm_start_from(
    model: Any,
    base: Any,
    *,
    item_rows: Sequence[str],
    user_rows: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> WarmStartReport:
    """Initialise ``model.module`` (just built for the new data) from ``base`` by item/user id."""
    require_same_kind(model, base)
    return transfer_state(
        model.module,
        base.module.state_dict(),
        item_ids=(base.item_ids, model.item_ids),
        user_ids=(list(base.user_index), list(model.user_index)) if user_rows else None,
        item_rows=item_rows,
        user_rows=user_rows,
        skip=skip,
    )
