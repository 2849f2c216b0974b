"""How the GAN is fitted and judged without grading it on data it saw (issue 12 item 3, issue 17).

The GAN learns from the *train period* only (baskets before the validation cutoff), so the later
periods stay unseen for the utility check and the "more associations" test. Inside the train
period the baskets are split at random (seeded) into three disjoint parts:

* ``fit``: the only baskets the GAN trains on;
* ``epoch_choice``: real baskets the epoch is chosen on (not used under DP: see model.py);
* ``holdout``: real baskets used for nothing but scoring fidelity and privacy afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.models.gan.model import BasketGANModel, GANParams
from assoc_pipeline.core.recsys.models.training import EpochCallback


@dataclass(frozen=True)
class GANDataParts:
    """Disjoint random parts of the train period (row positions into it, sorted)."""

    fit_rows: np.ndarray
    epoch_choice_rows: np.ndarray
    holdout_rows: np.ndarray

    def summary(self) -> dict[str, int]:
        return {
            "n_fit": len(self.fit_rows),
            "n_epoch_choice": len(self.epoch_choice_rows),
            "n_holdout": len(self.holdout_rows),
        }


def gan_data_parts(
    train_period: BasketSet, seed: int = 0, epoch_choice_fraction: float = 0.1, holdout_fraction: float = 0.2
) -> GANDataParts:
    """The same baskets and seed always give the same parts (both GAN assets recompute them)."""
    if not (
        epoch_choice_fraction > 0 and holdout_fraction > 0 and epoch_choice_fraction + holdout_fraction < 1
    ):
        raise ValueError(
            f"gan: epoch_choice_fraction={epoch_choice_fraction} and holdout_fraction={holdout_fraction} "
            "must be positive and sum to less than 1"
        )
    n = train_period.n_baskets
    n_choice, n_hold = round(n * epoch_choice_fraction), round(n * holdout_fraction)
    if min(n_choice, n_hold, n - n_choice - n_hold) < 2:
        raise ValueError(
            f"gan: the train period has {n} baskets, too few to split into fit/epoch-choice/holdout"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return GANDataParts(
        fit_rows=np.sort(perm[n_choice + n_hold :]),
        epoch_choice_rows=np.sort(perm[:n_choice]),
        holdout_rows=np.sort(perm[n_choice : n_choice + n_hold]),
    )


def parts_for(train_period: BasketSet, params: GANParams) -> GANDataParts:
    """The parts a GAN with ``params`` was (or will be) fitted with."""
    return gan_data_parts(train_period, params.seed, params.epoch_choice_fraction, params.holdout_fraction)


def fit_gan_on_train_period(
    train_period: BasketSet, params: GANParams, *, on_epoch: EpochCallback | None = None
) -> tuple[BasketGANModel, GANDataParts]:
    """Fit on the ``fit`` part, choose the epoch on ``epoch_choice``; the holdout stays untouched."""
    parts = parts_for(train_period, params)
    model = BasketGANModel(params).fit(
        train_period.subset(parts.fit_rows),
        train_period.subset(parts.epoch_choice_rows),
        on_epoch=on_epoch,
    )
    return model, parts


def evaluate_gan(
    model: BasketGANModel,
    train_period: BasketSet,
    parts: GANDataParts,
    test_real: BasketSet | None = None,
    *,
    probe: bool = True,
) -> dict[str, float]:
    """Fidelity / privacy report (``synthetic_data_report``) of as many baskets as the fit part
    holds, plus the DP accounting; stored on ``model.evaluation`` and returned."""
    from assoc_pipeline.core.privacy.synthetic_report import synthetic_data_report

    fit = train_period.subset(parts.fit_rows)
    seed = model.params.seed
    synthetic = model.sample_basket_set(fit.n_baskets, seed=seed + 1000)
    report = synthetic_data_report(
        synthetic, fit, train_period.subset(parts.holdout_rows), test_real, seed=seed, probe=probe
    )
    report.update(model.privacy_spent())
    report["fidelity/sizes_resampled_from_real"] = 1.0  # size fidelity is no evidence: see model.py
    model.evaluation = report
    return report
