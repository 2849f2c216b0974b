"""Generator and discriminator of the basket GAN (plain MLPs: Opacus computes per-sample gradients
for ``nn.Linear``, and a first linear layer over a multi-hot basket is already a DeepSets sum of item
embeddings, so the discriminator is set-aware; its second layer sees pairs through the nonlinearity)."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """``forward(z, log_size, seed)`` -> (B, n_items) item logits for baskets built around ``seed``.

    Conditional generation from a seed item: ``logits = MLP(z, log size, seed embedding) +
    affinity[seed]``. The affinity table (one row of item logits per seed item) starts at the
    pointwise mutual information of the pair supports, so the first basket drawn is already
    "items bought with the seed"; training then reshapes it jointly with the MLP.
    """

    def __init__(
        self, n_items: int, noise_dim: int, hidden: int, seed_dim: int = 32, pull_temperature: float = 0.0
    ) -> None:
        super().__init__()
        self.pull_temperature = pull_temperature
        self.seed_embedding = nn.Embedding(n_items, seed_dim)
        self.affinity = nn.Embedding(n_items, n_items)
        nn.init.zeros_(self.affinity.weight)
        self.net = nn.Sequential(
            nn.Linear(noise_dim + 1 + seed_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, n_items),
        )

    def forward(self, z: torch.Tensor, log_size: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, log_size.unsqueeze(-1), self.seed_embedding(seed)], dim=-1)
        return self.net(h) + self.affinity(seed)

    def coupled(
        self, logits: torch.Tensor, basket: torch.Tensor, sizes: torch.Tensor, strength: float
    ) -> torch.Tensor:
        """Logits of a refinement draw: ``logits + strength * pull``, the pull of an item being the
        log-mean-exp at ``pull_temperature`` (0: the plain mean) of the basket's affinity rows.

        Why: the seed's row alone ties items to the seed, but an item that is not the seed (most of
        them) pulls nothing along; this pass lets every drawn item raise its partners. The plain
        mean divides a partner's pull by the basket's size, so in a 20-item basket a strong partner
        of one drawn item barely moves; the log-mean-exp (between the mean and the max) lets it
        through, which is what an item-to-item rule's confidence needs."""
        weight = self.affinity.weight  # on the module's device; sampling keeps logits on the CPU
        drawn = basket.to(weight)
        size = sizes.to(weight).clamp_min(1).unsqueeze(-1)
        tau = self.pull_temperature
        if tau > 0:  # shifted by each column's largest affinity so exp cannot overflow
            top = weight.detach().amax(0)
            mean_exp = (drawn @ torch.exp((weight - top) / tau)) / size
            pull = tau * torch.log(mean_exp.clamp_min(1e-30)) + top
        else:
            pull = (drawn @ weight) / size
        return logits + strength * pull.to(logits)


class Discriminator(nn.Module):
    """Multi-hot basket -> one logit (real vs generated)."""

    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_items, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class BasketGAN(nn.Module):
    """Generator + discriminator in one module so one state_dict holds both."""

    def __init__(
        self, n_items: int, noise_dim: int, hidden: int, disc_hidden: int, pull_temperature: float = 0.0
    ) -> None:
        super().__init__()
        self.generator = Generator(n_items, noise_dim, hidden, pull_temperature=pull_temperature)
        self.discriminator = Discriminator(n_items, disc_hidden)
        self.noise_dim = noise_dim
        self.n_items = n_items

    def forward(self, z: torch.Tensor, log_size: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
        """Generator logits (the part mlflow serves); sampling adds Gumbel noise and top-k."""
        return self.generator(z, log_size, seed)
