"""Tidset intersection + popcount, on the CPU (numpy) or on a torch device (the CUDA path).

The vectorised numpy Eclat (:mod:`.eclat_numpy`) does all its counting through one of these, so
the same search runs on a GPU by swapping the ops. torch on the CPU has no popcount and is slower
than numpy; it is used there only to check the CUDA code path's arithmetic.
"""

from __future__ import annotations

import sys

import numpy as np


class NumpyOps:
    """Tidset intersection + popcount on the CPU."""

    min_bytes = 0

    def put(self, tids: np.ndarray) -> np.ndarray:
        return tids

    def and_count(self, tids: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inter = tids[p] & tids[q]
        return inter, np.bitwise_count(inter).sum(axis=1, dtype=np.int64)

    def select(self, tids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return tids[mask]


class TorchOps(NumpyOps):
    """The same on a torch device (CUDA): tidsets stay on the device for a whole block.

    torch has no popcount, so it is the SWAR bit trick on int64 (masks keep arithmetic shifts
    exact). Blocks under ``min_bytes`` stay on the CPU, where transfers would cost more.
    """

    min_bytes = 4 << 20

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def put(self, tids: np.ndarray):  # type: ignore[override]
        return self.torch.from_numpy(np.ascontiguousarray(tids).view(np.int64)).to(self.device)

    def and_count(self, tids, p: np.ndarray, q: np.ndarray):  # type: ignore[override]
        t = self.torch
        inter = tids[t.from_numpy(p).to(self.device)] & tids[t.from_numpy(q).to(self.device)]
        return inter, popcount64(inter).sum(dim=1).cpu().numpy().astype(np.int64)

    def select(self, tids, mask: np.ndarray):  # type: ignore[override]
        return tids[self.torch.from_numpy(mask).to(self.device)]


def popcount64(x):
    """Per-element popcount of an int64 torch tensor (SWAR)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (x * 0x0101010101010101) >> 56


def ops_for(device: str) -> NumpyOps:
    if device == "cpu":
        return NumpyOps()
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("native backend: device='cuda' but torch sees no CUDA device")
        return TorchOps("cuda")
    if device == "auto":
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            return TorchOps("cuda")
        return NumpyOps()
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
