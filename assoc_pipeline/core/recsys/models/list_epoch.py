"""One training epoch over candidate lists: what the ranker's two networks share.

Why a function of its own: the next-basket network (LambdaRank) and the completion head (softmax)
walk their lists the same way (shuffled, a few hundred whole lists per step, the training loop's
time budget checked between steps); only the network and the listwise loss differ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from assoc_pipeline.core.recsys.models.ranker_net import RankerNet
from assoc_pipeline.core.recsys.models.training import StepContext
from assoc_pipeline.core.recsys.ranking_lists import rows_of_lists

ListLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def list_epoch(
    ctx: StepContext,
    net: RankerNet,
    indptr: np.ndarray,
    tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    list_loss: ListLoss,
    opt: torch.optim.Optimizer,
    lists_per_batch: int,
) -> dict[str, float]:
    """Shuffle the lists, step on ``lists_per_batch`` at a time; ``tensors``: the rows' (features,
    item indices, labels) on the training device. Returns the mean loss as ``loss``."""
    x, items, labels = tensors
    n_lists = len(indptr) - 1
    order = ctx.rng.permutation(n_lists)
    total, steps = 0.0, 0
    for s in range(0, n_lists, lists_per_batch):
        if ctx.out_of_time():
            break
        rows, seg = rows_of_lists(indptr, order[s : s + lists_per_batch])
        r = torch.as_tensor(rows, device=x.device)
        with ctx.autocast():
            logits = net.score(x[r], items[r])
        loss = list_loss(logits, labels[r], torch.as_tensor(seg, device=x.device))
        total += ctx.optimize(loss, opt, clip_norm=5.0)
        steps += 1
    return {"loss": total / max(steps, 1)}
