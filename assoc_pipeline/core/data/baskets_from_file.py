"""Any supported input file -> a BasketSet (event logs are cleaned first, basket files are not).

:func:`load_basket_arrays` is the lean twin for mining: a FIMI or basket CSV file goes straight
to :class:`BasketArrays` without pandas or scipy (imports are local for that reason).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from assoc_pipeline.core.data.basket_arrays import BasketArrays, read_basket_lines_arrays, read_fimi_arrays
from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:
    from assoc_pipeline.core.data.baskets import BasketSet
    from assoc_pipeline.core.data.cleaning import CleaningReport, CleaningRules


def _format_of(path: Path, fmt: str, mapping: Mapping[str, str] | None = None) -> str:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if fmt == "auto" and path.name.lower().endswith((".dat", ".dat.gz")):
        return "fimi"  # known by its name: no need to load the CSV sniffer (pandas)
    if fmt == "auto":
        from assoc_pipeline.core.data.schema import detect_format

        return detect_format(path, mapping)
    return fmt


def load_baskets(
    path: str | os.PathLike,
    fmt: str = "auto",
    rules: CleaningRules | None = None,
    mapping: Mapping[str, str] | None = None,
) -> tuple[BasketSet, CleaningReport | None]:
    """Baskets of ``path``; the cleaning report when the input was an event log (cleaned by the
    rules of its format unless ``rules`` says otherwise; ``mapping``: its column names)."""
    from assoc_pipeline.core.data import basket_line_files as basket_files
    from assoc_pipeline.core.data.baskets import basket_set_from_events
    from assoc_pipeline.core.data.cleaning import CleaningRules, clean_events
    from assoc_pipeline.core.data.rule_sets import rule_set_for_format
    from assoc_pipeline.core.data.schema import read_events

    path = Path(path)
    fmt = _format_of(path, fmt, mapping)
    if fmt == "fimi":
        return basket_files.read_fimi(path), None
    if fmt == "basket_lines":
        return basket_files.read_basket_csv(path), None
    events = read_events(path, fmt, mapping)
    kept, report = clean_events(events, rules or CleaningRules(rule_set_for_format(fmt)))
    if kept.empty:
        raise InputError(f"{path}: no rows left after cleaning ({report.dropped})")
    return basket_set_from_events(kept), report


def load_basket_arrays(
    path: str | os.PathLike, fmt: str = "auto", mapping: Mapping[str, str] | None = None
) -> tuple[BasketArrays, CleaningReport | None]:
    """:func:`load_baskets` as :class:`BasketArrays` (labels: the item names); basket files are
    read without pandas or scipy."""
    path = Path(path)
    fmt = _format_of(path, fmt, mapping)
    if fmt == "fimi":
        return read_fimi_arrays(path), None
    if fmt == "basket_lines":
        return read_basket_lines_arrays(path), None
    bs, report = load_baskets(path, fmt, mapping=mapping)
    return basket_arrays_of(bs), report


def basket_arrays_of(bs: BasketSet) -> BasketArrays:
    """The CSR arrays of a BasketSet's matrix (made canonical: sorted, distinct) and its names."""
    import numpy as np

    x = bs.matrix.tocsr(copy=True)
    x.sum_duplicates()
    x.eliminate_zeros()
    x.sort_indices()
    names = [str(n) for n in bs.item_names().tolist()]
    return BasketArrays(x.indptr.astype(np.int64), x.indices.astype(np.int32), names)
