"""Basket GAN: WGAN-GP over multi-hot baskets, for privacy-safe synthetic basket data.

Why this design: a basket is a set of a few items out of thousands, so tabular GANs (one column
per SKU) collapse. Here the generator outputs one logit per item and a basket *size* is drawn
from the real size distribution; the basket is the top-``size`` items of logits + Gumbel noise
(a sample without replacement), made differentiable with a straight-through estimator (hard
multi-hot forward, relaxed softmax gradient backward). The critic scores multi-hot vectors and
is trained with the Wasserstein loss and a gradient penalty (Gulrajani et al. 2017).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.training import (
    Checkpointable,
    EpochCallback,
    LoopParams,
    StepContext,
    TrainingResult,
    pick_device,
    seed_everything,
    train_loop,
)


@dataclass
class GANParams(LoopParams):
    """Hyper-parameters of the basket WGAN-GP (mirrored as Dagster config)."""

    epochs: int = 6  # ~1 min an epoch on 2 CPU cores for Online Retail; fidelity plateaus early
    patience: int = 0  # GAN losses are not a quality signal; keep the epoch with the best fidelity
    noise_dim: int = 64
    hidden: int = 256
    batch_size: int = 128
    lr: float = 5e-4
    n_critic: int = 2  # critic steps per generator step
    gp_weight: float = 10.0
    temperature: float = 0.5  # of the relaxed (backward) basket
    max_basket_size: int = 64  # larger real baskets are subsampled to this many items
    eval_samples: int = 1000  # synthetic baskets drawn per epoch to measure fidelity


class Generator(nn.Module):
    """``forward(z, log_size)`` -> (B, n_items) item logits."""

    def __init__(self, n_items: int, noise_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(noise_dim + 1, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, n_items),
        )

    def forward(self, z: torch.Tensor, log_size: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, log_size.unsqueeze(-1)], dim=-1))


class Critic(nn.Module):
    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_items, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden // 2),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class BasketGAN(nn.Module):
    """Generator + critic in one module so one state_dict holds both."""

    def __init__(self, n_items: int, noise_dim: int, hidden: int) -> None:
        super().__init__()
        self.generator = Generator(n_items, noise_dim, hidden)
        self.critic = Critic(n_items, hidden)
        self.noise_dim = noise_dim
        self.n_items = n_items

    def forward(self, z: torch.Tensor, log_size: torch.Tensor) -> torch.Tensor:
        """Generator logits (the part mlflow serves); sampling adds Gumbel noise and top-k."""
        return self.generator(z, log_size)


def straight_through_topk(logits: torch.Tensor, sizes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hard multi-hot of the top-``sizes`` items of logits + Gumbel noise, relaxed gradient."""
    u = torch.rand_like(logits).clamp(1e-9, 1 - 1e-9)
    g = logits - torch.log(-torch.log(u))
    order = g.argsort(dim=-1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(logits.shape[1], device=logits.device).expand_as(order))
    hard = (ranks < sizes.unsqueeze(-1)).to(logits.dtype)
    soft = (torch.softmax(g / temperature, dim=-1) * sizes.unsqueeze(-1)).clamp(max=1.0)
    return hard + soft - soft.detach()


class BasketGANModel(Checkpointable):
    """Train / sample / save the basket GAN."""

    name = "basket_gan"
    kind = "basket_gan"

    def __init__(self, params: GANParams | None = None) -> None:
        self.params = params or GANParams()
        self.module: BasketGAN | None = None
        self.size_values = np.array([1], dtype=np.int64)  # empirical basket-size distribution
        self.size_probs = np.array([1.0])
        self.vocabulary: pd.DataFrame | None = None
        self.result: TrainingResult | None = None

    def fit(
        self,
        train: BasketSet,
        *,
        on_epoch: EpochCallback | None = None,
        checkpoint_path: str | os.PathLike[str] | None = None,
    ) -> BasketGANModel:
        """Train on all training baskets; keeps the epoch whose samples best match item frequencies."""
        p = self.params
        device = pick_device(p.device)
        seed_everything(p.seed)
        m = train.matrix.tocsr()
        sizes = np.minimum(np.diff(m.indptr), p.max_basket_size)
        rows = np.flatnonzero(sizes > 0)
        if len(rows) < 2:
            raise ValueError("gan: need at least two non-empty training baskets")
        vals, counts = np.unique(sizes[rows], return_counts=True)
        self.size_values, self.size_probs = vals.astype(np.int64), counts / counts.sum()
        self.vocabulary = train.vocabulary.copy()
        n_items = train.n_items
        self.module = BasketGAN(n_items, p.noise_dim, p.hidden).to(device)
        gen, critic = self.module.generator, self.module.critic
        opt_g = torch.optim.Adam(gen.parameters(), lr=p.lr, betas=(0.5, 0.9))
        opt_c = torch.optim.Adam(critic.parameters(), lr=p.lr, betas=(0.5, 0.9))
        rng = np.random.default_rng(p.seed)
        real_freq = np.asarray(m[rows].sum(axis=0)).ravel() / len(rows)

        def real_batch(idx: np.ndarray) -> torch.Tensor:
            x = torch.zeros(len(idx), n_items)
            for r, b in enumerate(idx):
                items = m.indices[m.indptr[b] : m.indptr[b + 1]]
                if len(items) > p.max_basket_size:
                    items = rng.choice(items, p.max_basket_size, replace=False)
                x[r, torch.as_tensor(items, dtype=torch.long)] = 1.0
            return x.to(device)

        def fake_batch(n: int) -> torch.Tensor:
            s = torch.as_tensor(rng.choice(self.size_values, n, p=self.size_probs), device=device)
            z = torch.randn(n, p.noise_dim, device=device)
            return straight_through_topk(gen(z, torch.log(s.float())), s, p.temperature)

        def train_epoch(ctx: StepContext, epoch: int) -> dict[str, float]:
            perm = rng.permutation(rows)
            c_loss, g_loss, n_c, n_g, wdist = 0.0, 0.0, 0, 0, 0.0
            for step, s in enumerate(range(0, len(perm), p.batch_size)):
                real = real_batch(perm[s : s + p.batch_size])
                with torch.no_grad():
                    fake = fake_batch(len(real))
                with ctx.autocast():
                    d_real, d_fake = critic(real).float().mean(), critic(fake).float().mean()
                alpha = torch.rand(len(real), 1, device=device)
                mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
                grad = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)[0]
                gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
                loss_c = d_fake - d_real + p.gp_weight * gp
                c_loss += ctx.optimize(loss_c, opt_c)
                wdist += float((d_real - d_fake).detach())
                n_c += 1
                if (step + 1) % p.n_critic == 0:
                    with ctx.autocast():
                        loss_g = -critic(fake_batch(p.batch_size)).float().mean()
                    g_loss += ctx.optimize(loss_g, opt_g)
                    n_g += 1
            return {
                "loss": c_loss / max(n_c, 1),
                "critic_loss": c_loss / max(n_c, 1),
                "generator_loss": g_loss / max(n_g, 1),
                "wasserstein_estimate": wdist / max(n_c, 1),
            }

        def validate() -> dict[str, float]:
            lists = self.sample(p.eval_samples, seed=p.seed + 1)
            freq = np.zeros(n_items)
            for b in lists:
                freq[b] += 1
            freq /= max(len(lists), 1)
            corr = float(np.corrcoef(freq, real_freq)[0, 1]) if freq.std() > 0 else 0.0
            return {"val_item_freq_pearson": corr}

        self.result = train_loop(
            self.module,
            train_epoch,
            p,
            validate=validate,
            monitor="val_item_freq_pearson",
            on_epoch=on_epoch,
            checkpoint_path=checkpoint_path,
            device=device,
        )
        return self

    def _require(self) -> BasketGAN:
        if self.module is None:
            raise RuntimeError("gan: model is not fitted (call fit or load first)")
        return self.module

    def sample(self, n: int, seed: int = 0, batch: int = 1024) -> list[np.ndarray]:
        """``n`` synthetic baskets (sorted item-index arrays); the same seed gives the same baskets."""
        module = self._require()
        dev = next(module.parameters()).device
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        rng = np.random.default_rng(seed)
        out: list[np.ndarray] = []
        was = module.training
        module.eval()
        with torch.no_grad():
            for s in range(0, n, batch):
                k = min(batch, n - s)
                sizes = rng.choice(self.size_values, k, p=self.size_probs)
                z = torch.randn(k, module.noise_dim, generator=g).to(dev)
                logits = module.generator(
                    z, torch.log(torch.as_tensor(sizes, dtype=torch.float32, device=dev))
                )
                u = torch.rand(logits.shape, generator=g).clamp(1e-9, 1 - 1e-9).to(dev)
                gumbel = (logits.float() - torch.log(-torch.log(u))).cpu().numpy()
                for row, size in zip(gumbel, sizes, strict=True):
                    out.append(np.sort(np.argpartition(-row, size - 1)[:size]).astype(np.int64))
        module.train(was)
        return out

    def sample_basket_set(self, n: int, seed: int = 0) -> BasketSet:
        """Synthetic baskets as a BasketSet on the training vocabulary (anonymous, no timestamps)."""
        lists = self.sample(n, seed)
        vocab = (
            self.vocabulary
            if self.vocabulary is not None
            else pd.DataFrame(
                {"item_idx": np.arange(self._require().n_items), "item_id": "", "item_name": ""}
            )
        )
        n_items = len(vocab)
        indptr = np.zeros(n + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(b) for b in lists])
        indices = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
        matrix = sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n_items))
        baskets = pd.DataFrame(
            {
                "basket_id": [f"syn-{seed}-{i}" for i in range(n)],
                "user_id": pd.array([None] * n, dtype="string"),
                "basket_time": pd.to_datetime(pd.Series([pd.NaT] * n)),
                "country": "",
                "n_items": np.diff(indptr),
            }
        )
        vocabulary = vocab.copy()
        vocabulary["n_baskets"] = np.asarray(matrix.sum(axis=0)).ravel().astype(np.int64)
        return BasketSet(matrix, baskets, vocabulary)

    # ---------------------------------------------------------------- persistence
    def to_checkpoint(self) -> dict[str, Any]:
        module = self._require()
        ckpt: dict[str, Any] = {
            "kind": "basket_gan",
            "params": asdict(self.params),
            "n_items": int(module.n_items),
            "size_values": torch.as_tensor(self.size_values),
            "size_probs": torch.as_tensor(self.size_probs),
            "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        }
        if self.vocabulary is not None:
            ckpt["item_ids"] = [str(x) for x in self.vocabulary["item_id"]]
            ckpt["item_names"] = [str(x) for x in self.vocabulary["item_name"]]
        return ckpt

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], device: str = "cpu") -> BasketGANModel:
        p = GANParams(**ckpt["params"])
        model = cls(p)
        n_items = int(ckpt["n_items"])
        model.module = BasketGAN(n_items, p.noise_dim, p.hidden)
        model.module.load_state_dict(ckpt["state_dict"])
        model.module.to(pick_device(device)).eval()
        model.size_values = ckpt["size_values"].numpy()
        model.size_probs = ckpt["size_probs"].numpy()
        if "item_ids" in ckpt:
            model.vocabulary = pd.DataFrame(
                {"item_idx": np.arange(n_items), "item_id": ckpt["item_ids"], "item_name": ckpt["item_names"]}
            )
        return model

    def input_example(self, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, log_size) valid for ``BasketGAN.forward`` (for mlflow.pytorch.log_model)."""
        module = self._require()
        return torch.zeros(n, module.noise_dim), torch.log(torch.full((n,), float(self.size_values[0])))
