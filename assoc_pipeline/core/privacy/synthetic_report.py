"""The whole judgement of a synthetic basket set in one flat dict: fidelity beside its ceiling,
privacy beside the real-vs-real rate, and (given a later real period) the "more associations" test.

Why the ceiling: at a given holdout size even real baskets do not match held-out real baskets
perfectly (pair correlation ~0.85, rule Jaccard ~0.4 on Online Retail). Each fidelity figure is
therefore also computed for the real training baskets against the same holdout, by the same code;
``*_ceiling`` is that figure and ``*_of_ceiling`` the synthetic one as a share of it.
"""

from __future__ import annotations

import numpy as np

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.privacy.more_associations import more_associations
from assoc_pipeline.core.privacy.synthetic_quality import (
    fidelity_report,
    membership_inference_auc,
    privacy_report,
)
from assoc_pipeline.core.thread_lanes import thread_lanes

FIDELITY_KEYS = (
    "item_freq_pearson",
    "item_freq_spearman",
    "pair_corr",
    "pair_corr_spearman",
    "pair_corr_union",
    "rules_jaccard",
    "rules_real_found",
    "rules_synthetic_real",
    "two_sample_auc",
)
RATIO_KEYS = ("pair_corr", "rules_jaccard", "rules_real_found")


def fidelity_ceiling(
    train_real: BasketSet, holdout_real: BasketSet, *, seed: int = 0, probe: bool = True
) -> dict[str, float]:
    """The real training baskets scored as if they were synthetic: the best a generator can show."""
    return fidelity_report(holdout_real, train_real, probe=probe, seed=seed)


def synthetic_data_report(
    synthetic: BasketSet,
    train_real: BasketSet,
    holdout_real: BasketSet,
    test_real: BasketSet | None = None,
    *,
    seed: int = 0,
    probe: bool = True,
    ceiling: dict[str, float] | None = None,
) -> dict[str, float]:
    """``fidelity/*`` (with ``_ceiling``, ``_of_ceiling``), ``privacy/*``, ``associations/*`` (test_real).

    ``train_real``: the baskets the generator was fitted on (draw as many synthetic baskets, so
    both sides of every comparison have the same sampling noise); ``holdout_real``: real baskets
    it neither trained on nor chose epochs on. ``ceiling``: :func:`fidelity_ceiling` of the same
    two sets, when several generators are scored against them (it is the slow half).
    """
    halves = [lambda: fidelity_report(holdout_real, synthetic, probe=probe, seed=seed)]
    if ceiling is None:  # the two halves share nothing: side by side on threads, the same figures
        halves.append(lambda: fidelity_ceiling(train_real, holdout_real, seed=seed, probe=probe))
    with thread_lanes(len(halves)) as run:
        fid, *rest = run(lambda half: half(), halves)
    ceil = ceiling if ceiling is not None else rest[0]
    out: dict[str, float] = {}
    for key in FIDELITY_KEYS:
        if key in fid:
            out[f"fidelity/{key}"] = float(fid[key])
            out[f"fidelity/{key}_ceiling"] = float(ceil[key])
    for key in RATIO_KEYS:
        c = ceil[key]
        out[f"fidelity/{key}_of_ceiling"] = float(fid[key] / c) if c and np.isfinite(c) else float("nan")
    out["fidelity/rules_real"] = float(fid["rules_real"])
    out["fidelity/rules_synthetic"] = float(fid["rules_synthetic"])
    out["fidelity/rules_train_real"] = float(ceil["rules_synthetic"])
    out["fidelity/n_synthetic"] = float(synthetic.n_baskets)
    out["fidelity/n_holdout"] = float(holdout_real.n_baskets)
    priv = privacy_report(synthetic, train_real, holdout_real, seed=seed)
    out.update({f"privacy/{k}": float(v) for k, v in priv.items()})
    out["privacy/membership_auc"] = membership_inference_auc(synthetic, train_real, holdout_real, seed=seed)
    if test_real is not None:
        assoc = more_associations(train_real, synthetic, test_real)
        out.update({f"associations/{k}": float(v) for k, v in assoc.items()})
    return out


def report_markdown(report: dict[str, float]) -> str:
    """The report as markdown tables (asset metadata, README, benchmarks/RESULTS.md)."""
    lines = ["| fidelity (vs held-out real) | synthetic | real-vs-real ceiling |", "|---|---|---|"]
    for key in FIDELITY_KEYS:
        if f"fidelity/{key}" in report:
            lines.append(
                f"| {key} | {report[f'fidelity/{key}']:.3f} | {report[f'fidelity/{key}_ceiling']:.3f} |"
            )
    lines += ["", "| privacy | synthetic | real holdout |", "|---|---|---|"]
    pairs = [
        ("exact copies of a training basket", "exact_match_share", "holdout_exact_match_share"),
        ("median distance to closest training basket", "dcr_synthetic_median", "dcr_holdout_median"),
    ]
    for label, syn, real in pairs:
        if f"privacy/{syn}" in report:
            lines.append(f"| {label} | {report[f'privacy/{syn}']:.3f} | {report[f'privacy/{real}']:.3f} |")
    if "privacy/membership_auc" in report:
        lines.append(
            f"| membership-inference AUC (0.5 = none) | {report['privacy/membership_auc']:.3f} | 0.5 |"
        )
    if "associations/real_rules" in report:
        lines += [
            "",
            "| rules (mined on real train) | count | share holding in the later real period [95% CI] |",
            "|---|---|---|",
        ]
        for name, label in (
            ("real", "real only"),
            ("synthetic_extra", "extra with real + synthetic"),
            ("lowered_support_extra", "extra with real only at half the support"),
        ):
            a = f"associations/{name}"
            lines.append(
                f"| {label} | {report[f'{a}_rules']:.0f} | {report[f'{a}_hold_share']:.3f} "
                f"[{report[f'{a}_hold_share_lo']:.3f}, {report[f'{a}_hold_share_hi']:.3f}] |"
            )
    return "\n".join(lines)
