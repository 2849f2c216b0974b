"""What capping EASE at ``max_items`` (the 100k-catalogue setting) costs, on validation only.

    python benchmarks/ease_cap.py [--caps 0 3000 2000 1000 500] [--l2 200]

The shipped Online Retail year, cleaned, split at the protocol's cutoffs; EASE fitted on the
training part with B restricted to the ``max_items`` items in most training baskets (0 = every
item, the exact EASE), every other item scored by its popularity back-off, and scored on the
validation tasks a candidate is chosen on (next-basket NDCG@10, completion hit@10). Items left out
of B still count as misses when bought. The test period is not touched.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.data.cleaning import clean_events
from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.recsys.baseline_tuning import model_validation, validation_tasks
from assoc_pipeline.core.recsys.baselines import EASERecommender
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.settings import project_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 3000, 2000, 1000, 500])
    parser.add_argument("--l2", type=float, default=200.0)
    args = parser.parse_args()
    events, _ = clean_events(read_events(project_root() / "data" / "sample" / "online_retail.csv.gz"))
    split = temporal_split(basket_set_from_events(events), "2011-06-01", "2011-09-01")
    tasks = validation_tasks(split)
    bought = int((np.asarray(split.train.matrix.getnnz(axis=0)) > 0).sum())
    print(f"{split.train.n_baskets:,} training baskets, {bought:,} of {split.baskets.n_items:,} items bought")
    print("| EASE max_items | fit s | val next-basket NDCG@10 | val completion hit@10 |")
    print("|---|---|---|---|")
    for cap in args.caps:
        t0 = time.perf_counter()
        model = EASERecommender(args.l2, max_items=cap or None).fit(split.train)
        seconds = time.perf_counter() - t0
        scores = model_validation(model, tasks)
        label = f"{cap:,}" if cap else f"all ({bought:,} bought)"
        figures = f"{scores['next_basket']:.4f} | {scores['completion']:.4f}"
        print(f"| {label} | {seconds:.1f} | {figures} |", flush=True)


if __name__ == "__main__":
    main()
