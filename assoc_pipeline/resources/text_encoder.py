"""The pretrained text encoder behind a resource: where its cache lives and which device it uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import dagster as dg
import numpy as np

from assoc_pipeline.core.content.embeddings import EmbeddingCache, EmbeddingStats, embed_texts, load_encoder


class TextEncoderResource(dg.ConfigurableResource):
    """all-MiniLM-L6-v2 from site-packages (offline), with a description-hash cache on disk."""

    cache_path: str
    device: str = "auto"  # auto = CUDA when present, else CPU
    batch_size: int = 64  # short product names: small batches pad less (2x faster than 256 here)

    def embed(
        self, texts: Sequence[str], log: Callable[[str], None] | None = None
    ) -> tuple[np.ndarray, EmbeddingStats]:
        factory = partial(load_encoder, device=self.device, batch_size=self.batch_size)
        return embed_texts(list(texts), EmbeddingCache(self.cache_path), factory, log=log)
