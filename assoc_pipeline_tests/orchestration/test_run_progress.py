"""The demo's progress lines: one numbered line per asset, checks un-numbered, never "[3/2]"."""

import io
import re

import dagster as dg

from assoc_pipeline.orchestration.run_progress import RunWatcher


@dg.asset
def first(context: dg.AssetExecutionContext) -> int:
    context.log.info("fit epoch 1/1: loss=1.0")
    return 1


@dg.asset
def second(first: int) -> int:
    return first + 1


@dg.asset_check(asset=second)
def second_is_positive(second: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=second > 0)


def test_assets_are_counted_checks_are_not_and_epochs_are_shown() -> None:
    out = io.StringIO()
    instance = dg.DagsterInstance.ephemeral()
    with RunWatcher(instance, ("progress-test", "1"), ["first", "second"], out=out) as watcher:
        result = dg.materialize(
            [first, second, second_is_positive], instance=instance, tags={"progress-test": "1"}
        )
    assert result.success
    text = out.getvalue()
    counters = re.findall(r"^\[\s*(\d+)/(\d+)\] (\w+) \.\.\.$", text, flags=re.M)
    assert counters == [("1", "2", "first"), ("2", "2", "second")], text
    assert "check second_second_is_positive ..." in text  # the check step: <asset>_<check>
    assert "first fit epoch 1/1: loss=1.0" in text  # named by its step (lanes interleave)
    assert set(watcher.times.seconds) == {"first", "second", "second_second_is_positive"}
