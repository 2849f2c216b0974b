"""Selecting rules by measure and by item, and making them readable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

Side = Literal["any", "antecedent", "consequent", "lhs", "rhs"]


def _membership(col: pd.Series, wanted: np.ndarray) -> np.ndarray:
    """Per row: does the tuple in ``col`` contain any of ``wanted``? (flattened, no row loop)."""
    lens = np.fromiter((len(t) for t in col), dtype=np.int64, count=len(col))
    if len(col) == 0 or lens.sum() == 0:
        return np.zeros(len(col), dtype=bool)
    flat = np.fromiter((i for t in col for i in t), dtype=np.int64, count=int(lens.sum()))
    hit = np.isin(flat, wanted).astype(np.int64)
    per_row = np.zeros(len(col), dtype=np.int64)
    np.add.at(per_row, np.repeat(np.arange(len(col)), lens), hit)
    return per_row > 0


def filter_rules(
    rules: pd.DataFrame,
    *,
    items: Iterable[int] | None = None,
    side: Side = "any",
    **thresholds: float,
) -> pd.DataFrame:
    """Rules passing every threshold and (optionally) involving one of ``items``.

    ``lift=2`` or ``min_lift=2`` keeps lift >= 2; ``max_support=0.1`` keeps support <= 0.1
    (all inclusive). ``items`` are column indices; ``side`` says where they must appear:
    "any" (either side), "antecedent"/"lhs" or "consequent"/"rhs".
    """
    keep = np.ones(len(rules), dtype=bool)
    for key, value in thresholds.items():
        if key.startswith("max_"):
            col, upper = key[4:], True
        else:
            col, upper = (key[4:] if key.startswith("min_") else key), False
        if col not in rules.columns:
            raise ValueError(
                f"filter_rules: no measure column {col!r} (have {', '.join(map(str, rules.columns))})"
            )
        v = rules[col].to_numpy(dtype=np.float64)
        keep &= (v <= value) if upper else (v >= value)
    if items is not None:
        wanted = np.asarray(sorted({int(i) for i in items}), dtype=np.int64)
        if side in ("any", "antecedent", "lhs"):
            lhs = _membership(rules["antecedent"], wanted)
        if side in ("any", "consequent", "rhs"):
            rhs = _membership(rules["consequent"], wanted)
        if side == "any":
            keep &= lhs | rhs
        elif side in ("antecedent", "lhs"):
            keep &= lhs
        elif side in ("consequent", "rhs"):
            keep &= rhs
        else:
            raise ValueError(f"side must be 'any', 'antecedent' or 'consequent', got {side!r}")
    return rules.loc[keep].reset_index(drop=True)


def label_rules(
    rules: pd.DataFrame, item_names: Sequence[str] | Mapping[int, str] | np.ndarray
) -> pd.DataFrame:
    """A copy with ``antecedent_names``/``consequent_names`` (tuples) and ``rule`` ("{a, b} => {c}")."""
    if isinstance(item_names, Mapping):
        lookup = dict(item_names)
        used = {i for col in (rules["antecedent"], rules["consequent"]) for t in col for i in t}
        names = {i: str(lookup.get(i, i)) for i in used}
        name = names.__getitem__
    else:
        names_list = [str(x) for x in np.asarray(item_names, dtype=object).tolist()]
        name = names_list.__getitem__  # a Python list lookup per item, no numpy scalar per item

    out = rules.copy()
    lhs = [tuple(map(name, t)) for t in rules["antecedent"]]
    rhs = [tuple(map(name, t)) for t in rules["consequent"]]
    out["antecedent_names"] = pd.Series(lhs, index=rules.index, dtype=object)
    out["consequent_names"] = pd.Series(rhs, index=rules.index, dtype=object)
    out["rule"] = ["{" + ", ".join(a) + "} => {" + ", ".join(c) + "}" for a, c in zip(lhs, rhs, strict=True)]
    return out
