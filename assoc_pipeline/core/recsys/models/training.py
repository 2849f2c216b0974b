"""One training loop for every model (CF, DNN, GAN): device, seeds, precision, checkpoints, stopping.

Why one loop: every asset then logs, checkpoints and stops the same way, and the Dagster / MLflow
wrappers only need to know ``on_epoch(epoch, metrics)`` and :class:`TrainingResult`.

A model supplies ``train_epoch(ctx, epoch) -> dict`` (it iterates its own batches and calls
``ctx.autocast()`` / ``ctx.optimize(loss, optimizer)``), so a GAN with several critic steps per
generator step uses the same loop as a plain supervised model.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

EpochCallback = Callable[[int, dict[str, float]], None]


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """CUDA, then MPS, then CPU; ``preference`` ("cpu", "cuda", "cuda:1", "mps") overrides.

    An explicit device that is not available is an error, not a silent fallback, so a run that
    asked for a GPU never quietly trains for hours on a CPU.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(pref)
    except RuntimeError as exc:
        raise ValueError(
            f"training: device {preference!r} is not a torch device (auto|cpu|cuda|mps)"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training: device {preference!r} requested but CUDA is not available")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"training: device {preference!r} requested but MPS is not available")
    return dev


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy's legacy global RNG and torch (all devices); returns a fresh numpy Generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@contextlib.contextmanager
def deterministic(enabled: bool = True, threads: int | None = None) -> Iterator[None]:
    """Deterministic kernels (warn-only where torch has none) and a fixed thread count, restored on exit.

    Same seed + same thread count on CPU => bit-identical weights; the thread count matters because
    reductions split work per thread.
    """
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    prev_cudnn = torch.backends.cudnn.benchmark
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        if enabled:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        if threads:
            torch.set_num_threads(int(threads))
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.backends.cudnn.benchmark = prev_cudnn
        if threads:
            torch.set_num_threads(prev_threads)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


@dataclass
class LoopParams:
    """Settings shared by every model's training (each model's hyper-parameters embed these fields)."""

    epochs: int = 30
    patience: int = 5  # epochs without improvement of ``monitor`` before stopping; 0 = never stop early
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    mixed_precision: bool = True  # only takes effect on CUDA
    deterministic: bool = True
    threads: int = 0  # torch CPU threads during training; 0 = leave as is
    eval_every: int = 1  # validate every N epochs (and always on the last)
    time_budget_s: float = 0.0  # training stops (mid-epoch if need be) after this many seconds; 0 = none

    @property
    def planned_epochs(self) -> int | None:
        """The epoch count a progress line may show; None where the fit sets it from its data."""
        return self.epochs


@dataclass
class TrainingResult:
    """What a training run produced; ``best_state`` is on CPU so it can be saved or logged anywhere
    (the module's ``fixed_state`` tensors by reference: see :func:`cpu_state`)."""

    best_state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    best_epoch: int
    best_metric: float
    monitor: str
    device: str
    wall_time_s: float
    stopped_early: bool
    epochs_run: int
    extra: dict[str, Any] = field(default_factory=dict)
    stopped_by: str = ""  # "patience", "time budget" or "" (ran every epoch)

    def metric_curve(self, key: str) -> list[tuple[int, float]]:
        """(epoch, value) pairs of one metric, for plots."""
        return [(int(h["epoch"]), float(h[key])) for h in self.history if key in h]


class StepContext:
    """Handed to a model's ``train_epoch``: the device, autocast and one ``optimize`` that handles AMP."""

    def __init__(
        self,
        device: torch.device,
        mixed_precision: bool,
        rng: np.random.Generator,
        deadline: float | None = None,
    ) -> None:
        self.device = device
        self.rng = rng
        self.deadline = deadline  # time.perf_counter() value after which batches stop
        self.amp = bool(mixed_precision and device.type == "cuda")
        bf16 = self.amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        # fp16 needs loss scaling; bf16 has fp32's range and does not
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and not bf16)

    def out_of_time(self) -> bool:
        """True once the run's time budget is spent: a model's batch loop stops there (the epoch
        ends early; validation and the best-state bookkeeping still run)."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def optimize(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        clip_norm: float | None = None,
    ) -> float:
        """zero_grad, (scaled) backward, optional clipping, step; returns the loss as a float."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if clip_norm:
            self.scaler.unscale_(optimizer)
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training: loss became {value}; lower the learning rate")
        return value


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the state_dict (safe to keep while training goes on).

    Tensors the module names in ``fixed_state`` (closed-form or input buffers that training never
    changes, e.g. the DNN's 10,000 x 10,000 EASE block: 400 MB) are kept by reference when they
    are already on the CPU: a copy per best epoch would only duplicate them. Only buffers qualify
    (a parameter named there is copied as usual)."""
    fixed = set(getattr(module, "fixed_state", ())) & {name for name, _ in module.named_buffers()}
    return {
        k: v.detach() if k in fixed and v.device.type == "cpu" else v.detach().to("cpu", copy=True)
        for k, v in module.state_dict().items()
    }


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """torch.save to a temp file beside ``path``, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Inverse of :func:`save_checkpoint` (weights only: no pickled code is executed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"training: no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


class Checkpointable:
    """``save``/``load`` for models that define ``to_checkpoint()`` / ``from_checkpoint()``."""

    def save(self, path: str | os.PathLike[str]) -> None:
        save_checkpoint(self.to_checkpoint(), path)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> Any:
        return cls.from_checkpoint(load_checkpoint(path), device=device)  # type: ignore[attr-defined]


def train_loop(
    module: torch.nn.Module,
    train_epoch: Callable[[StepContext, int], Mapping[str, float]],
    params: LoopParams,
    *,
    validate: Callable[[], Mapping[str, float]] | None = None,
    monitor: str = "val_ndcg@10",
    mode: str = "max",
    on_epoch: EpochCallback | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    device: torch.device | None = None,
) -> TrainingResult:
    """Run ``train_epoch`` for up to ``params.epochs``, validating and keeping the best weights.

    ``module`` must already be on ``device`` (models build their tensors there); ``validate``
    scores the module as it is now (call ``module.eval()`` inside, training mode is restored).
    Without ``validate`` (or if ``monitor`` is missing from its output) the best epoch is the one
    with the lowest ``loss``. The best state is restored into ``module`` before returning.
    """
    if params.epochs < 1:
        raise ValueError(f"training: epochs must be >= 1, got {params.epochs}")
    if mode not in ("max", "min"):
        raise ValueError(f"training: mode must be 'max' or 'min', got {mode!r}")
    device = device or pick_device(params.device)
    rng = np.random.default_rng(params.seed)
    start = time.perf_counter()
    deadline = start + params.time_budget_s if params.time_budget_s else None
    ctx = StepContext(device, params.mixed_precision, rng, deadline)
    history: list[dict[str, float]] = []
    best_state = cpu_state(module)
    best_metric = math.nan
    best_epoch, bad, stopped, stopped_by = 0, 0, False, ""
    with deterministic(params.deterministic and device.type == "cpu", params.threads or None):
        for epoch in range(1, params.epochs + 1):
            t0 = time.perf_counter()
            module.train()
            metrics: dict[str, float] = {"epoch": float(epoch)}
            metrics.update({k: float(v) for k, v in train_epoch(ctx, epoch).items()})
            metrics["epoch_time_s"] = time.perf_counter() - t0
            key = "loss"
            if validate is not None and (epoch % max(1, params.eval_every) == 0 or epoch == params.epochs):
                module.eval()
                with torch.no_grad():
                    metrics.update({k: float(v) for k, v in validate().items()})
                module.train()
            if validate is not None and monitor in metrics:
                key = monitor
            elif validate is not None:
                key = ""  # not a validation epoch: no decision
            if key:
                value = metrics.get(key, math.nan)
                maximise = mode == "max" and key != "loss"
                better = best_epoch == 0 or (value > best_metric if maximise else value < best_metric)
                if better and math.isfinite(value):
                    best_metric, best_epoch, bad = value, epoch, 0
                    best_state = cpu_state(module)
                    if checkpoint_path is not None:
                        save_checkpoint(best_state, checkpoint_path)
                else:
                    bad += 1
            metrics["best_epoch"] = float(best_epoch)
            history.append(metrics)
            if on_epoch is not None:
                on_epoch(epoch, dict(metrics))
            if params.patience and bad >= params.patience:
                stopped, stopped_by = True, "patience"
                break
            if ctx.out_of_time() and epoch < params.epochs:
                stopped, stopped_by = True, "time budget"
                break
    module.load_state_dict(best_state)
    return TrainingResult(
        best_state=best_state,
        history=history,
        best_epoch=best_epoch,
        best_metric=float(best_metric),
        monitor=monitor if validate is not None else "loss",
        device=str(device),
        wall_time_s=time.perf_counter() - start,
        stopped_early=stopped,
        epochs_run=len(history),
        stopped_by=stopped_by,
    )


def clone_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deep copy of a state_dict (so callers can keep one while a model trains on)."""
    return copy.deepcopy(dict(state))


def ranking_metrics(
    scores: np.ndarray,
    targets: list[np.ndarray],
    candidates: np.ndarray | None = None,
    k: int = 10,
    exclude: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """Mean NDCG@k and recall@k after masking non-candidate (and ``exclude``) items.

    The in-loop yardstick for early stopping; it delegates to ``core/recsys/evaluation.py`` so the
    figures match the report's definitions.
    """
    from assoc_pipeline.core.recsys.metrics import mean_metrics_at_k

    s = np.asarray(scores, dtype=np.float32)
    if candidates is not None:  # masked in a copy (the caller's scores are kept), then in place
        s = s.copy()
        s[:, ~np.asarray(candidates, dtype=bool)] = -np.inf
    means = mean_metrics_at_k(s, targets, k, exclude=exclude, owned=candidates is not None)
    return {f"ndcg@{k}": means["ndcg"], f"recall@{k}": means["recall"]}


VALIDATION_CELLS = 1 << 26  # rows x items an in-loop validation scores at once (256 MB float32)


def batched_ranking_metrics(
    score: Callable[[int, int], np.ndarray],
    n_rows: int,
    n_items: int,
    targets: list[np.ndarray],
    candidates: np.ndarray | None = None,
    k: int = 10,
    exclude: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """:func:`ranking_metrics` of ``score(start, stop)`` (rows start..stop) in blocks of at most
    :data:`VALIDATION_CELLS` cells: the validation users of a 100k-item catalogue never become one
    dense matrix (plus its copies and ranking). One block (every catalogue up to ~15k items x 4k
    users) is exactly ``ranking_metrics``; more blocks: the same means, as size-weighted means."""
    block = max(1, VALIDATION_CELLS // max(n_items, 1))
    if n_rows <= block:
        return ranking_metrics(score(0, n_rows), targets, candidates, k, exclude)
    sums: dict[str, float] = {}
    for s in range(0, n_rows, block):
        e = min(n_rows, s + block)
        part = ranking_metrics(
            score(s, e), targets[s:e], candidates, k, None if exclude is None else exclude[s:e]
        )
        for key, value in part.items():
            sums[key] = sums.get(key, 0.0) + value * (e - s)
    return {key: value / n_rows for key, value in sums.items()}


def next_basket_validation(
    model: Any, train: Any, validation: Any, who: str
) -> Callable[[], dict[str, float]]:
    """``validate()`` for :func:`train_loop`: next-basket NDCG/recall@10 of ``model`` on the users
    of ``validation`` with history in ``train`` (early stopping of the CF and sequence models)."""
    from assoc_pipeline.core.recsys.tasks import validation_next_basket

    task = validation_next_basket(train, validation)
    if len(task) == 0:
        raise ValueError(f"{who}: validation has no users with training history; cannot early-stop")

    def validate() -> dict[str, float]:
        m = batched_ranking_metrics(
            lambda s, e: model.score_next_basket(task.user_ids[s:e]),
            len(task),
            task.n_items,
            task.targets,
            task.candidates,
            k=10,
        )
        return {f"val_{k}": v for k, v in m.items()}

    return validate
