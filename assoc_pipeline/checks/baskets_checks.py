"""Contract check on the baskets table (unpartitioned, so a standalone blocking asset check)."""

import dagster as dg

from assoc_pipeline.checks.contracts import contract_check_result
from assoc_pipeline.core.data.baskets import BasketSet


@dg.asset_check(
    asset="baskets", blocking=True, description="Great Expectations suite data_contracts/baskets.json"
)
def baskets_contract(baskets: BasketSet) -> dg.AssetCheckResult:
    return contract_check_result("baskets", baskets.baskets)
