"""The ranking-list cache hands out exactly the rows a fresh build makes, in the order asked for,
builds only the users it lacks, and never lets a caller write into what it keeps."""

from __future__ import annotations

import numpy as np
import pytest

from assoc_pipeline.core.recsys import ranking_list_cache
from assoc_pipeline.core.recsys.candidates import CandidateSettings, prediction_day
from assoc_pipeline.core.recsys.ranking_features import prediction_times, scoring_lists, training_lists
from assoc_pipeline.core.recsys.ranking_lists import RankingLists
from assoc_pipeline_tests.models.test_ranker import cyclic_baskets

SETTINGS = CandidateSettings(n_neighbours=5, n_trending=3)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(ranking_list_cache, "KEEP_FROM_USERS", 1)  # the small fixtures' calls are kept
    ranking_list_cache.clear()
    yield
    ranking_list_cache.clear()


def same_lists(a: RankingLists, b: RankingLists) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f))
        for f in ("features", "items", "indptr", "labels", "user_ids", "at_days")
    )


def test_a_later_call_reuses_some_users_and_builds_the_rest_identically():
    bs = cyclic_baskets(n_users=40, n_baskets=12)
    users = sorted(set(bs.baskets["user_id"].astype(str)))
    day = prediction_day(bs)
    first = scoring_lists(bs, users[:25], day, SETTINGS)
    asked = [users[30], users[3], "nobody", users[10], *users[26:30]]  # old, new, unknown, reordered
    cached = scoring_lists(bs, asked, day, SETTINGS)
    ranking_list_cache.clear()
    fresh = scoring_lists(bs, asked, day, SETTINGS)
    assert same_lists(cached, fresh)
    assert list(cached.user_ids) == asked
    assert same_lists(first.take(np.arange(3)), scoring_lists(bs, users[:3], day, SETTINGS))


def test_training_lists_are_the_same_with_and_without_the_cache():
    """The refit's situation: lists at the same prediction times from a longer log."""
    bs = cyclic_baskets(n_users=30, n_baskets=16)
    short = bs.subset(np.arange(bs.n_baskets * 3 // 4))
    training_lists(short, candidates=SETTINGS)
    warm = training_lists(bs, candidates=SETTINGS)
    ranking_list_cache.clear()
    assert same_lists(warm, training_lists(bs, candidates=SETTINGS))


def test_kept_lists_are_read_only_and_answers_are_copies():
    bs = cyclic_baskets(n_users=10, n_baskets=8)
    users = sorted(set(bs.baskets["user_id"].astype(str)))
    answer = scoring_lists(bs, users, prediction_day(bs), SETTINGS)
    answer.features[:] = -1.0  # a caller may write into its answer...
    again = scoring_lists(bs, users, prediction_day(bs), SETTINGS)
    assert (again.features != -1.0).any()  # ...without touching what the cache keeps
    (entry,) = ranking_list_cache._RECENT.values()
    assert not entry.lists.features.flags.writeable


def test_the_cache_forgets_the_oldest_lists_beyond_its_budget(monkeypatch):
    bs = cyclic_baskets(n_users=10, n_baskets=8)
    users = sorted(set(bs.baskets["user_id"].astype(str)))
    one = scoring_lists(bs, users, prediction_day(bs), SETTINGS)
    monkeypatch.setattr(ranking_list_cache, "CACHE_BYTES", one.nbytes + 1)
    scoring_lists(bs, users, prediction_day(bs), CandidateSettings(n_neighbours=4, n_trending=3))
    assert len(ranking_list_cache._RECENT) == 1  # the first settings' lists went


def test_training_lists_built_side_by_side_are_the_same_lists_in_the_same_order():
    bs = cyclic_baskets(n_users=30, n_baskets=16)
    one = training_lists(bs, candidates=SETTINGS)
    ranking_list_cache.clear()
    assert same_lists(training_lists(bs, candidates=SETTINGS, workers=3), one)


def test_the_history_key_follows_content_and_is_kept_on_the_basket_set():
    bs = cyclic_baskets(n_users=10, n_baskets=8)
    key = ranking_list_cache.history_key(bs)
    same = bs.subset(np.arange(bs.n_baskets))  # another object, the same baskets
    assert ranking_list_cache.history_key(same) == key
    assert ranking_list_cache.history_key(bs.subset(np.arange(bs.n_baskets - 1))) != key
    assert bs.__dict__[ranking_list_cache._KEY_ATTRIBUTE] == key  # a served request does not rehash


def test_a_small_request_reads_kept_lists_but_adds_none(monkeypatch):
    bs = cyclic_baskets(n_users=40, n_baskets=12)
    users = sorted(set(bs.baskets["user_id"].astype(str)))
    day = prediction_day(bs)
    monkeypatch.setattr(ranking_list_cache, "KEEP_FROM_USERS", 10)
    scoring_lists(bs, users[:20], day, SETTINGS)  # a batch: kept
    (entry,) = ranking_list_cache._RECENT.values()
    served = scoring_lists(bs, [users[30], users[2]], day, SETTINGS)  # one new user, one kept
    assert list(ranking_list_cache._RECENT.values()) == [entry]  # nothing added
    ranking_list_cache.clear()
    assert same_lists(served, scoring_lists(bs, [users[30], users[2]], day, SETTINGS))


def test_a_cap_on_training_lists_samples_users_per_time_and_keeps_their_rows():
    """``max_lists``: each prediction time keeps at most its even share of lists, a seeded sample
    of its users whose rows are exactly the uncapped ones; a cap above the count changes nothing."""
    bs = cyclic_baskets(n_users=40, n_baskets=12)
    times = prediction_times(bs)
    assert len(times) == 3
    full = training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False)
    per_time = {t: int((full.at_days == t).sum()) for t in times}
    assert min(per_time.values()) > 6  # the cap below bites at every time
    assert same_lists(
        full, training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False, max_lists=10**6)
    )
    capped = training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False, max_lists=17, seed=3)
    assert [int((capped.at_days == t).sum()) for t in times] == [6, 6, 6]  # ceil(17 / 3)
    key = {(u, d): i for i, (u, d) in enumerate(zip(full.user_ids, full.at_days, strict=True))}
    at = [key[(u, d)] for u, d in zip(capped.user_ids, capped.at_days, strict=True)]
    assert same_lists(capped, full.take(np.asarray(at)))
    again = training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False, max_lists=17, seed=3)
    assert same_lists(capped, again)
    other = training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False, max_lists=17, seed=4)
    assert list(other.user_ids) != list(capped.user_ids)
    # a smaller share samples a subset of a larger one's users at each time (the refit's lists,
    # under a cap shared by more prediction times, are in the cache the fit filled)
    smaller = training_lists(bs, times, candidates=SETTINGS, drop_without_positive=False, max_lists=9, seed=3)
    assert [int((smaller.at_days == t).sum()) for t in times] == [3, 3, 3]
    assert set(zip(smaller.user_ids, smaller.at_days, strict=True)) < set(
        zip(capped.user_ids, capped.at_days, strict=True)
    )


def test_a_users_rows_are_the_same_built_alone_or_with_everyone():
    """Pair and user statistics are read from the batch's own users' baskets and item statistics
    from everyone's (kept per history and day): a user's rows do not depend on the batch."""
    bs = cyclic_baskets(n_users=30, n_baskets=12)
    users = sorted(set(bs.baskets["user_id"].astype(str)))
    day = prediction_day(bs)
    together = scoring_lists(bs, users, day, SETTINGS)
    for i in (0, 7, 29):
        ranking_list_cache.clear()
        alone = scoring_lists(bs, [users[i]], day, SETTINGS)
        assert same_lists(alone, together.take(np.array([i])))
