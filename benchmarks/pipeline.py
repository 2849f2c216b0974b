"""Pipeline benchmark: `make demo`'s whole graph, asset by asset, appended to RESULTS.md.

    python benchmarks/pipeline.py            # the shipped Online Retail log, every partition
    python benchmarks/pipeline.py --dry-run  # print the table, do not append it
    python benchmarks/pipeline.py --workers 2  # two downstream steps side by side (demo --workers 2)
    python benchmarks/pipeline.py --dry-run --record-imports scripts/bytecode_folders.txt
                                             # also list the library folders the demo imported from

The demo runs exactly as `make demo` runs it (same code path, same defaults), but in a scratch
data directory and Dagster home, so the numbers are a cold first run: no cached text embeddings,
no MLflow store, no numba cache. The machine's load at the start is printed beside the times: a
figure measured beside other work is not comparable with one measured alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def speed_probe() -> float:
    """Seconds of a fixed one-thread workload (a Python loop, numpy element-wise maths): how fast
    the machine was at that moment. On a shared VM the same code drifts by 1.5x within an hour;
    a run's times read against its probe, not against another run's times alone."""
    import numpy as np

    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    values = np.linspace(0.0, 1.0, 1_000_000)
    for _ in range(20):
        values = np.sqrt(np.exp(-values) + values)
    return time.perf_counter() - started


def markdown(summary: dict, load_before: tuple[float, float, float], probes: tuple[float, float]) -> str:
    """The run as a section of RESULTS.md: per-asset wall seconds, total, peak memory."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## make demo's graph, asset by asset ({stamp}, commit {git_sha()})",
        "",
        f"{os.cpu_count()} CPUs; load average at the start {load_before[0]:.2f} / {load_before[1]:.2f} "
        f"/ {load_before[2]:.2f} (1 / 5 / 15 min); cold run in a scratch data dir; "
        f"{summary['workers']} downstream step(s) at a time; speed probe {probes[0]:.2f} s before, "
        f"{probes[1]:.2f} s after (benchmarks/pipeline.py:speed_probe, lower is faster).",
        "",
        "| step | wall s |",
        "|---|---|",
        *(f"| {step} | {seconds:.1f} |" for step, seconds in summary["step_seconds"].items()),
        f"| **whole graph** | **{summary['seconds']:.1f}** |",
        "",
        f"Peak memory {summary['peak_memory_mb']:,.0f} MB. Leaders: "
        + "; ".join(f"{k}: {v}" for k, v in summary["leaders"].items())
        + ".",
        "",
    ]
    return "\n".join(lines)


def imported_folders() -> list[str]:
    """Folders under site-packages that this process imported modules from (``make install``
    compiles their bytecode: scripts/precompile.py)."""
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    folders = set()
    for module in list(sys.modules.values()):
        source = Path(getattr(module, "__file__", None) or "/").resolve()
        if source.suffix == ".py" and source.is_relative_to(site):
            folders.add(source.parent.relative_to(site).as_posix())
    return sorted(folders)


def write_folder_list(path: Path, folders: list[str]) -> None:
    header = (
        f"# library folders `make demo` imported modules from (commit {git_sha()}, Python "
        f"{sys.version_info.major}.{sys.version_info.minor}); `make install` compiles their bytecode.\n"
        "# regenerate: python benchmarks/pipeline.py --dry-run --record-imports "
        "scripts/bytecode_folders.txt\n"
    )
    path.write_text(header + "".join(f"{folder}\n" for folder in folders))
    print(f"{len(folders):,} imported library folders written to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the table, do not append it")
    parser.add_argument("--workers", type=int, default=1, help="steps side by side (demo --workers)")
    parser.add_argument(
        "--record-imports", type=Path, metavar="FILE", help="write the library folders the demo imported from"
    )
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="assoc_pipeline_bench_"))
    os.environ["ASSOC_DATA_DIR"] = str(scratch / "data")
    os.environ["DAGSTER_HOME"] = str(scratch / "dagster_home")
    os.environ.setdefault("NUMBA_CACHE_DIR", str(scratch / "numba"))
    load_before = os.getloadavg()
    probe_before = speed_probe()

    from assoc_pipeline.demo import format_summary, run_demo

    summary = run_demo(workers=args.workers)
    print(format_summary(summary))
    if args.record_imports:
        write_folder_list(args.record_imports, imported_folders())
    section = markdown(summary, load_before, (probe_before, speed_probe()))
    print(section)
    if not args.dry_run:
        with RESULTS.open("a") as fh:
            fh.write("\n" + section)
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
