"""Mining: frequent itemsets, association rules and category-level rules, readable in the UI."""

import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.mining import BACKENDS, FrequentItemsets
from assoc_pipeline.core.mining.aggregate import category_rules as mine_category_rules
from assoc_pipeline.core.mining.rule_pipeline import build_rules
from assoc_pipeline.core.plots import rules_network, rules_scatter
from assoc_pipeline.orchestration.images import png_metadata
from assoc_pipeline.orchestration.metadata import preview
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.services.itemsets import ItemsetSettings, mine_or_update

RULE_TABLE_COLUMNS = ["rule", "support", "confidence", "lift", "count"]


class ItemsetConfig(dg.Config):
    """Frequent-itemset mining (arules conventions: inclusive thresholds, integer counts)."""

    min_support: float = 0.005  # fraction of baskets; a value >= 1 is an absolute basket count
    max_len: int = 10
    backend: str = "native"  # native | mlxtend | spark
    incremental: bool = True  # update the stored itemsets from the new baskets when they extend the old
    device: str = "auto"  # native backend: cuda mines on the GPU (docs/mining.md); auto | cpu: the CPU


class RulesConfig(dg.Config):
    """Rule derivation; single-item consequents by default, as arules."""

    min_confidence: float = 0.5
    min_lift: float = 1.0
    max_consequent_len: int = 1
    prune_redundant: bool = True


def _support(value: float) -> float | int:
    return int(value) if value >= 1 else float(value)


@dg.asset(
    group_name="mining",
    owners=["team:merchandising-analytics"],
    kinds={"numpy", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    required_resource_keys={"io_manager"},
    description="Frequent itemsets of the baskets (support counts) with their negative border, by the "
    "configured backend; updated FUP-style from the new baskets when they extend the stored ones.",
)
def frequent_itemsets(
    context: dg.AssetExecutionContext, config: ItemsetConfig, baskets: BasketSet
) -> dg.Output[FrequentItemsets]:
    if config.backend not in BACKENDS:
        raise ValueError(f"frequent_itemsets config backend={config.backend!r}: expected one of {BACKENDS}")
    started = time.perf_counter()
    support = _support(config.min_support)
    settings = ItemsetSettings(support, config.max_len, config.backend, config.incremental, config.device)
    io_manager = getattr(context.resources, "io_manager", None)
    stored = Path(io_manager.stored_path(context.asset_key)) if hasattr(io_manager, "stored_path") else None
    mined = mine_or_update(baskets, settings, stored, log=context.log.warning)
    fi, mode, reason, report = mined.itemsets, mined.mode, mined.reason, mined.incremental
    seconds = time.perf_counter() - started
    context.log.info(f"{mode} mining ({reason}): {len(fi):,} frequent itemsets (min count {fi.min_count})")
    by_len = fi.table["length"].value_counts().sort_index()
    context.log.info(f"{len(fi):,} frequent itemsets (min count {fi.min_count}) in {seconds:.2f} s")
    top = fi.table[fi.table["length"] > 1].nlargest(10, "count").copy()
    names = baskets.item_names()
    top["items"] = [" + ".join(names[list(t)]) for t in top["items"]]
    return dg.Output(
        fi,
        metadata={
            "dagster/row_count": len(fi),
            "min_count": fi.min_count,
            "baskets": fi.n_baskets,
            "backend": config.backend,
            "device": config.device,
            "mode": mode,
            "reason": reason,
            "seconds": round(seconds, 3),
            "border_itemsets": 0 if fi.border is None else len(fi.border),
            **{
                f"incremental_{k}": v
                for k, v in report.items()
                if k in ("counted_in_new", "rescanned", "promoted")
            },
            "counts_by_length": dg.MetadataValue.json({int(k): int(v) for k, v in by_len.items()}),
            "top_multi_item_sets": dg.MetadataValue.md(
                top[["items", "count", "support"]].to_markdown(index=False)
            ),
        },
    )


@dg.asset(
    group_name="mining",
    owners=["team:merchandising-analytics"],
    kinds={"pandas", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Association rules A => B with support, confidence, lift, leverage, conviction, "
    "Zhang's metric, Jaccard, Kulczynski and certainty; redundant rules pruned (arules is.redundant).",
)
def association_rules(
    context: dg.AssetExecutionContext,
    config: RulesConfig,
    frequent_itemsets: FrequentItemsets,
    baskets: BasketSet,
    artifacts: ArtifactStore,
) -> dg.Output[pd.DataFrame]:
    rules, derived = build_rules(
        frequent_itemsets,
        baskets.item_names(),
        config.min_confidence,
        max_consequent_len=config.max_consequent_len or None,
        min_lift=config.min_lift,
        prune_redundant=config.prune_redundant,
    )
    context.log.info(f"{derived:,} rules derived, {len(rules):,} kept after lift/redundancy filters")
    sizes = (rules["antecedent"].map(len) + rules["consequent"].map(len)).value_counts().sort_index()
    return dg.Output(
        rules,
        metadata={
            "dagster/row_count": len(rules),
            "rules_derived": derived,
            "rules_by_length": dg.MetadataValue.json({int(k): int(v) for k, v in sizes.items()}),
            "median_lift": float(np.median(rules["lift"])) if len(rules) else 0.0,
            "top_rules_by_lift": dg.MetadataValue.md(
                rules.head(15)[RULE_TABLE_COLUMNS].round(4).to_markdown(index=False)
            ),
            **png_metadata(
                rules_scatter(rules), artifacts.path("association_rules", "scatter.png"), "scatter"
            ),
            **png_metadata(
                rules_network(rules), artifacts.path("association_rules", "network.png"), "network"
            ),
        },
    )


class CategoryRulesConfig(dg.Config):
    """Rules between embedding clusters (the categories of data without a product hierarchy)."""

    min_support: float = 0.02
    min_confidence: float = 0.5
    max_len: int = 4


@dg.asset(
    group_name="mining",
    owners=["team:analytics"],
    kinds={"python", "parquet"},
    description="Multi-level rules: every basket's products replaced by their description cluster "
    "(from item_embeddings), then mined like item rules — arules' aggregate(). A category rule can "
    "hold where no single product pair is frequent enough.",
)
def category_rules(
    context: dg.AssetExecutionContext,
    config: CategoryRulesConfig,
    baskets: BasketSet,
    item_embeddings: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    labels = item_embeddings.sort_values("item_idx")["cluster_label"].tolist()
    rules = mine_category_rules(
        baskets, labels, config.min_support, config.min_confidence, max_len=config.max_len
    )
    context.log.info(f"category_rules: {len(rules)} rules between {len(set(labels))} clusters")
    return dg.Output(
        rules,
        metadata={
            "dagster/row_count": len(rules),
            "categories": len(set(labels)),
            "top_rules": preview(rules[RULE_TABLE_COLUMNS].head(15)) if len(rules) else "no rules",
        },
    )
