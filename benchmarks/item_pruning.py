"""What item pruning (``min_item_baskets``) costs and saves, on validation only.

    python benchmarks/item_pruning.py [--thresholds 1 5 20 50] [--epochs 8]

The shipped Online Retail year, cleaned, split at the protocol's cutoffs. For each threshold and
each of CF and the DNN: the items kept (bought in at least that many training baskets), the fit
time for a fixed number of epochs (no time budget: under one, the epochs done depend on the
machine's load and the comparison would too), and the validation figures a candidate is chosen on
(next-basket NDCG@10, completion hit@10) with pruned items scored last, i.e. counted as misses.
The test period is not touched.
"""

from __future__ import annotations

import argparse
import time

from assoc_pipeline.core.data.baskets import basket_set_from_events
from assoc_pipeline.core.data.cleaning import clean_events
from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.recsys.baseline_tuning import model_validation, validation_tasks
from assoc_pipeline.core.recsys.item_pruning import ItemPruning
from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.settings import project_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", type=int, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--epochs", type=int, default=8, help="epochs per fit (early stopping on)")
    parser.add_argument("--models", nargs="+", default=["cf", "dnn"])
    args = parser.parse_args()
    events, _ = clean_events(read_events(project_root() / "data" / "sample" / "online_retail.csv.gz"))
    split = temporal_split(basket_set_from_events(events), "2011-06-01", "2011-09-01")
    tasks = validation_tasks(split)
    ids = split.baskets.vocabulary["item_id"].astype(str).tolist()
    print(f"{split.train.n_baskets:,} training baskets, {split.baskets.n_items:,} items")
    header = [
        "model",
        "min_item_baskets",
        "items kept",
        "fit s",
        "val next-basket NDCG@10",
        "val completion hit@10",
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---|---|---|---|---|")
    for name in args.models:
        kind = MODEL_TYPES[name]
        for threshold in args.thresholds:
            params = kind.default_params(time_budget_s=0.0, epochs=args.epochs, min_item_baskets=threshold)
            pruning = ItemPruning.of(split.train, threshold)
            train = pruning.baskets(split.train) if pruning else split.train
            validation = pruning.baskets(split.validation) if pruning else split.validation
            t0 = time.perf_counter()
            model = kind.recommender(params).fit(train, validation)
            seconds = time.perf_counter() - t0
            model = pruning.wrap(model, ids) if pruning else model
            scores = model_validation(model, tasks)
            kept = len(pruning.kept) if pruning else split.baskets.n_items
            print(
                f"| {name} | {threshold} | {kept:,} | {seconds:.0f} | {scores['next_basket']:.4f} "
                f"| {scores['completion']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
