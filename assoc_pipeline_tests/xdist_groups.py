"""`make test` on two pytest-xdist workers, each costly shared fixture built by one of them only.

A session fixture is built once per worker that needs it: the shared demo run (minutes) would be
built twice if its tests were spread over both workers. So every test that uses one of
``SHARED_FIXTURE_GROUPS`` joins that fixture's group, and every other test its module's (module
fixtures, such as a pipeline run or a PostgreSQL server, are built once too); a group runs on one
worker, the largest groups first.

Why not xdist's own ``--dist loadgroup``: it tags groups by rewriting ``item._nodeid``, which
pytest 9 no longer reads (a node id is now derived from ``item._id``), so every test ran alone.
Here the workers write each test's group to a file at collection, and a scheduler on the
controller (xdist's load-scope scheduler, its scope looked up there) reads it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHARED_FIXTURE_GROUPS = ("demo_run", "spark_session", "ab_state", "registered", "text_cache")
GROUPS_FILE_ENV = "ASSOC_TEST_GROUPS_FILE"  # set by the controller, inherited by its workers


def group_of(item: pytest.Item) -> str:
    names = getattr(item, "fixturenames", ())
    return next((name for name in SHARED_FIXTURE_GROUPS if name in names), item.module.__name__)


def start(config: pytest.Config) -> None:
    """On the controller of a ``--dist loadgroup`` run: where the workers will write the groups."""
    if os.environ.get("PYTEST_XDIST_WORKER") or config.getoption("dist", "no") != "loadgroup":
        return
    folder = Path(tempfile.mkdtemp(prefix="assoc-test-groups-"))
    os.environ[GROUPS_FILE_ENV] = str(folder / "groups")


def finish() -> None:
    """On the controller, after the run: the groups' folder goes."""
    path = os.environ.get(GROUPS_FILE_ENV)
    if path and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(Path(path).parent, ignore_errors=True)


def record(items: list[pytest.Item]) -> None:
    """On a worker: each collected test's group, written once collection is done."""
    path, worker = os.environ.get(GROUPS_FILE_ENV), os.environ.get("PYTEST_XDIST_WORKER")
    if not path or not worker:
        return
    target = Path(f"{path}.{worker}.json")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({item.nodeid: group_of(item) for item in items}))
    tmp.replace(target)


def make_scheduler(config: pytest.Config, log):
    """xdist's load-scope scheduler with the recorded groups as scopes (None: xdist's default)."""
    if config.getoption("dist", "no") != "loadgroup" or not os.environ.get(GROUPS_FILE_ENV):
        return None
    from xdist.scheduler import LoadScopeScheduling

    path = Path(os.environ[GROUPS_FILE_ENV])

    class SharedFixtureScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                recorded = sorted(path.parent.glob(path.name + ".*.json"))
                self.groups = json.loads(recorded[0].read_text()) if recorded else {}
            return self.groups.get(nodeid, nodeid)

    return SharedFixtureScheduling(config, log)
