"""The inbox folders the sensor watches: drop files in ``inbox_dir``; they land or are quarantined."""

from pathlib import Path

import dagster as dg

from assoc_pipeline.core.data.inbox import InboxOutcome, process_inbox


class InboxResource(dg.ConfigurableResource):
    inbox_dir: str
    landing_dir: str
    quarantine_dir: str
    format: str = "auto"

    def process(self) -> InboxOutcome:
        dirs = (Path(self.inbox_dir), Path(self.landing_dir), Path(self.quarantine_dir))
        return process_inbox(*dirs, fmt=self.format)
