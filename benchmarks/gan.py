"""The basket-GAN study on the shipped data; writes its section of benchmarks/RESULTS.md.

    nice python benchmarks/gan.py [--seeds 0 1 2] [--epsilons 1 3 10] [--quick] [--set coupling=0]

Protocol (issue 17, issue 12 item 3): the GAN learns from the train period (before the validation
cutoff) only, split at random into fit / epoch-choice / holdout baskets
(``core/recsys/models/gan/protocol.py``). Every generator draws as many baskets as the fit part
holds and is scored against the holdout by ``synthetic_data_report``, beside the ceiling (the
fit baskets themselves, scored the same way). The "more associations" test checks rules in the
later test period. Rows:

* the demo's default GAN (MMD pretraining + adversary at 0.2) and the same without the adversary
  (MMD only), over ``--seeds``: is the adversary worth it?
* non-adversarial references: independent items, a co-occurrence Markov chain, and the GAN's
  initialisation alone (0 training steps) — what training adds;
* DP at each ``--epsilons`` (delta 1e-5) beside the non-private model.

Time: the default fit's wall time is printed beside the machine's load average (the CPU is
shared; one torch thread, as the asset runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HEADER = "# GAN benchmark"
SHOWN = [
    ("item r", "fidelity/item_freq_pearson"),
    ("item rho", "fidelity/item_freq_spearman"),
    ("pair r", "fidelity/pair_corr"),
    ("pair r / ceiling", "fidelity/pair_corr_of_ceiling"),
    ("pair r (union)", "fidelity/pair_corr_union"),
    ("rule Jaccard", "fidelity/rules_jaccard"),
    ("real rules found", "fidelity/rules_real_found"),
    ("synthetic rules real", "fidelity/rules_synthetic_real"),
    ("MLP AUC", "fidelity/two_sample_auc"),
    ("exact copies", "privacy/exact_match_share"),
    ("DCR median", "privacy/dcr_synthetic_median"),
    ("MIA AUC", "privacy/membership_auc"),
]


def head_row() -> str:
    return (
        "| generator | " + " | ".join(h for h, _ in SHOWN) + " | note |\n" + "|---" * (len(SHOWN) + 2) + "|"
    )


def _row(name: str, rep: dict[str, float], extra: str = "") -> str:
    cells = " | ".join(f"{rep[k]:.3f}" if k in rep else "" for _, k in SHOWN)
    return f"| {name} | {cells} | {extra} |"


def _ceiling_row(ceil: dict[str, float], hold_copies: float, hold_dcr: float) -> str:
    vals = {f"fidelity/{k}": v for k, v in ceil.items()}
    vals["fidelity/pair_corr"] = ceil["pair_corr"]
    vals["fidelity/pair_corr_of_ceiling"] = 1.0
    vals["privacy/exact_match_share"] = hold_copies
    vals["privacy/dcr_synthetic_median"] = hold_dcr
    vals["privacy/membership_auc"] = 0.5
    return _row("real fit baskets vs holdout (ceiling)", vals, "")


def _assoc_row(name: str, rep: dict[str, float]) -> str:
    a = "associations/"
    return (
        f"| {name} | {rep[a + 'real_rules']:.0f} | {rep[a + 'synthetic_extra_rules']:.0f} | "
        f"{rep[a + 'synthetic_extra_hold_share']:.3f} [{rep[a + 'synthetic_extra_hold_share_lo']:.3f}, "
        f"{rep[a + 'synthetic_extra_hold_share_hi']:.3f}] | {rep[a + 'lowered_support_extra_rules']:.0f} | "
        f"{rep[a + 'lowered_support_extra_hold_share']:.3f} "
        f"[{rep[a + 'lowered_support_extra_hold_share_lo']:.3f}, "
        f"{rep[a + 'lowered_support_extra_hold_share_hi']:.3f}] | {rep[a + 'real_hold_share']:.3f} | "
        f"{rep[a + 'real_rules_lost_with_synthetic']:.0f} |"
    )


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f}" if values else ""
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from assoc_pipeline.core.data.baskets_from_file import load_baskets
    from assoc_pipeline.core.privacy.synthetic_report import fidelity_ceiling, synthetic_data_report
    from assoc_pipeline.core.recsys.models.gan import CooccurrenceChain, GANParams, IndependentItems
    from assoc_pipeline.core.recsys.models.gan.protocol import fit_gan_on_train_period
    from assoc_pipeline.core.recsys.split import temporal_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "data" / "sample" / "online_retail.csv.gz")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    ap.add_argument("--quick", action="store_true", help="one seed, 2 epochs, eps 10 only (a smoke run)")
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument(
        "--dp-only",
        action="store_true",
        help="only the DP rows (DP-SGD GAN and DP MMD-only at each --epsilons); prints them",
    )
    ap.add_argument("--timing", action="store_true", help="only time the demo's default fit (wall and CPU)")
    ap.add_argument(
        "--longer",
        type=int,
        default=0,
        help="only fit the seed-0 GAN for this many epochs (adversary from half-way) and print its row",
    )
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="PARAM=VALUE",
        help="override GANParams defaults for every GAN row, e.g. --set coupling=0 max_basket_size=64",
    )
    args = ap.parse_args()
    base = dataclasses.replace(GANParams(device="cpu", threads=1), **_overrides(args.set))
    if args.quick:
        args.seeds, args.epsilons = args.seeds[:1], [10.0]
        base = dataclasses.replace(base, epochs=2, pretrain_epochs=1)

    t0 = time.perf_counter()
    baskets, _ = load_baskets(args.data)
    split = temporal_split(baskets)
    train_period, test = split.train, split.test
    print(
        f"data: {baskets.n_baskets} baskets, {baskets.n_items} items; train period {train_period.n_baskets}, "
        f"test period {test.n_baskets} ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )

    if args.timing:
        _timing(train_period, base)
        return
    if args.dp_only:
        rows, assoc = [], []
        for eps in args.epsilons:
            for name, weight in (("GAN (DP-SGD adversary)", base.adversarial_weight), ("MMD only", 0.0)):
                params = dataclasses.replace(base, dp=True, dp_epsilon=eps, adversarial_weight=weight)
                t = time.perf_counter()
                model, parts = fit_gan_on_train_period(train_period, params)
                fit = train_period.subset(parts.fit_rows)
                syn = model.sample_basket_set(fit.n_baskets, seed=1000)
                rep = synthetic_data_report(syn, fit, train_period.subset(parts.holdout_rows), test, seed=0)
                rep.update(model.privacy_spent())
                label = f"{name}, DP epsilon {eps:g}"
                rows.append(
                    _row(
                        label,
                        rep,
                        f"epsilon spent {rep['dp/epsilon']:.2f}, fit {time.perf_counter() - t:.0f} s",
                    )
                )
                assoc.append(_assoc_row(label, rep))
                print(rows[-1], flush=True)
        print("\n".join([head_row(), *rows, "", *assoc]))
        return
    if args.longer:
        params = dataclasses.replace(base, epochs=args.longer, pretrain_epochs=args.longer // 2)
        t = time.perf_counter()
        model, parts = fit_gan_on_train_period(train_period, params)
        fit = train_period.subset(parts.fit_rows)
        syn = model.sample_basket_set(fit.n_baskets, seed=1000)
        rep = synthetic_data_report(syn, fit, train_period.subset(parts.holdout_rows), test, seed=0)
        print(head_row())
        print(
            _row(
                f"GAN, {args.longer} epochs (adversary from {params.pretrain_epochs + 1}), seed 0",
                rep,
                f"fit {time.perf_counter() - t:.0f} s, best epoch {model.result.best_epoch}",
            )
        )
        print(_assoc_row(f"GAN, {args.longer} epochs", rep))
        return
    results: dict[str, dict[str, float]] = {}
    fit_seconds: dict[str, float] = {}
    loads: dict[str, float] = {}

    def gan(name: str, params: GANParams):
        t = time.perf_counter()
        load = os.getloadavg()[0]
        model, parts = fit_gan_on_train_period(train_period, params)
        fit_seconds[name], loads[name] = time.perf_counter() - t, load
        print(
            f"{name}: fit {fit_seconds[name]:.1f} s (load {load:.1f}), best epoch {model.result.best_epoch}",
            flush=True,
        )
        return model, parts

    # the ceiling and the parts are the same for every seed-0 generator; other seeds re-split
    ceilings: dict[int, tuple] = {}

    def score(name: str, sampler, parts, seed: int) -> dict[str, float]:
        fit = train_period.subset(parts.fit_rows)
        holdout = train_period.subset(parts.holdout_rows)
        if seed not in ceilings:
            ceilings[seed] = (fidelity_ceiling(fit, holdout, seed=seed), fit, holdout)
        ceil = ceilings[seed][0]
        t = time.perf_counter()
        syn = sampler.sample_basket_set(fit.n_baskets, seed=1000 + seed)
        rep = synthetic_data_report(syn, fit, holdout, test, seed=seed, ceiling=ceil)
        if hasattr(sampler, "privacy_spent"):
            rep.update(sampler.privacy_spent())
        results[name] = rep
        print(
            f"  {name}: pair r {rep['fidelity/pair_corr']:.3f} "
            f"(ceiling {rep['fidelity/pair_corr_ceiling']:.3f}), "
            f"item r {rep['fidelity/item_freq_pearson']:.3f}, rules J {rep['fidelity/rules_jaccard']:.3f}, "
            f"AUC {rep['fidelity/two_sample_auc']:.3f} ({time.perf_counter() - t:.0f} s)",
            flush=True,
        )
        return rep

    for seed in args.seeds:
        for variant, weight in (("GAN (MMD + adversary 0.2)", base.adversarial_weight), ("MMD only", 0.0)):
            params = dataclasses.replace(base, seed=seed, adversarial_weight=weight)
            model, parts = gan(f"{variant}, seed {seed}", params)
            score(f"{variant}, seed {seed}", model, parts, seed)
    seed0 = args.seeds[0]
    frozen = dataclasses.replace(base, seed=seed0, epochs=1, pretrain_epochs=1, lr=0.0, affinity_lr=0.0)
    untrained = "GAN initialisation + calibration only (learning rate 0)"  # the rounds run after any fit
    init_model, parts0 = gan(untrained, frozen)
    score(untrained, init_model, parts0, seed0)
    fit0 = train_period.subset(parts0.fit_rows)
    score("independent items", IndependentItems().fit(fit0), parts0, seed0)
    score("co-occurrence Markov chain", CooccurrenceChain().fit(fit0), parts0, seed0)
    for eps in args.epsilons:
        name = f"GAN, DP epsilon {eps:g}"
        model, parts = gan(name, dataclasses.replace(base, seed=seed0, dp=True, dp_epsilon=eps))
        score(name, model, parts, seed0)

    # ------------------------------------------------------------------ write
    ceil0 = ceilings[seed0][0]
    any0 = results[f"GAN (MMD + adversary 0.2), seed {seed0}"]
    head, sep = head_row().split("\n")
    lines = [
        HEADER,
        "",
        f"`nice python benchmarks/gan.py{' --quick' if args.quick else ''}"
        f"{' --set ' + ' '.join(args.set) if args.set else ''}` on {os.cpu_count()} cores "
        f"({platform.machine()}), Python {platform.python_version()}, torch {torch.__version__}, "
        f"{datetime.now():%Y-%m-%d %H:%M}; total {time.perf_counter() - t0:.0f} s.",
        "",
        f"Shipped Online Retail, train period (< {split.validation_cutoff.date()}) only: "
        f"{len(parts0.fit_rows)} fit / {len(parts0.epoch_choice_rows)} epoch-choice / "
        f"{len(parts0.holdout_rows)} holdout baskets (random, seed {seed0}); each generator draws "
        f"{len(parts0.fit_rows)} baskets. Pair r: Pearson of pair supports over the holdout's top "
        "1,000 pairs ('union' adds the generator's own top 1,000). Rules: item-to-item, support 0.5%, "
        "confidence 0.5 (the rules asset's thresholds). MLP AUC: 4-fold two-sample probe (0.5 = "
        "indistinguishable). Exact copies: share of generated baskets identical to a fit basket; DCR: "
        "median Jaccard distance to the closest fit basket; MIA AUC: distance-to-closest-synthetic "
        "membership attack, fit vs holdout baskets (0.5 = no leakage). Basket sizes are resampled from "
        "real baskets by every generator here (the non-private GAN takes a real basket's modelled and "
        "tail item counts together), so size fidelity is not reported.",
        "",
        "## Fidelity and privacy, every generator (seed 0 split)",
        "",
        head,
        sep,
        _ceiling_row(ceil0, any0["privacy/holdout_exact_match_share"], any0["privacy/dcr_holdout_median"]),
    ]
    for name, rep in results.items():
        if name.endswith(f"seed {seed0}") or "seed" not in name:
            note = f"fit {fit_seconds[name]:.0f} s (load {loads[name]:.1f})" if name in fit_seconds else ""
            if "dp/epsilon" in rep:
                note += f"; epsilon spent {rep['dp/epsilon']:.2f} at delta {rep['dp/delta']:g}"
            lines.append(_row(name, rep, note))
    lines += [
        "",
        f"## Adversary vs MMD only, {len(args.seeds)} seeds (mean ± sd; each seed its own split)",
        "",
        "| figure | GAN (MMD + adversary 0.2) | MMD only | paired difference (GAN - MMD) |",
        "|---|---|---|---|",
    ]
    for label, key in SHOWN:
        g = [results[f"GAN (MMD + adversary 0.2), seed {s}"][key] for s in args.seeds]
        m = [results[f"MMD only, seed {s}"][key] for s in args.seeds]
        lines.append(
            f"| {label} | {_mean_sd(g)} | {_mean_sd(m)} | "
            f"{_mean_sd([a - b for a, b in zip(g, m, strict=True)])} |"
        )
    lines += [
        "",
        "## Differential privacy (seed 0; delta 1e-5; DP-SGD on the discriminator + Gaussian releases "
        "of the MMD moments, size histogram and tail supports, one RDP accountant)",
        "",
        "| model | epsilon spent | pair r | pair r / ceiling | item r | rule Jaccard | MLP AUC "
        "| exact copies |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rep in results.items():
        if name.startswith("GAN, DP") or name == f"GAN (MMD + adversary 0.2), seed {seed0}":
            eps = f"{rep['dp/epsilon']:.2f}" if "dp/epsilon" in rep else "∞ (non-private)"
            lines.append(
                f"| {name} | {eps} | {rep['fidelity/pair_corr']:.3f} | "
                f"{rep['fidelity/pair_corr_of_ceiling']:.3f} | "
                f"{rep['fidelity/item_freq_pearson']:.3f} | {rep['fidelity/rules_jaccard']:.3f} | "
                f"{rep['fidelity/two_sample_auc']:.3f} | {rep['privacy/exact_match_share']:.3f} |"
            )
    lines += [
        "",
        f"## More associations? Rules mined on the fit baskets alone vs fit + synthetic; checked in the "
        f"test period (>= {split.test_cutoff.date()}, {test.n_baskets} baskets): a rule holds if its "
        "confidence there is >= 0.5 and lift >= 1. [95% Wilson interval]",
        "",
        "| generator | real rules | extra rules with synthetic | of which hold | extra rules at half "
        "the support (real only) | of which hold | real rules that hold | real rules lost with synthetic |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rep in results.items():
        if name.endswith(f"seed {seed0}") or "seed" not in name:
            lines.append(_assoc_row(name, rep))
    section = "\n".join(lines) + "\n"
    from results_sections import write_section  # this script's directory (opacus owns "benchmarks")

    write_section(args.output, HEADER, section.split("\n", 1)[1])
    if args.json:
        args.json.write_text(
            json.dumps({"results": results, "fit_seconds": fit_seconds, "loads": loads}, indent=1)
        )
    print(section)


def _overrides(pairs: list[str]) -> dict[str, object]:
    """``--set`` values, typed like the GANParams field they replace."""
    from assoc_pipeline.core.recsys.models.gan import GANParams

    fields = {f.name: type(getattr(GANParams(), f.name)) for f in dataclasses.fields(GANParams)}
    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            sys.exit(f"gan.py: --set {pair}: no GANParams field {key!r}")
        kind = fields[key]
        out[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def _timing(train_period, params) -> None:
    """Wall and CPU seconds of the default fit. On a shared machine the wall time includes waiting
    for the CPU; the process CPU time (one torch thread) is what the fit costs an idle core."""
    from assoc_pipeline.core.recsys.models.gan.protocol import fit_gan_on_train_period

    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    model, _ = fit_gan_on_train_period(train_period, params)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"default GAN fit ({params.epochs} epochs, {model.result.epochs_run} run): wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s (one thread), load average {load:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
