"""The exposure log keeps rows through a failed write and writes each batch as one new part."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from assoc_pipeline.core.experiments.exposure_table import part_files, read_exposures
from assoc_pipeline.serving.exposure_log import ExposureLog


def row(i: int) -> dict:
    return {
        "time": datetime.now(UTC), "experiment": "e", "unit_id": f"u{i}", "user_id": f"u{i}",
        "basket_id": None, "arm": "champion", "model_name": "m", "model_version": None,
        "query_kind": "next_basket", "items": ["A", "B"], "source": "live",
    }  # fmt: skip


def test_a_failed_write_keeps_the_rows_for_the_next_one(tmp_path):
    blocked = tmp_path / "exposures"
    blocked.write_text("a file where the folder should be")  # every write fails
    log = ExposureLog(blocked, flush_seconds=3600)
    for i in range(10):
        log.record(row(i))
    assert log.flush() == 0 and log.pending == 10 and log.status.write_failures == 1
    blocked.unlink()  # the disk is back
    log.record(row(10))
    assert log.flush() == 11 and log.pending == 0
    assert sorted(read_exposures(blocked)["unit_id"]) == sorted(f"u{i}" for i in range(11))


def test_concurrent_requests_and_the_writer_thread_lose_and_duplicate_nothing(tmp_path):
    log = ExposureLog(tmp_path, flush_seconds=0.01, batch_rows=50)
    log.start()

    def ask(start: int) -> None:
        for i in range(start, start + 500):
            log.record(row(i))

    threads = [threading.Thread(target=ask, args=(n * 500,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    ids = read_exposures(tmp_path)["unit_id"]
    assert len(ids) == 2_000 and ids.nunique() == 2_000
    assert len(part_files(tmp_path)) == log.status.parts >= 1  # each batch its own new part file
