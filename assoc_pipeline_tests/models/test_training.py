from __future__ import annotations

import math

import pytest
import torch

from assoc_pipeline.core.recsys.models.training import (
    LoopParams,
    StepContext,
    load_checkpoint,
    pick_device,
    train_loop,
)


def test_pick_device_auto_and_override() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        pick_device("tpu-ish")


def _toy(params: LoopParams, values: list[float], tmp_path=None):
    module = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x, y = torch.randn(32, 2, generator=torch.Generator().manual_seed(1)), torch.ones(32, 1)
    seen: list[tuple[int, dict]] = []

    def epoch(ctx: StepContext, e: int) -> dict[str, float]:
        with ctx.autocast():
            loss = ((module(x) - y) ** 2).mean()
        return {"loss": ctx.optimize(loss, opt)}

    res = train_loop(
        module,
        epoch,
        params,
        validate=lambda: {"val_ndcg@10": values[len(seen)]},
        on_epoch=lambda e, m: seen.append((e, m)),
        checkpoint_path=None if tmp_path is None else tmp_path / "best.pt",
    )
    return res, seen, module


def test_early_stopping_keeps_best_state(tmp_path) -> None:
    values = [0.1, 0.5, 0.4, 0.3, 0.2, 0.9, 0.9]
    res, seen, module = _toy(LoopParams(epochs=7, patience=3, device="cpu"), values, tmp_path)
    assert res.best_epoch == 2 and math.isclose(res.best_metric, 0.5)
    assert res.stopped_early and res.epochs_run == 5 == len(seen) == len(res.history)
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5] and "loss" in seen[0][1] and "val_ndcg@10" in seen[0][1]
    saved = load_checkpoint(tmp_path / "best.pt")
    for k, v in module.state_dict().items():
        assert torch.equal(v, res.best_state[k]) and torch.equal(v, saved[k])
    assert res.device == "cpu" and res.wall_time_s > 0


class _WithFixedBuffer(torch.nn.Linear):
    fixed_state = ("table", "weight")  # a parameter named there is still copied: only buffers are fixed

    def __init__(self) -> None:
        super().__init__(2, 1)
        self.register_buffer("table", torch.arange(6.0).reshape(2, 3))


def test_best_state_shares_the_fixed_buffers_and_copies_the_rest() -> None:
    """A module's ``fixed_state`` (e.g. the DNN's 400 MB EASE block) is not copied per best epoch;
    the learnt tensors are, and the loop's outcome is the same."""
    module = _WithFixedBuffer()
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(2))
    values = iter([0.1, 0.5, 0.2])

    def epoch(ctx: StepContext, e: int) -> dict[str, float]:
        return {"loss": ctx.optimize(((module(x) - 1) ** 2).mean(), opt)}

    res = train_loop(
        module, epoch, LoopParams(epochs=3, patience=0, device="cpu"), validate=lambda: {"m": next(values)},
        monitor="m",
    )  # fmt: skip
    assert res.best_epoch == 2
    assert res.best_state["table"].data_ptr() == module.table.data_ptr()
    assert res.best_state["weight"].data_ptr() != module.weight.data_ptr()
    assert torch.equal(res.best_state["weight"], module.weight)  # the best epoch's weights restored
    assert torch.equal(module.table, torch.arange(6.0).reshape(2, 3))


def test_same_seed_same_weights() -> None:
    p = LoopParams(epochs=3, patience=0, device="cpu", seed=3)
    torch.manual_seed(0)
    a, _, _ = _toy(p, [0.1, 0.2, 0.3])
    torch.manual_seed(0)
    b, _, _ = _toy(p, [0.1, 0.2, 0.3])
    assert all(torch.equal(a.best_state[k], b.best_state[k]) for k in a.best_state)


def test_a_time_budget_stops_training_mid_epoch_and_says_so() -> None:
    """Each batch takes 20 ms and an epoch has 50 of them (1 s); a 0.25 s budget ends the first
    epoch after a dozen batches, runs no second one, and the result names the reason."""
    import time

    module = torch.nn.Linear(1, 1)
    batches_seen: list[int] = []

    def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
        n = 0
        for _ in range(50):
            if ctx.out_of_time():
                break
            time.sleep(0.02)
            n += 1
        batches_seen.append(n)
        return {"loss": 1.0 / epoch}

    result = train_loop(module, train_epoch, LoopParams(epochs=5, patience=0, time_budget_s=0.25))
    assert len(batches_seen) == 1 and 5 <= batches_seen[0] < 50
    assert result.stopped_early and result.stopped_by == "time budget" and result.epochs_run == 1
    free = train_loop(module, train_epoch, LoopParams(epochs=2, patience=0))
    assert free.stopped_by == "" and free.epochs_run == 2 and batches_seen[1:] == [50, 50]
