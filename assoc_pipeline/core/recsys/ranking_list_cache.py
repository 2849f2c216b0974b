"""Recently built ranking lists, kept per user and keyed by content: the ranker asks for the same
lists several times in one run.

Why: the fit builds training lists at each month start before the validation cutoff, and the refit
on train_full builds them again at those month starts from the very same baskets (it only adds
the users whose next basket falls after the cutoff); the validation lists are built once for
early stopping and again for the trained model's validation figures. Building them was a third of
the demo's ranker. A user's list and feature rows depend only on the history, the prediction day,
the settings and that user (the features read the whole history, but no other user's list), so a
later call takes the users it shares with an earlier one and builds only the others: the same
rows, to the bit.

Entries are read-only and every answer is a copy; the oldest go once the cache holds more than
:data:`CACHE_BYTES`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from assoc_pipeline.core.data.baskets import BasketSet
from assoc_pipeline.core.recsys.ranking_lists import RankingLists
from assoc_pipeline.core.recsys.tasks import basket_times_ns

# 1.5 GB: the demo ranker's lists of one phase (~13 prediction times) fit with room to spare, and
# so do the 40k capped training lists of a 20k-user log (~1.2 GB), which its refit reads again
CACHE_BYTES = 3 << 29
# calls for fewer users (a served request) read kept lists but add none: a server answering one new
# user at a time would otherwise copy an ever larger entry on every request
KEEP_FROM_USERS = 64


@dataclass(frozen=True)
class _Entry:
    lists: RankingLists
    users: pd.Index  # the user id of each list, unique


_RECENT: OrderedDict[Hashable, _Entry] = OrderedDict()
_KEY_ATTRIBUTE = "_ranking_list_history_key"
_LOCK = threading.Lock()


def history_key(history: BasketSet) -> str:
    """What the lists read of a history: its baskets' items, times and users (not item names).

    Hashing a year of baskets takes ~30 ms, too long for a served request, so the key is kept on
    the (frozen) basket set the first time it is asked for."""
    known = history.__dict__.get(_KEY_ATTRIBUTE)
    if known is not None:
        return known
    m = history.matrix.tocsr()
    h = hashlib.sha1(np.asarray(m.shape, dtype=np.int64).tobytes())
    h.update(m.indptr.astype(np.int64).tobytes())
    h.update(m.indices.astype(np.int64).tobytes())
    h.update(basket_times_ns(history).tobytes())
    users = history.baskets["user_id"]
    h.update("\x1f".join(users.astype(str).where(users.notna(), "\x00")).encode())
    history.__dict__[_KEY_ATTRIBUTE] = key = h.hexdigest()
    return key


def lists_for_users(
    key: Hashable, user_ids: Sequence[str], build: Callable[[list[str]], RankingLists]
) -> RankingLists:
    """The lists of ``user_ids`` (in that order) under ``key``; ``build(users)`` makes those of
    users no earlier call asked for under the same key."""
    wanted = pd.Index([str(u) for u in user_ids], dtype=object)
    if len(wanted) == 0:
        return build([])
    with _LOCK:
        entry = _RECENT.get(key)
    covered = entry is not None and bool((entry.users.get_indexer(wanted) >= 0).all())
    if not covered and len(wanted) < KEEP_FROM_USERS:  # a served request: build, keep nothing
        return build(list(wanted))
    if entry is None:
        fresh = wanted.unique()
        entry = _Entry(_read_only(build(list(fresh))), fresh)
    else:
        fresh = wanted[entry.users.get_indexer(wanted) < 0].unique()
        if len(fresh):
            added = build(list(fresh))
            lists = RankingLists.concat([entry.lists, added], entry.lists.features.shape[1])
            entry = _Entry(_read_only(lists), entry.users.append(fresh))
    with _LOCK:
        _RECENT[key] = entry
        _RECENT.move_to_end(key)
        while len(_RECENT) > 1 and sum(e.lists.nbytes for e in _RECENT.values()) > CACHE_BYTES:
            _RECENT.popitem(last=False)
    return entry.lists.take(entry.users.get_indexer(wanted))


def clear() -> None:
    """Forget every kept list (tests; a long-lived process that wants its memory back)."""
    with _LOCK:
        _RECENT.clear()


def _read_only(lists: RankingLists) -> RankingLists:
    for a in (lists.features, lists.items, lists.indptr, lists.labels, lists.user_ids, lists.at_days):
        a.setflags(write=False)
    return lists
