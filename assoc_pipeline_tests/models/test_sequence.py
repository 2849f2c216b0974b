"""The GRU next-basket model learns, exploits basket order, is reproducible and reloads exactly."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_events
from assoc_pipeline.core.recsys.baselines.popularity import PopularityRecommender
from assoc_pipeline.core.recsys.baselines.top_frequency import PersonalTopFrequencyRecommender
from assoc_pipeline.core.recsys.models.checkpoint_files import load_model, save_model
from assoc_pipeline.core.recsys.models.sequence import (
    SequenceParams,
    SequenceRecommender,
    basket_sequences,
    training_windows,
)
from assoc_pipeline.core.recsys.split import temporal_split
from assoc_pipeline.core.recsys.tasks import next_basket_task
from assoc_pipeline_tests.models.test_models import _cp, _nb

SEQ = dict(epochs=15, patience=5, dim=32, hidden=64, batch_size=64, lr=5e-3, device="cpu", threads=1)

N_ITEMS = 40
TRIGGERS = range(5)  # item k in a basket => item k + 5 in the user's next basket, and only then


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sequential_baskets(n_users: int = 150, n_baskets: int = 12, seed: int = 0) -> BasketSet:
    """Users re-buy 4 favourites (each in half of their baskets); a trigger item (0..4, in 40% of
    baskets) is always followed by its follow-up item (trigger + 5) in the next basket.

    A follow-up is bought about as often as a trigger, so personal counts cannot tell *when* it is
    due; only the order of the baskets can.
    """
    rng = np.random.default_rng(seed)
    rows, start = [], pd.Timestamp("2024-01-01")
    for u in range(n_users):
        favs = rng.choice(np.arange(10, N_ITEMS), 4, replace=False)
        prev = None
        for b, day in enumerate(np.sort(rng.uniform(0, 200, n_baskets))):
            items = set(favs[rng.random(4) < 0.5].tolist())
            if prev is not None:
                items.add(prev + 5)
            prev = None
            if rng.random() < 0.4:
                prev = int(rng.integers(5))
                items.add(prev)
            if rng.random() < 0.3 or not items:
                items.add(int(rng.integers(10, N_ITEMS)))
            t = start + pd.Timedelta(days=float(day))
            rows += [(t, f"u{u}-b{b}", f"u{u}", f"I{it:02d}", "GB") for it in items]
    ev = pd.DataFrame(rows, columns=["event_time", "basket_id", "user_id", "item_id", "country"])
    ev["item_name"] = ev["item_id"]
    ev["user_id"] = ev["user_id"].astype("string")
    return basket_set_from_events(ev)


@pytest.fixture(scope="module")
def seq(planted_split) -> SequenceRecommender:
    # early stopping on validation; the test period is only read by the assertions
    model = SequenceRecommender(SequenceParams(**SEQ)).fit(planted_split.train, planted_split.validation)
    return model.with_history(planted_split.train_full)


@pytest.fixture(scope="module")
def pop(planted_split) -> PopularityRecommender:
    return PopularityRecommender().fit(planted_split.train_full)


@pytest.fixture(scope="module")
def ptf(planted_split) -> PersonalTopFrequencyRecommender:
    return PersonalTopFrequencyRecommender().fit(planted_split.train_full)


def test_sequence_learns_and_beats_popularity(seq, pop, ptf, planted_split) -> None:
    losses = [h["loss"] for h in seq.result.history]
    assert losses[-1] < 0.9 * losses[0]
    assert seq.result.monitor == "val_ndcg@10" and seq.result.best_epoch >= 1
    nb = _nb(seq, planted_split)
    assert nb > _nb(pop, planted_split) + 0.1
    # the repeat prior keeps it level with personal top-frequency on repeat-only data
    assert nb > 0.95 * _nb(ptf, planted_split)
    assert 0.0 < _cp(seq, planted_split) <= 1.0
    assert seq.name == "sequence_gru" and seq.warm_start is None
    assert seq.item_ids == planted_split.train_full.vocabulary["item_id"].astype(str).tolist()


def test_sequence_exploits_basket_order_where_top_frequency_cannot() -> None:
    bs = sequential_baskets()
    split = temporal_split(bs, "2024-05-20", "2024-06-19")
    params = SequenceParams(**{**SEQ, "epochs": 20, "lr": 1e-2})
    model = SequenceRecommender(params).fit(split.train, split.validation)
    model.with_history(split.train_full)
    # queries: users whose latest basket holds a trigger; the follow-up item is due next
    s = basket_sequences(split.train_full)
    users, follow = [], []
    for i, u in enumerate(s.user_ids):
        last = s.indptr[i + 1] - 1
        items = s.items[s.basket_indptr[last] : s.basket_indptr[last + 1]]
        trig = [int(x) for x in items if x in TRIGGERS]
        if trig:
            users.append(u)
            follow.append(trig[0] + 5)
    assert len(users) >= 30

    def ranks(scores: np.ndarray) -> np.ndarray:
        return np.array([(scores[i] > scores[i, f]).sum() for i, f in enumerate(follow)])

    r_seq = ranks(model.score_next_basket(users))
    r_tf = ranks(PersonalTopFrequencyRecommender().fit(split.train_full).score_next_basket(users))
    assert (r_seq < 5).mean() >= 0.8  # figures: seq hit@5 0.95, mean rank 1.8
    assert (r_tf < 5).mean() <= 0.2  # top-frequency: hit@5 0.03, mean rank 16.0
    assert r_seq.mean() < 0.3 * r_tf.mean()


def test_same_seed_same_scores_and_checkpoint_round_trip(seq, planted_split, tmp_path) -> None:
    users = list(next_basket_task(planted_split.train_full, planted_split.test).user_ids)
    scores = seq.score_next_basket(users)
    save_model(seq, tmp_path / "seq.pt")
    loaded = load_model(tmp_path / "seq.pt")
    assert isinstance(loaded, SequenceRecommender) and loaded.item_ids == seq.item_ids
    np.testing.assert_array_equal(loaded.score_next_basket(users), scores)
    parts = [np.array([0, 1]), np.array([24])]
    np.testing.assert_array_equal(loaded.score_completion(parts), seq.score_completion(parts))
    seq.save(tmp_path / "seq_weights_only.pt")  # Checkpointable: loads with weights_only=True
    np.testing.assert_array_equal(
        SequenceRecommender.load(tmp_path / "seq_weights_only.pt").score_next_basket(users), scores
    )
    # a second fit with the same seed gives bit-identical weights and scores (CPU, one thread)
    params = SequenceParams(**{**SEQ, "epochs": 2})
    a = SequenceRecommender(params).fit(planted_split.train)
    b = SequenceRecommender(params).fit(planted_split.train)
    for k, v in a.module.state_dict().items():
        assert torch.equal(v, b.module.state_dict()[k]), k
    np.testing.assert_array_equal(a.score_next_basket(users), b.score_next_basket(users))
    # the mlflow input example (one tensor) runs through the plain module forward, same scores
    x = loaded.input_example()
    assert isinstance(x, torch.Tensor) and x.dim() == 3
    with torch.no_grad():
        out = loaded.module.eval()(x).numpy()
    assert out.shape == (len(x), planted_split.train.n_items)
    np.testing.assert_allclose(out, loaded.score_next_basket(list(loaded.user_index[: len(x)])), atol=1e-4)


def test_with_history_replaces_the_scored_sequences(seq, planted_split) -> None:
    model = copy.deepcopy(seq)
    users = list(next_basket_task(planted_split.train_full, planted_split.test).user_ids)
    full = model.score_next_basket(users)
    model.with_history(planted_split.train)  # fewer baskets per user: different scores
    assert not np.allclose(model.score_next_basket(users), full)
    model.with_history(planted_split.train_full)
    np.testing.assert_array_equal(model.score_next_basket(users), full)
    # unknown users get the learned item bias (popularity-like)
    unknown = model.score_next_basket(["nobody"])
    np.testing.assert_array_equal(unknown[0], model.module.bias.detach().numpy())
    assert model.score_next_basket([]).shape == (0, model.n_items)
    assert model.score_completion([]).shape == (0, model.n_items)


def test_sequences_windows_and_guards(planted) -> None:
    # anonymous baskets are skipped; each user's baskets come in time order, truncated at the tail
    bs = planted.subset(np.arange(planted.n_baskets))
    bs.baskets.loc[:9, "user_id"] = pd.NA
    s = basket_sequences(bs, max_baskets=4)
    assert s.lengths.max() == 4 and s.lengths.sum() <= bs.n_baskets - 10
    assert all(np.all(np.diff(s.days[s.indptr[i] : s.indptr[i + 1]]) >= 0) for i in range(len(s.lengths)))
    # windows of max_baskets + 1 overlapping by one: every basket after a user's first is a target once
    full = basket_sequences(planted)
    starts, lengths = training_windows(full, 3)
    assert lengths.max() == 4
    targets = np.concatenate([np.arange(a + 1, a + n) for a, n in zip(starts, lengths, strict=True)])
    np.testing.assert_array_equal(
        np.sort(targets), np.setdiff1d(np.arange(full.indptr[-1]), full.indptr[:-1])
    )
    with pytest.raises(ValueError, match="warm start"):
        SequenceRecommender(SequenceParams(**SEQ)).fit(planted, init_from=object())


def test_scoring_after_the_last_basket_equals_the_running_stacks(seq) -> None:
    """score_last reads whole-window totals instead of running sums: the same logits, bit for bit,
    with padded windows of mixed lengths, fractional days and items bought in several baskets."""
    seqs = seq.sequences
    users = np.arange(min(len(seqs.lengths), 40))
    items, days = seqs.batch(seqs.indptr[users], seqs.lengths[users])
    lengths = torch.as_tensor(seqs.lengths[users])
    assert len(set(lengths.tolist())) > 1 and bool((days.frac() != 0).any())
    module = seq.module.eval()
    with torch.no_grad():
        fast = module.score_last(items, days, lengths)
        running = module.logits_at(items, days, torch.arange(len(users)), lengths.long() - 1)[0]
    torch.testing.assert_close(fast, running, rtol=0, atol=0)
