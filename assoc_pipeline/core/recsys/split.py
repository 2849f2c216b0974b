"""Leakage-free temporal split of the baskets (the tasks scored on it live in ``tasks.py``).

Protocol (issue 4 item 1, issue 5 "default protocol"):

* Baskets are cut by time, never at random, so no model sees the future it is scored on:

  - ``train``       = baskets with ``basket_time <  validation_cutoff`` (fit here while tuning);
  - ``validation``  = baskets with ``validation_cutoff <= basket_time < test_cutoff`` (tune here);
  - ``train_full``  = baskets with ``basket_time <  test_cutoff`` (= train + validation; refit here
    with the tuned hyper-parameters for the final test);
  - ``test``        = baskets with ``basket_time >= test_cutoff`` (touched once, for the report).

  Defaults (set in settings, repeated here for notebooks): validation cutoff 2011-06-01, test
  cutoff 2011-09-01.
* The tasks scored on the split (next basket, completion, cold start): ``tasks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from assoc_pipeline.core.data.baskets import BasketSet

DEFAULT_VALIDATION_CUTOFF = "2011-06-01"
DEFAULT_TEST_CUTOFF = "2011-09-01"


@dataclass(frozen=True)
class BasketSplit:
    """Row positions of each period in ``baskets`` (a contiguous, time-ordered BasketSet)."""

    baskets: BasketSet
    validation_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    train_rows: np.ndarray
    validation_rows: np.ndarray
    train_full_rows: np.ndarray
    test_rows: np.ndarray

    @property
    def train(self) -> BasketSet:
        return self.baskets.subset(self.train_rows)

    @property
    def validation(self) -> BasketSet:
        return self.baskets.subset(self.validation_rows)

    @property
    def train_full(self) -> BasketSet:
        return self.baskets.subset(self.train_full_rows)

    @property
    def test(self) -> BasketSet:
        return self.baskets.subset(self.test_rows)

    def summary(self) -> dict[str, int | str]:
        """Sizes per period, for asset metadata and logs."""
        return {
            "validation_cutoff": str(self.validation_cutoff.date()),
            "test_cutoff": str(self.test_cutoff.date()),
            "n_train": len(self.train_rows),
            "n_validation": len(self.validation_rows),
            "n_train_full": len(self.train_full_rows),
            "n_test": len(self.test_rows),
        }


def temporal_split(
    bs: BasketSet,
    validation_cutoff: str | pd.Timestamp = DEFAULT_VALIDATION_CUTOFF,
    test_cutoff: str | pd.Timestamp = DEFAULT_TEST_CUTOFF,
) -> BasketSplit:
    """Split baskets by ``basket_time`` at two cutoffs (see the module docstring)."""
    val_cut, test_cut = (
        _timestamp(validation_cutoff, "validation_cutoff"),
        _timestamp(test_cutoff, "test_cutoff"),
    )
    if not val_cut < test_cut:
        raise ValueError(f"temporal_split: validation_cutoff {val_cut} must be before test_cutoff {test_cut}")
    times = pd.to_datetime(bs.baskets["basket_time"])
    if times.isna().any():
        raise ValueError(f"temporal_split: {int(times.isna().sum())} baskets have no basket_time")
    if times.dt.tz is not None:  # compare like with like: naive cutoffs are read in the data's zone
        val_cut = val_cut.tz_localize(times.dt.tz) if val_cut.tzinfo is None else val_cut
        test_cut = test_cut.tz_localize(times.dt.tz) if test_cut.tzinfo is None else test_cut
    before_val = (times < val_cut).to_numpy()
    before_test = (times < test_cut).to_numpy()
    split = BasketSplit(
        baskets=bs,
        validation_cutoff=val_cut,
        test_cutoff=test_cut,
        train_rows=np.flatnonzero(before_val),
        validation_rows=np.flatnonzero(~before_val & before_test),
        train_full_rows=np.flatnonzero(before_test),
        test_rows=np.flatnonzero(~before_test),
    )
    for name in ("train_rows", "test_rows"):
        if len(getattr(split, name)) == 0:
            raise ValueError(
                f"temporal_split: the {name[:-5]} period is empty "
                f"(data spans {times.min()} .. {times.max()}, cutoffs {val_cut.date()} / {test_cut.date()})"
            )
    return split


def _timestamp(value: str | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"temporal_split: {name}={value!r} is not a date") from exc
    if ts is pd.NaT:
        raise ValueError(f"temporal_split: {name} is missing")
    return ts


def split_record(split: BasketSplit) -> dict:
    """The persisted form of a split (the ``split`` asset): cutoffs plus sizes, a few bytes of JSON.

    The row positions are not stored: :func:`split_from_record` recomputes them from the baskets
    in milliseconds (one comparison of ``basket_time`` against two dates), and the sizes stored
    here guard against pairing the record with baskets it was not made from.
    """
    users = split.baskets.baskets["user_id"]
    return {
        **split.summary(),
        "n_baskets": int(split.baskets.n_baskets),
        "users_train": int(users.iloc[split.train_rows].nunique()),
        "users_validation": int(users.iloc[split.validation_rows].nunique()),
        "users_train_full": int(users.iloc[split.train_full_rows].nunique()),
        "users_test": int(users.iloc[split.test_rows].nunique()),
    }


def split_from_record(bs: BasketSet, record: dict) -> BasketSplit:
    """Rebuild the :class:`BasketSplit` the ``split`` asset describes, on the same ``baskets``.

    Raises ``ValueError`` when ``bs`` is not the basket set the record was made from (sizes differ:
    ``baskets`` was re-materialized after ``split``; materialize ``split`` again).
    """
    split = temporal_split(bs, record["validation_cutoff"], record["test_cutoff"])
    for key in ("n_baskets", "n_train", "n_validation", "n_test"):
        if key not in record:
            continue
        now = bs.n_baskets if key == "n_baskets" else len(getattr(split, key[2:] + "_rows"))
        if int(record[key]) != now:
            raise ValueError(
                f"split: the stored split has {key}={record[key]} but the current baskets give {now}; "
                "baskets changed since the split was materialized: materialize `split` again"
            )
    return split


def resolve_cutoffs(
    bs: BasketSet,
    validation_cutoff: str | pd.Timestamp = DEFAULT_VALIDATION_CUTOFF,
    test_cutoff: str | pd.Timestamp = DEFAULT_TEST_CUTOFF,
    *,
    auto: bool = True,
    quantiles: tuple[float, float] = (0.7, 0.85),
) -> tuple[str, str, str]:
    """(validation cutoff, test cutoff, how they were chosen) for ``bs``.

    The configured dates are used when every period gets baskets. Otherwise (data from another
    time span than the protocol's 2011 dates, e.g. a two-month sample or another retailer's log)
    and with ``auto``, the cutoffs move to the days at the given quantiles of basket time, and the
    returned reason says so; without ``auto`` the configured dates stand (and
    :func:`temporal_split` names the empty period).
    """
    val, test = _timestamp(validation_cutoff, "validation_cutoff"), _timestamp(test_cutoff, "test_cutoff")
    times = pd.to_datetime(bs.baskets["basket_time"]).dropna()
    if times.dt.tz is not None:
        times = times.dt.tz_localize(None)
    fits = len(times) and bool((times < val).any() and ((times >= val) & (times < test)).any())
    fits = fits and bool((times >= test).any())
    if fits or not auto:
        return str(val.date()), str(test.date()), "configured"
    days = times.dt.normalize()
    q_val, q_test = (days.quantile(q) for q in quantiles)
    q_val, q_test = pd.Timestamp(q_val).normalize(), pd.Timestamp(q_test).normalize()
    first, last = days.min(), days.max()
    q_val = max(q_val, first + pd.Timedelta(days=1))
    q_test = min(max(q_test, q_val + pd.Timedelta(days=1)), last)
    reason = (
        f"auto: the data ({first.date()} .. {last.date()}) leaves a period empty under the configured "
        f"cutoffs {val.date()} / {test.date()}; using the days at the {quantiles[0]:.0%} / "
        f"{quantiles[1]:.0%} quantiles of basket time"
    )
    return str(q_val.date()), str(q_test.date()), reason
