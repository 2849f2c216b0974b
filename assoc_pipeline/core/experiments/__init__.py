"""Online experiments (A/B tests): who sees which arm, the exposure table, and how arms compare.

``assignment`` splits units between arms by a hash (sticky, no state to keep), ``exposure_table``
is the append-only record of what was shown, ``outcomes`` joins exposures with later purchases,
``comparison`` turns outcomes into per-arm rates, an interval of the difference and a verdict.
"""
