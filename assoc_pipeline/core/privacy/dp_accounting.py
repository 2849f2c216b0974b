"""Differential-privacy accounting for the basket GAN (Opacus' RDP accountant).

What touches real baskets in the GAN, and how each is made private:

* three one-off releases with the Gaussian mechanism (sample rate 1): the weighted item counts,
  the weighted pair counts of the modelled items and the basket-size histogram — the generator's
  MMD target and its size / long-tail sampling distributions;
* the discriminator, trained with DP-SGD (Opacus: per-sample clipping + Gaussian noise, Poisson
  sampling of real baskets).

Everything else (the generator's updates, epoch choice against the released moments, sampling)
is post-processing. The RDP accountant composes all of it into one epsilon at a stated delta.
Neighbouring datasets differ by adding or removing one basket (Opacus' convention); the number of
baskets and the item catalogue (the vocabulary) are treated as public, as Opacus treats the dataset
size when it sets the sample rate. The unit is a basket, not a customer: a customer with k baskets
in the training data is protected at about k * epsilon (group privacy).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass


def epsilon_spent(
    delta: float,
    release_noise: float | None,
    n_releases: int,
    sgd_noise: float | None = None,
    sample_rate: float = 0.0,
    steps: int = 0,
) -> float:
    """Epsilon of ``n_releases`` Gaussian releases (noise multiplier ``release_noise``) composed with
    ``steps`` DP-SGD steps (``sgd_noise`` at Poisson ``sample_rate``)."""
    # opacus is imported here, not at module level: it pulls in torch.distributed and sympy
    # (seconds), and every process that loads the Dagster definitions imported it for nothing
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    if release_noise and n_releases:
        acc.history.append((float(release_noise), 1.0, int(n_releases)))
    if sgd_noise and steps:
        acc.history.append((float(sgd_noise), float(sample_rate), int(steps)))
    if not acc.history:
        return 0.0
    with warnings.catch_warnings():  # "optimal order is the largest alpha": the bound is still valid
        warnings.simplefilter("ignore", UserWarning)
        return float(acc.get_epsilon(delta))


def _noise_for(eps_of_sigma, target: float, lo: float = 0.05, hi: float = 5000.0) -> float:
    """Smallest noise multiplier (bisection in log space) whose epsilon is <= target."""
    if eps_of_sigma(hi) > target:
        raise ValueError(f"dp: epsilon {target} is out of reach even with noise multiplier {hi}")
    while hi / lo > 1.002:  # ~20 halvings; 0.2% of the noise is far below what epsilon can resolve
        mid = (lo * hi) ** 0.5
        if eps_of_sigma(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class DPPlan:
    """Noise multipliers that spend ``target_epsilon`` at ``delta`` over the whole training."""

    target_epsilon: float
    delta: float
    release_noise: float
    n_releases: int
    sgd_noise: float | None
    sample_rate: float
    steps: int

    def epsilon(self, steps_run: int | None = None) -> float:
        """Epsilon actually spent after ``steps_run`` DP-SGD steps (default: all planned)."""
        steps = self.steps if steps_run is None else steps_run
        return epsilon_spent(
            self.delta, self.release_noise, self.n_releases, self.sgd_noise, self.sample_rate, steps
        )

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) if v is not None else float("nan") for k, v in asdict(self).items()}


def plan_noise(
    target_epsilon: float,
    delta: float,
    *,
    n_releases: int,
    sample_rate: float,
    steps: int,
    release_share: float = 0.5,
) -> DPPlan:
    """Split ``target_epsilon``: the releases alone spend ``release_share`` of it, DP-SGD the rest
    (composed by RDP, so the total is exactly the target). ``steps = 0``: releases only."""
    if target_epsilon <= 0 or not 0 < delta < 1:
        raise ValueError(f"dp: need epsilon > 0 and 0 < delta < 1, got {target_epsilon}, {delta}")
    if steps and not 0 < release_share < 1:
        raise ValueError(f"dp: release_share must be in (0, 1), got {release_share}")
    share = release_share if steps else 1.0
    release = _noise_for(lambda s: epsilon_spent(delta, s, n_releases), share * target_epsilon)
    sgd = None
    if steps:
        sgd = _noise_for(
            lambda s: epsilon_spent(delta, release, n_releases, s, sample_rate, steps), target_epsilon
        )
    return DPPlan(target_epsilon, delta, release, n_releases, sgd, sample_rate, steps)
