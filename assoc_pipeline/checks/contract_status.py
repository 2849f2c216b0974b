"""Did every blocking data contract pass on the data a model was trained on? Read from Dagster.

The data-loss guard of ``clean_events`` counts as one of them. The chain is recorded by the
assets themselves: a model's training run logs the run that wrote the ``baskets`` it read; that
``baskets`` materialization lists the ``clean_events`` runs it was built from; each
``clean_events`` materialization names the ``raw_events`` run it read. A contract
result belongs to the run that wrote the data it checked. So a model trained on baskets that
failed their contract stays refused even after a later, passing re-materialization.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from assoc_pipeline.checks.data_loss import DATA_LOSS_CHECK
from assoc_pipeline.core.recsys.promotion import CheckStatus

REPORT_CONTRACT = ("evaluation_report", "evaluation_report_contract")
SEARCH_LIMIT = 500  # materializations searched for the one a run wrote


def check_passed_in_run(instance: dg.DagsterInstance, asset: str, check: str, run_id: str) -> bool | None:
    """The result of ``check`` in ``run_id`` (True / False), or None when it did not run there."""
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=10_000
    )
    for rec in history:  # statuses by name: the enum is not public API
        status = getattr(rec.status, "value", str(rec.status))
        if rec.run_id == run_id and status in ("SUCCEEDED", "FAILED"):
            return status == "SUCCEEDED"
    return None


def _materialization(instance: dg.DagsterInstance, asset: str, run_id: str, partition: str | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None
        ),
        limit=SEARCH_LIMIT,
    ).records
    return next((r for r in records if r.event_log_entry.run_id == run_id), None)


def _status(check: str, results: Iterable[tuple[str, bool | None]]) -> CheckStatus:
    """One status per check over its partitions: any failure, then any gap, makes it not pass."""
    results = list(results)
    failed = [p for p, ok in results if ok is False]
    missing = [p for p, ok in results if ok is None]
    if failed:
        return CheckStatus(check, False, f"failed on {', '.join(failed)}")
    if missing:
        return CheckStatus(check, None, f"no result for {', '.join(missing)}")
    return CheckStatus(check, True, f"{len(results)} materialization(s) of the data used")


def contracts_of_baskets_run(instance: dg.DagsterInstance, baskets_run: str | None) -> list[CheckStatus]:
    """The contract results of the ``baskets`` written by ``baskets_run`` and of the clean / raw
    partitions it was built from."""
    names = ("raw_events_contract", "clean_events_contract", DATA_LOSS_CHECK, "baskets_contract")
    if not baskets_run:
        return [CheckStatus(n, None, "the model records no baskets run") for n in names]
    found = _materialization(instance, "baskets", baskets_run)
    if found is None:
        return [CheckStatus(n, None, f"no baskets materialization in run {baskets_run[:8]}") for n in names]
    baskets = _status(
        "baskets_contract",
        [
            (
                f"baskets run {baskets_run[:8]}",
                check_passed_in_run(instance, "baskets", "baskets_contract", baskets_run),
            )
        ],
    )
    meta = found.asset_materialization.metadata
    clean_runs = meta["clean_events_runs"].value if "clean_events_runs" in meta else {}
    if not clean_runs:
        why = "the baskets materialization lists no clean_events runs"
        return [CheckStatus(n, None, why) for n in names[:-1]] + [baskets]
    clean, loss, raw = [], [], []
    for partition, clean_run in sorted(clean_runs.items()):
        clean.append(
            (partition, check_passed_in_run(instance, "clean_events", "clean_events_contract", clean_run))
        )
        loss.append((partition, check_passed_in_run(instance, "clean_events", DATA_LOSS_CHECK, clean_run)))
        record = _materialization(instance, "clean_events", clean_run, partition)
        raw_run = record.asset_materialization.metadata.get("raw_events_run") if record else None
        raw_run = raw_run.value if raw_run is not None else None
        raw.append(
            (
                partition,
                check_passed_in_run(instance, "raw_events", "raw_events_contract", raw_run)
                if raw_run
                else None,
            )
        )
    return [
        _status("raw_events_contract", raw),
        _status("clean_events_contract", clean),
        _status(DATA_LOSS_CHECK, loss),
        baskets,
    ]


def report_contract(instance: dg.DagsterInstance) -> CheckStatus:
    """The evaluation report's own contract on its latest materialization."""
    asset, check = REPORT_CONTRACT
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return CheckStatus(check, None, f"{asset} was never materialized")
    ok = check_passed_in_run(instance, asset, check, event.run_id)
    return _status(check, [("latest materialization", ok)])
