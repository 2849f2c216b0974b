"""The pretrained text model: loads with the network off, and the description cache is hit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from assoc_pipeline.core.content.embeddings import DIM, EmbeddingCache, embed_texts, load_encoder, text_key

NAMES = ["WHITE HANGING HEART T-LIGHT HOLDER", "RED HANGING HEART T-LIGHT HOLDER", "JUMBO BAG RED RETROSPOT"]

NO_NETWORK = textwrap.dedent(
    """
    import json, socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from assoc_pipeline.core.content.embeddings import load_encoder

    vectors = load_encoder(device="cpu")(json.loads(sys.argv[1]))
    print(json.dumps({"shape": list(vectors.shape), "sims": (vectors @ vectors.T).tolist()}))
    """
)


def test_model_loads_and_embeds_with_the_network_off() -> None:
    """A fresh interpreter whose sockets all refuse to connect, HF offline flags not preset."""
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    out = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, json.dumps(NAMES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    sims = np.array(result["sims"])
    assert result["shape"] == [3, DIM]
    assert np.allclose(np.diag(sims), 1.0, atol=1e-4)  # unit vectors
    assert sims[0, 1] > 0.8 and sims[0, 2] < 0.5  # same product in another colour vs another product


@pytest.fixture(scope="module")
def counting_encoder():
    """The real encoder, loaded once, counting how often it is asked to load and what it embeds."""
    encoder = load_encoder(device="cpu")
    calls = {"loads": 0, "texts": 0}

    def factory():
        calls["loads"] += 1

        def encode(texts: list[str]) -> np.ndarray:
            calls["texts"] += len(texts)
            return encoder(texts)

        return encode

    return factory, calls


def test_cache_hit_recomputes_nothing_and_a_changed_description_only_itself(counting_encoder, tmp_path: Path):
    factory, calls = counting_encoder
    cache = EmbeddingCache(tmp_path / "cache.parquet")
    first, stats = embed_texts(NAMES, cache, factory)
    assert (stats.computed, stats.cached, stats.model_loaded) == (3, 0, True)
    assert calls == {"loads": 1, "texts": 3}
    again, stats = embed_texts(NAMES, cache, factory)
    assert (stats.computed, stats.cached, stats.model_loaded) == (0, 3, False)
    assert calls == {"loads": 1, "texts": 3}  # the model was not even loaded
    assert np.array_equal(first, again)
    changed = [*NAMES[:2], "JUMBO BAG PINK POLKADOT"]
    third, stats = embed_texts(changed, cache, factory)
    assert (stats.computed, stats.cached) == (1, 2) and calls == {"loads": 2, "texts": 4}
    assert np.array_equal(third[:2], first[:2])
    # whitespace does not change the key; the model does
    assert text_key(" WHITE  HANGING HEART T-LIGHT HOLDER") == text_key(NAMES[0])
    assert text_key(NAMES[0], model_id="another/model") != text_key(NAMES[0])


def test_a_long_run_logs_progress_and_a_stopped_run_resumes_from_the_cache(
    counting_encoder, tmp_path: Path, monkeypatch
):
    """Chunks of 2: a progress line per chunk; the encoder dies on the second chunk after the
    first was saved, and the next run embeds only what is still missing (same vectors)."""
    import assoc_pipeline.core.content.embeddings as embeddings

    factory, calls = counting_encoder
    names = [*NAMES, "JUMBO BAG PINK POLKADOT", "REGENCY CAKESTAND 3 TIER"]
    monkeypatch.setattr(embeddings, "SAVE_EVERY_S", 0.0)
    cache = EmbeddingCache(tmp_path / "cache.parquet")

    def dies_on_second_chunk():
        encode, asked = factory(), []

        def encode_or_die(texts: list[str]) -> np.ndarray:
            asked.append(len(texts))
            if len(asked) == 2:
                raise KeyboardInterrupt("stopped by the user")
            return encode(texts)

        return encode_or_die

    with pytest.raises(KeyboardInterrupt):
        embed_texts(names, cache, dies_on_second_chunk, chunk=2)
    assert len(cache.load()) == 2  # the first chunk survived the stop

    lines: list[str] = []
    before = calls["texts"]
    vectors, stats = embed_texts(names, cache, factory, log=lines.append, chunk=2)
    assert (stats.computed, stats.cached) == (3, 2) and calls["texts"] - before == 3
    assert lines[0] == "embedding 3 new descriptions (2 cached)"
    assert lines[1].startswith("embedded 2 / 3 descriptions (") and lines[1].endswith(" s left)")
    assert len(lines) == 2  # no line for the last chunk: the asset logs the total
    one_call, _ = embed_texts(names, EmbeddingCache(tmp_path / "fresh.parquet"), factory)
    assert np.allclose(vectors, one_call, atol=1e-5)
