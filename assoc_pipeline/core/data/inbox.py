"""The inbox: new event files are validated, registered by content hash, landed or quarantined.

A file lands once: its SHA-256 goes into ``registry.json`` beside the landed files, so the same
content dropped again (under any name) is recognised and skipped. A file that cannot be read as
events moves to the quarantine folder with a ``.reason.txt`` naming what is wrong; it never blocks
the files after it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from assoc_pipeline.core.data.schema import read_events
from assoc_pipeline.core.errors import InputError
from assoc_pipeline.core.tables import write_json

REGISTRY_FILE = "registry.json"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def months_covered(events: pd.DataFrame) -> list[str]:
    """Monthly partition keys (YYYY-MM-01) of the events' times."""
    months = pd.PeriodIndex(events["event_time"].dropna(), freq="M").unique().sort_values()
    return [m.start_time.strftime("%Y-%m-%d") for m in months]


@dataclass
class InboxOutcome:
    landed: list[dict] = field(default_factory=list)  # {"file", "digest", "months", "landed_as"}
    quarantined: list[dict] = field(default_factory=list)  # {"file", "reason"}
    duplicates: list[dict] = field(default_factory=list)  # {"file", "digest", "first_seen_as"}


def load_registry(landing: Path) -> dict[str, dict]:
    path = landing / REGISTRY_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def process_inbox(inbox: Path, landing: Path, quarantine: Path, fmt: str = "auto") -> InboxOutcome:
    """Validate every file in ``inbox`` (name order); land, skip (seen before) or quarantine it."""
    outcome = InboxOutcome()
    if not inbox.is_dir():
        return outcome
    registry = load_registry(landing)
    for path in sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest = file_digest(path)
        if digest in registry:
            outcome.duplicates.append(
                {"file": path.name, "digest": digest, "first_seen_as": registry[digest]["file"]}
            )
            path.unlink()
            continue
        try:
            events = read_events(path, fmt)
            if events["event_time"].isna().all():
                raise InputError(f"{path}: has no event timestamps; the inbox takes event logs")
        except InputError as exc:
            quarantine.mkdir(parents=True, exist_ok=True)
            target = quarantine / path.name
            shutil.move(str(path), target)
            target.with_name(target.name + ".reason.txt").write_text(f"{exc}\n")
            outcome.quarantined.append({"file": path.name, "reason": str(exc)})
            continue
        landing.mkdir(parents=True, exist_ok=True)
        landed_as = f"{digest[:12]}_{path.name.split('.')[0]}.parquet"
        events.to_parquet(landing / f".{landed_as}.tmp", index=False)
        (landing / f".{landed_as}.tmp").replace(landing / landed_as)
        entry = {
            "file": path.name,
            "landed_as": landed_as,
            "rows": len(events),
            "months": months_covered(events),
            "registered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        registry[digest] = entry
        write_json(registry, landing / REGISTRY_FILE)
        path.unlink()
        outcome.landed.append({"digest": digest, **entry})
    return outcome
