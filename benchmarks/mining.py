"""Benchmark the mining backends on the same inputs in one run; writes benchmarks/RESULTS.md.

    python benchmarks/mining.py [--quick] [--spark] [--repeats 3] [--output benchmarks/RESULTS.md]

Every (backend, dataset, support) runs in its own subprocess, so peak memory is that process's
``ru_maxrss`` (whole process: interpreter, libraries, input and mining). ``ΔRSS`` is the peak minus
the resident size just before mining (the mining's own high-water mark, input excluded). Time is
the median wall time of ``--repeats`` runs of frequent-itemset mining only (input already in
each tool's natural form: CSR matrix for native/mlxtend/spark, lists of ints for pyfim). Every
backend's itemsets and counts are compared by an order-independent digest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCALE_HEADER = "# Scale benchmark"  # section written by benchmarks/scale.py
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = Path(os.environ.get("ASSOC_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
MLXTEND_TIMEOUT_S = 300
BACKENDS = ("native", "mlxtend", "pyfim-fpgrowth", "pyfim-eclat", "spark")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-size high-water mark (VmHWM), so loading doesn't count."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load(dataset: str, cache: Path):
    import scipy.sparse as sp

    from assoc_pipeline.core.data.basket_line_files import read_fimi

    if dataset == "T10I4D100K":
        return read_fimi(SHARED / "fimi" / "T10I4D100K.dat.gz").matrix
    if dataset == "retail":
        return read_fimi(SHARED / "fimi" / "retail.dat.gz").matrix
    if dataset.startswith("quest"):
        path = cache / f"{dataset}.npz"
        if not path.exists():
            from assoc_pipeline.core.data.quest_baskets import quest_baskets

            n = int(dataset.removeprefix("quest"))
            sp.save_npz(path, quest_baskets(n, seed=0).matrix, compressed=False)
        return sp.load_npz(path).tocsr()
    raise ValueError(dataset)


def worker(backend: str, dataset: str, support: float, repeats: int, cache: Path) -> dict:
    """Runs in the subprocess: load, mine ``repeats`` times, report JSON on stdout."""
    from assoc_pipeline.core.mining import FrequentItemsets, min_count_for, mine_itemsets
    from assoc_pipeline.core.mining.itemsets import levels_from_pairs

    x = _load(dataset, cache)
    n = x.shape[0]
    min_count = min_count_for(support, n)
    if backend.startswith("pyfim"):
        import fim

        algo = fim.fpgrowth if backend == "pyfim-fpgrowth" else fim.eclat
        tracts = [x.indices[x.indptr[i] : x.indptr[i + 1]].tolist() for i in range(n)]

        def run():
            return algo(tracts, target="s", supp=-min_count, zmin=1, report="a")
    elif backend == "spark":
        from assoc_pipeline.core.mining.spark_backend import get_spark

        t0 = time.perf_counter()
        session = get_spark()
        session.sparkContext.setLogLevel("ERROR")
        startup = time.perf_counter() - t0

        def run():
            return mine_itemsets(x, min_count, backend="spark", spark=session)
    else:

        def run():
            return mine_itemsets(x, min_count, backend=backend)

    base = _rss_mb()
    reset = _reset_peak_rss()
    times: list[float] = []
    result = None

    def alarm(signum, frame):
        raise TimeoutError

    signal.signal(signal.SIGALRM, alarm)
    out: dict = {"backend": backend, "dataset": dataset, "support": support, "n_baskets": n}
    budget = MLXTEND_TIMEOUT_S if backend == "mlxtend" else 1800
    try:
        for _ in range(repeats):
            signal.alarm(budget)
            t0 = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - t0)
            signal.alarm(0)
            if times[-1] > 20:  # slow tools: one run is enough for a median of their scale
                break
    except TimeoutError:
        out["timeout_s"] = budget
    if result is not None:
        if backend.startswith("pyfim"):
            result = FrequentItemsets.from_levels(levels_from_pairs(result), n, min_count)
        out.update(n_itemsets=len(result), digest=result.digest())
    if backend == "spark":
        out["startup_s"] = startup
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mining_peak = _hwm_mb() if reset else peak
    out.update(times=times, peak_mb=peak, base_mb=base, mining_peak_mb=mining_peak)
    return out


def _available(backend: str) -> bool:
    if backend.startswith("pyfim"):
        try:
            import fim  # noqa: F401
        except ImportError:
            return False
    if backend == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError:
            return False
    return True


def run_case(backend: str, dataset: str, support: float, repeats: int, cache: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, dataset, repr(support), str(repeats), str(cache)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=MLXTEND_TIMEOUT_S + 600, check=False
        )
    except subprocess.TimeoutExpired:
        return {"backend": backend, "dataset": dataset, "support": support, "error": "killed (wall limit)"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"backend": backend, "dataset": dataset, "support": support, "error": tail[0][:120]}
    return json.loads(lines[-1])


def _fmt_time(r: dict | None) -> str:
    if r is None:
        return "—"
    if "error" in r:
        return f"error: {r['error']}"
    if "timeout_s" in r:
        return f"did not finish in {r['timeout_s']} s"
    return f"{statistics.median(r['times']):.2f}"


def table(results: list[dict]) -> str:
    head = (
        "| dataset | minsup | itemsets | backend | time (s, median) | vs mlxtend (x faster) "
        "| vs pyfim fpgrowth (time ratio) | peak RSS process (MB) | peak RSS mining (MB) "
        "| Δ mining (MB) | peak RSS mining vs pyfim fpgrowth | same itemsets |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    cases = list(dict.fromkeys((r["dataset"], r["support"]) for r in results))
    for ds, sup in cases:
        group = {r["backend"]: r for r in results if (r["dataset"], r["support"]) == (ds, sup)}

        def med(b: str, group=group) -> float | None:
            r = group.get(b)
            return statistics.median(r["times"]) if r and r.get("times") and "timeout_s" not in r else None

        ref_digest = group.get("native", {}).get("digest")
        for b, r in group.items():
            t = med(b)
            mlx, fp = med("mlxtend"), med("pyfim-fpgrowth")
            vs_m = (
                f"{mlx / t:.1f}"
                if t and mlx
                else (
                    "> " + f"{MLXTEND_TIMEOUT_S / t:.0f}"
                    if t and "timeout_s" in group.get("mlxtend", {})
                    else "—"
                )
            )
            vs_p = f"{t / fp:.2f}" if t and fp else "—"
            same = (
                "—"
                if "digest" not in r or ref_digest is None
                else ("yes" if r["digest"] == ref_digest else "NO")
            )
            peak = f"{r['peak_mb']:.0f}" if "peak_mb" in r else "—"
            mpeak = f"{r['mining_peak_mb']:.0f}" if "mining_peak_mb" in r else "—"
            d = r["mining_peak_mb"] - r["base_mb"] if "mining_peak_mb" in r else None
            fp_peak = group.get("pyfim-fpgrowth", {}).get("mining_peak_mb")
            delta = f"{d:.0f}" if d is not None else "—"
            vs_mem = f"{r['mining_peak_mb'] / fp_peak:.2f}" if d is not None and fp_peak else "—"
            extra = f" (+{r['startup_s']:.0f} s start)" if "startup_s" in r else ""
            n_sets = r.get("n_itemsets", "—")
            rows.append(
                f"| {ds} | {sup:g} | {n_sets} | {b} | {_fmt_time(r)}{extra} | {vs_m} | {vs_p} "
                f"| {peak} | {mpeak} | {delta} | {vs_mem} | {same} |"
            )
    return head + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small cases only (100k-basket synthetic set)")
    ap.add_argument("--spark", action="store_true", help="also time the Spark backend (slow start-up)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    ap.add_argument("--backends", default=",".join(b for b in BACKENDS if b != "spark"))
    args = ap.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if args.spark and "spark" not in backends:
        backends.append("spark")
    backends = [b for b in backends if _available(b) or print(f"skipping {b}: not installed")]
    if args.quick:
        cases = [("T10I4D100K", 0.01), ("T10I4D100K", 0.005), ("retail", 0.002), ("quest100000", 0.001)]
    else:
        cases = [
            ("T10I4D100K", 0.01),
            ("T10I4D100K", 0.005),
            ("T10I4D100K", 0.001),
            ("retail", 0.001),
            ("quest1000000", 0.001),
            ("quest1000000", 0.0005),
        ]
    results = []
    with tempfile.TemporaryDirectory(prefix="mining-bench-") as tmp:
        cache = Path(tmp)
        for ds, sup in cases:
            if ds.startswith("quest"):
                _load(ds, cache)  # generate once, outside every timed process
            for b in backends:
                r = run_case(b, ds, sup, args.repeats, cache)
                results.append(r)
                print(
                    f"{ds:>14} {sup:<7g} {b:<15} {_fmt_time(r):>28}  itemsets={r.get('n_itemsets', '—')}",
                    flush=True,
                )
    md = table(results)
    print()
    print(md)
    cpu = platform.processor() or platform.machine()
    text = (
        "# Mining benchmark\n\n"
        f"`python benchmarks/mining.py{' --quick' if args.quick else ''}` on {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}.\n\n"
        "Frequent itemsets only (no rules), all itemset sizes. Time: median of up to "
        f"{args.repeats} runs in one subprocess per backend (one run when a run takes > 20 s). "
        "Memory: 'peak RSS process' is `ru_maxrss` of that subprocess (interpreter, libraries, loading "
        "the input, and for pyfim building its list-of-lists input); 'peak RSS mining' is the kernel's "
        "VmHWM after resetting it (`/proc/self/clear_refs`) just before mining, so it covers the mining "
        "runs plus what was resident; 'Δ mining' = that peak minus the resident size just before mining, "
        "i.e. the extra memory the miner needed. 'same itemsets': digest of (itemset, count) pairs "
        "equals native's. mlxtend gets "
        f"{MLXTEND_TIMEOUT_S} s per case.\n\n" + md
    )
    # keep the sections other scripts own (benchmarks/scale.py appends "# Scale benchmark ...")
    old = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    kept = old[old.index(SCALE_HEADER) :] if SCALE_HEADER in old else ""
    args.output.write_text(text.rstrip("\n") + ("\n\n" + kept if kept else "\n"), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, be, ds, sup, reps, cache_dir = sys.argv
        print(json.dumps(worker(be, ds, float(sup), int(reps), Path(cache_dir))))
    else:
        main()
