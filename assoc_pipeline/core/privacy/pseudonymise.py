"""Keyed pseudonyms for customer ids (HMAC-SHA256), applied before ids reach any derived table.

``pseudonym(id) = "p_" + hex(HMAC-SHA256(key, "user_id\\x00" + id))[:20]``: deterministic for
a key (the same customer gets the same pseudonym in every partition and every run, so baskets,
models and recommendations still link a customer's purchases), unrelated under another key, and
not reversible without the key (no lookup table of hashed ids can be built without it). 80 bits
of the digest: a collision among 10 million customers has a probability of about 4e-8.

The key is a secret: it is never stored with the data, logged, or put in metadata. Only
:func:`key_id` (a short HMAC of a fixed label, useless for recovering the key) is shown, so two
tables can be checked for having been pseudonymised with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import TYPE_CHECKING

import numpy as np

from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:  # pandas only for whole columns: `recommend` pseudonymises one id without it
    import pandas as pd

PSEUDONYM_KEY_ENV = "ASSOC_PSEUDONYM_KEY"  # the key's environment variable (never in config)

PREFIX = "p_"
HEX_CHARS = 20  # 80 bits
MIN_KEY_LENGTH = 16
PATTERN = re.compile(rf"^{PREFIX}[0-9a-f]{{{HEX_CHARS}}}$")
_DOMAIN = b"user_id\x00"  # domain separation: the same key may later pseudonymise other fields


def _key_bytes(key: str | bytes, setting: str) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_LENGTH:
        # the message names the setting and the length, never the key
        raise InputError(
            f"setting {setting}: the pseudonymisation key is {len(raw)} bytes, use at least "
            f"{MIN_KEY_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return raw


def pseudonym(value: str, key: str | bytes, setting: str = "pseudonymisation key") -> str:
    """The pseudonym of one id (e.g. to look a customer up in recommendations)."""
    digest = hmac.new(
        _key_bytes(key, setting), _DOMAIN + value.encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return PREFIX + digest.hexdigest()[:HEX_CHARS]


def pseudonymise_ids(values: pd.Series, key: str | bytes, setting: str = "pseudonymisation key") -> pd.Series:
    """Replace every id by its pseudonym; missing ids stay missing; the result is a string column.

    Each distinct id is hashed once (a month of Online Retail has ~1,000 customers for ~40,000
    lines), then mapped back onto the rows.
    """
    import pandas as pd

    raw = _key_bytes(key, setting)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mac = hmac.new(raw, digestmod=hashlib.sha256)
    hashed = []
    for u in uniques:
        h = mac.copy()
        h.update(_DOMAIN + str(u).encode("utf-8", "surrogatepass"))
        hashed.append(PREFIX + h.hexdigest()[:HEX_CHARS])
    table = np.asarray([*hashed, None], dtype=object)  # code -1 (missing) -> the trailing None
    return pd.Series(table[codes], index=values.index, dtype="str", name=values.name)


def key_id(key: str | bytes, setting: str = "pseudonymisation key") -> str:
    """A short public identifier of the key: equal for the same key, reveals nothing about it."""
    return hmac.new(_key_bytes(key, setting), b"assoc-pipeline key id", hashlib.sha256).hexdigest()[:8]


def pseudonym_share(values: pd.Series) -> float:
    """Share of the non-missing ids that look like pseudonyms (1.0 all, 0.0 none or no ids).

    A mix means tables pseudonymised and not were combined (the key was switched on after some
    partitions were written): the same customer then has two ids.
    """
    ids = values.dropna().astype(str)
    return float(ids.str.fullmatch(PATTERN.pattern).mean()) if len(ids) else 0.0
