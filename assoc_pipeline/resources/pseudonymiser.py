"""Pseudonymisation of customer ids, keyed by a secret from the environment.

``build_resources`` sets :attr:`PseudonymiserResource.key` to ``dg.EnvVar("ASSOC_PSEUDONYM_KEY")``
when that variable is set, else to ``""`` (feature off). With an ``EnvVar`` Dagster stores only
the variable's *name* in run and job snapshots (the UI shows ``{"env": "ASSOC_PSEUDONYM_KEY"}``);
the value is resolved inside the run process and never written to the instance, the logs or the
asset metadata.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
from pydantic import Field

from assoc_pipeline.core.privacy.pseudonymise import HEX_CHARS, PSEUDONYM_KEY_ENV, key_id, pseudonymise_ids

SCHEME = f"HMAC-SHA256, first {HEX_CHARS * 4} bits, hex, prefix 'p_'"


class PseudonymiserResource(dg.ConfigurableResource):
    """Replaces customer ids by keyed pseudonyms (core/privacy/pseudonymise.py); an empty key = off."""

    key: str = Field(
        default="",
        repr=False,  # never in a repr (logs, tracebacks, debuggers)
        description=f"HMAC key; set it through the environment ({PSEUDONYM_KEY_ENV}), never inline",
    )

    @property
    def enabled(self) -> bool:
        return bool(self.key)

    def pseudonymise(self, events: pd.DataFrame) -> pd.DataFrame:
        """``events`` with ``user_id`` pseudonymised (a copy); unchanged when the feature is off."""
        if not self.enabled:
            return events
        out = events.copy()
        out["user_id"] = pseudonymise_ids(out["user_id"], self.key, setting=PSEUDONYM_KEY_ENV)
        return out

    def metadata(self) -> dict[str, object]:
        """What the asset metadata says about pseudonymisation: on/off, scheme, key id (not the key)."""
        if not self.enabled:
            return {"ids_pseudonymised": False}
        return {
            "ids_pseudonymised": True,
            "pseudonym_scheme": SCHEME,
            "pseudonym_key_id": key_id(self.key, setting=PSEUDONYM_KEY_ENV),
        }
