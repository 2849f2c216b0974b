"""Frequent itemsets of the current baskets: mined in full, or updated from the stored ones.

When the new baskets extend the ones the stored itemsets were mined from (same settings, same
first baskets), the stored itemsets and their negative border are updated FUP-style from the new
baskets alone; otherwise (settings changed, history rewritten, no border stored) everything is
mined again, and the reason is said.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.mining import FrequentItemsets, ItemsetExplosion, mine_itemsets
from assoc_pipeline.core.mining.incremental import item_map_for, negative_border, update_itemsets
from assoc_pipeline.core.mining.native_backend import DEVICES
from assoc_pipeline.core.tables import read_table
from assoc_pipeline.services.training import Log


@dataclass(frozen=True)
class ItemsetSettings:
    min_support: float | int
    max_len: int = 10
    backend: str = "native"
    incremental: bool = True
    device: str = "auto"  # native backend: "cuda" mines on the GPU; the itemsets are the same

    def backend_options(self) -> dict[str, Any]:
        return {"device": self.device} if self.backend == "native" else {}

    def check_device(self) -> None:
        """A device that cannot run fails now: an incremental update only counts, on the CPU,
        so without this a missing GPU would surface at the next full re-mine, runs later."""
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.device == "cuda":
            if self.backend != "native":
                raise InputError(f"device='cuda' runs the native backend, not backend={self.backend!r}")
            from assoc_pipeline.core.mining.apriori_torch import cuda_device

            cuda_device()


@dataclass
class Mined:
    itemsets: FrequentItemsets
    mode: str  # "full" or the incremental mode
    reason: str
    incremental: dict[str, Any]


def prefix_fingerprint(baskets: BasketSet, n: int) -> str:
    """Content hash of the first ``n`` baskets: their ids, in order, and their items' ids."""
    m = baskets.matrix[:n]
    ids = baskets.vocabulary["item_id"].astype(str).to_numpy()
    h = hashlib.sha256()
    h.update(np.int64(n).tobytes())
    h.update("\x1f".join(baskets.baskets["basket_id"].astype(str).iloc[:n]).encode())
    h.update(np.diff(m.indptr).astype(np.int64).tobytes())
    h.update("\x1f".join(ids[m.indices]).encode())
    return h.hexdigest()[:32]


def previous_itemsets(
    stored: Path | None, settings: ItemsetSettings, baskets: BasketSet
) -> tuple[FrequentItemsets | None, str]:
    """The stored itemsets when they can be updated incrementally to ``baskets``, else (None, why)."""
    if not settings.incremental:
        return None, "incremental updates are switched off (config incremental=false)"
    if stored is None:
        return None, "the IO manager cannot say where the previous itemsets are stored"
    if not stored.exists():
        return None, "no previous itemsets stored"
    previous = read_table(stored)
    prov = getattr(previous, "provenance", None) or {}
    if not isinstance(previous, FrequentItemsets) or previous.border is None or "prefix" not in prov:
        return None, "the previous itemsets were stored without their negative border"
    wanted = {"min_support": settings.min_support, "max_len": settings.max_len, "backend": settings.backend}
    changed = [f"{k} {prov.get(k)!r} -> {v!r}" for k, v in wanted.items() if prov.get(k) != v]
    if changed:
        return None, "mined with other settings: " + ", ".join(changed)
    n_old = int(prov["n_baskets"])
    if n_old > baskets.n_baskets or prefix_fingerprint(baskets, n_old) != prov["prefix"]:
        return None, f"the current baskets do not extend the previous {n_old:,} baskets (history changed)"
    return previous, f"the current baskets extend the previous {n_old:,}"


def mine_or_update(
    baskets: BasketSet, settings: ItemsetSettings, stored: Path | None, log: Log = print
) -> Mined:
    """Itemsets with their negative border and provenance (so the next run can update them)."""
    settings.check_device()
    previous, why = previous_itemsets(stored, settings, baskets)
    fi: FrequentItemsets | None = None
    report: dict[str, Any] = {}
    mode, reason = "full", why
    if previous is not None:
        try:
            item_map = item_map_for(previous.provenance["item_ids"], baskets.vocabulary["item_id"])  # type: ignore[index]
            fi, rep = update_itemsets(
                previous,
                baskets.matrix,
                settings.min_support,
                item_map=item_map,
                backend=settings.backend,
                **settings.backend_options(),
            )
            mode, reason, report = rep.mode, f"{why}; {rep.reason}", rep.as_dict()
        except ItemsetExplosion as exc:
            reason = f"incremental update stopped: {exc}"
            fi = None
    if fi is None:
        fi = mine_itemsets(
            baskets.matrix,
            settings.min_support,
            max_len=settings.max_len,
            backend=settings.backend,
            **settings.backend_options(),
        )
        mode = "full"
        try:
            fi = fi.with_border(negative_border(fi, baskets.matrix))
        except ItemsetExplosion as exc:
            log(f"no negative border stored (next run mines in full): {exc}")
    fi = fi.with_border(
        fi.border,
        provenance={
            "min_support": settings.min_support,
            "max_len": settings.max_len,
            "backend": settings.backend,
            "n_baskets": baskets.n_baskets,
            "prefix": prefix_fingerprint(baskets, baskets.n_baskets),
            "item_ids": baskets.vocabulary["item_id"].astype(str).tolist(),
        },
    )
    return Mined(fi, mode, reason, report)
