"""Any supported input file -> a BasketSet (event logs are cleaned first, basket files are not)."""

from __future__ import annotations

import os
from pathlib import Path

from assoc_pipeline.core.data import basket_line_files as basket_files
from assoc_pipeline.core.data.baskets import BasketSet, basket_set_from_events
from assoc_pipeline.core.data.cleaning import CleaningReport, CleaningRules, clean_events
from assoc_pipeline.core.data.rule_sets import rule_set_for_format
from assoc_pipeline.core.data.schema import detect_format, read_events
from assoc_pipeline.core.errors import InputError


def load_baskets(
    path: str | os.PathLike, fmt: str = "auto", rules: CleaningRules | None = None
) -> tuple[BasketSet, CleaningReport | None]:
    """Baskets of ``path``; the cleaning report when the input was an event log (cleaned by the
    rules of its format unless ``rules`` says otherwise)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "fimi":
        return basket_files.read_fimi(path), None
    if fmt == "basket_lines":
        return basket_files.read_basket_csv(path), None
    kept, report = clean_events(read_events(path, fmt), rules or CleaningRules(rule_set_for_format(fmt)))
    if kept.empty:
        raise InputError(f"{path}: no rows left after cleaning ({report.dropped})")
    return basket_set_from_events(kept), report
