"""Mining layer: frequent itemsets and association rules, readable in the UI."""

import hashlib
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.assets.images import png_metadata
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.mining import BACKENDS, FrequentItemsets, ItemsetExplosion, mine_itemsets
from assoc_pipeline.core.mining.incremental import item_map_for, negative_border, update_itemsets
from assoc_pipeline.core.mining.rule_pipeline import build_rules
from assoc_pipeline.core.plots import rules_network, rules_scatter
from assoc_pipeline.resources.artifacts import ArtifactStore

RULE_TABLE_COLUMNS = ["rule", "support", "confidence", "lift", "count"]


class ItemsetConfig(dg.Config):
    """Frequent-itemset mining (arules conventions: inclusive thresholds, integer counts)."""

    min_support: float = 0.005  # fraction of baskets; a value >= 1 is an absolute basket count
    max_len: int = 10
    backend: str = "native"  # native | mlxtend | spark
    incremental: bool = True  # update the stored itemsets from the new baskets when they extend the old


class RulesConfig(dg.Config):
    """Rule derivation; single-item consequents by default, as arules."""

    min_confidence: float = 0.5
    min_lift: float = 1.0
    max_consequent_len: int = 1
    prune_redundant: bool = True


def _support(value: float) -> float | int:
    return int(value) if value >= 1 else float(value)


def prefix_fingerprint(baskets: BasketSet, n: int) -> str:
    """Content hash of the first ``n`` baskets: their ids, in order, and their items' ids."""
    m = baskets.matrix[:n]
    ids = baskets.vocabulary["item_id"].astype(str).to_numpy()
    h = hashlib.sha256()
    h.update(np.int64(n).tobytes())
    h.update("\x1f".join(baskets.baskets["basket_id"].astype(str).iloc[:n]).encode())
    h.update(np.diff(m.indptr).astype(np.int64).tobytes())
    h.update("\x1f".join(ids[m.indices]).encode())
    return h.hexdigest()[:32]


def _previous_itemsets(
    context: dg.AssetExecutionContext, config: ItemsetConfig, baskets: BasketSet
) -> tuple[FrequentItemsets | None, str]:
    """The stored itemsets when they can be updated incrementally to ``baskets``, else (None, why)."""
    if not config.incremental:
        return None, "incremental updates are switched off (config incremental=false)"
    io_manager = getattr(context.resources, "io_manager", None)
    if not hasattr(io_manager, "stored_path"):
        return None, "the IO manager cannot say where the previous itemsets are stored"
    path = Path(io_manager.stored_path(context.asset_key))
    if not path.exists():
        return None, "no previous itemsets stored"
    from assoc_pipeline.core.tables import read_table

    previous = read_table(path)
    prov = getattr(previous, "provenance", None) or {}
    if not isinstance(previous, FrequentItemsets) or previous.border is None or "prefix" not in prov:
        return None, "the previous itemsets were stored without their negative border"
    wanted = {
        "min_support": _support(config.min_support),
        "max_len": config.max_len,
        "backend": config.backend,
    }
    changed = [f"{k} {prov.get(k)!r} -> {v!r}" for k, v in wanted.items() if prov.get(k) != v]
    if changed:
        return None, "mined with other settings: " + ", ".join(changed)
    n_old = int(prov["n_baskets"])
    if n_old > baskets.n_baskets or prefix_fingerprint(baskets, n_old) != prov["prefix"]:
        return None, f"the current baskets do not extend the previous {n_old:,} baskets (history changed)"
    return previous, f"the current baskets extend the previous {n_old:,}"


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
    previous, why = _previous_itemsets(context, config, baskets)
    fi: FrequentItemsets | None = None
    report: dict = {}
    if previous is not None:
        try:
            item_map = item_map_for(previous.provenance["item_ids"], baskets.vocabulary["item_id"])  # type: ignore[index]
            fi, rep = update_itemsets(
                previous, baskets.matrix, support, item_map=item_map, backend=config.backend
            )
            mode, reason, report = rep.mode, f"{why}; {rep.reason}", rep.as_dict()
        except ItemsetExplosion as exc:
            why = f"incremental update stopped: {exc}"
            fi = None
    if fi is None:
        fi = mine_itemsets(baskets.matrix, support, max_len=config.max_len, backend=config.backend)
        mode, reason = "full", why
        try:
            fi = fi.with_border(negative_border(fi, baskets.matrix))
        except ItemsetExplosion as exc:
            context.log.warning(f"no negative border stored (next run mines in full): {exc}")
    fi = fi.with_border(
        fi.border,
        provenance={
            "min_support": support,
            "max_len": config.max_len,
            "backend": config.backend,
            "n_baskets": baskets.n_baskets,
            "prefix": prefix_fingerprint(baskets, baskets.n_baskets),
            "item_ids": baskets.vocabulary["item_id"].astype(str).tolist(),
        },
    )
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
