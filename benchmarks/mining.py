"""Mining benchmark against Borgelt's C (pyfim) on sparse and dense data; rewrites its section of
benchmarks/RESULTS.md ("# Mining benchmark"; the hand-written "# Mining benchmark: reading" stays).

    python benchmarks/mining.py [--quick] [--repeats 3] [--device auto|cpu|cuda]
                                [--output benchmarks/RESULTS.md]

* **Time**, side by side in this one process: per case, ``--repeats`` rounds, each round running
  native (``mine_itemsets``, default kernel), pyfim fpgrowth and pyfim eclat back to back, so load
  on a shared machine hits all three alike; the median is reported, and the ratio
  pyfim / native (> 1: native faster). Native gets its input as the CSR matrix, pyfim as the
  list of lists it takes; both return their natural output (``FrequentItemsets`` backed by arrays
  / a list of tuples). One untimed native run first loads the compiled kernel (numba's cache).
  Every call is timed after the tool's previous result was freed (before, pyfim paid for freeing
  its last result inside its timing), once in the interpreter's default state and, for native
  and pyfim fpgrowth, once more with the cyclic collector off as ``timeit`` times (:func:`timed`).
  The numpy fallback kernel (``kernel="numpy"``) is timed once per case for information.
* **Exactness**: (itemset, count) digests of native, the numpy kernel, pyfim fpgrowth and eclat
  must all be equal (pyfim leaves out items present in every basket: they are added back).
* **Memory**, one subprocess per (tool, case): the input in the tool's natural form is built and
  the kernel warmed up, the resident high-water mark is reset (``/proc/self/clear_refs``), one
  mining run follows: 'Δ peak' = that run's peak minus the resident size before it.
* **Rules** (single and multi-consequent, confidence >= 0.5) timed against mining on the largest
  cases, as arrays (``derive_rule_arrays``) and as the ``derive_rules`` table.
* **CLI** end to end: ``assoc-pipeline mine T10I4D100K.dat --min-support 0.001 --min-confidence 0.5
  --format csv`` against a plain pyfim script doing the same (read, rules, CSV), alternating.
* **GPU**: ``--device auto`` (the default) or ``cuda`` times the GPU path (level-wise Apriori in
  torch, ``assoc_pipeline.core.mining.apriori_torch``) against the CPU kernel on the 1M-basket
  cases, median of ``--repeats`` alternating rounds, when torch sees a GPU; without one it says
  so and only the CPU figures stand.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / "data" / "reference"

FILES = {
    "T10I4D100K": DATA / "fimi" / "T10I4D100K.dat.gz",
    "retail": DATA / "fimi" / "retail.dat.gz",
    "mushroom": DATA / "fimi" / "mushroom.dat",
    "chess": DATA / "fimi" / "chess.dat",
}
FULL_CASES = [
    ("T10I4D100K", 0.01),
    ("T10I4D100K", 0.005),
    ("T10I4D100K", 0.001),
    ("retail", 0.01),
    ("retail", 0.001),
    ("mushroom", 0.3),
    ("mushroom", 0.2),
    ("mushroom", 0.1),
    ("chess", 0.9),
    ("chess", 0.8),
    ("chess", 0.7),
    ("quest1000000", 0.001),
    ("quest1000000", 0.0005),
]
QUICK_CASES = [("T10I4D100K", 0.001), ("retail", 0.001), ("mushroom", 0.2), ("chess", 0.8)]

PYFIM_SCRIPT = '''"""A plain pyfim script: read a FIMI file, derive the rules, write them as CSV to stdout."""
import csv, sys
import fim
path, supp, conf = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
with open(path) as fh:
    tracts = [line.split() for line in fh if line.strip()]
rules = fim.arules(tracts, supp=supp * 100, conf=conf * 100, zmin=2, zmax=10, report="scl", mode="o")
w = csv.writer(sys.stdout)
w.writerow(["rule", "support", "confidence", "lift"])
for cons, ante, s, c, l in rules:
    w.writerow(["{" + ", ".join(ante) + "} => {" + cons + "}", s, c, l])
'''


def load_matrix(dataset: str, cache: Path):
    """The basket matrix of a case (CSR); the 1M Quest set is generated once and cached."""
    import scipy.sparse as sp

    from assoc_pipeline.core.data.basket_line_files import read_fimi

    if dataset in FILES:
        return read_fimi(FILES[dataset]).matrix
    path = cache / f"{dataset}.npz"
    if not path.exists():
        from assoc_pipeline.core.data.quest_baskets import quest_baskets

        sp.save_npz(path, quest_baskets(int(dataset.removeprefix("quest")), seed=0).matrix, compressed=False)
    return sp.load_npz(path).tocsr()


def pyfim_input(x) -> list[list[int]]:
    return [x.indices[x.indptr[i] : x.indptr[i + 1]].tolist() for i in range(x.shape[0])]


def pyfim_digest(result, tracts: list[list[int]], n: int, min_count: int) -> str:
    """Digest of pyfim's itemsets, with the items present in every basket added back."""
    import numpy as np

    from assoc_pipeline.core.mining import FrequentItemsets
    from assoc_pipeline.core.mining.itemsets import levels_from_pairs

    pairs = [(tuple(s), c) for s, c in result]
    singles = {s[0] for s, _ in pairs if len(s) == 1}
    counts = np.bincount(np.fromiter((i for t in tracts for i in t), dtype=np.int64))
    pairs += [((int(i),), n) for i in np.flatnonzero(counts == n) if i not in singles and n >= min_count]
    return FrequentItemsets.from_levels(levels_from_pairs(pairs), n, min_count).digest()


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_worker(tool: str, dataset: str, support: float, cache: Path) -> dict:
    """Subprocess: natural input and warm kernel, then one measured run."""
    from assoc_pipeline.core.mining import min_count_for, mine_itemsets

    x = load_matrix(dataset, cache)
    n = x.shape[0]
    min_count = min_count_for(support, n)
    if tool == "pyfim-fpgrowth":
        import fim

        tracts = pyfim_input(x)
        del x

        def run():
            return fim.fpgrowth(tracts, target="s", supp=-min_count, zmin=1, report="a")
    else:
        for layout in ("vertical", "classes"):  # load the compiled kernel before measuring
            mine_itemsets(x[:200], 1, max_len=3, layout=layout)

        def run():
            return mine_itemsets(x, min_count)

    import ctypes

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed loading buffers back to the OS: Δ = new memory
    before = _hwm_mb()  # the process's high-water mark so far (loading, imports)
    base = _rss_mb()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    result = run()
    peak = _hwm_mb()
    size = len(result)
    return {
        "tool": tool,
        "dataset": dataset,
        "support": support,
        "base_mb": base,
        "peak_mb": peak,
        "delta_mb": peak - base,
        "process_peak_mb": max(before, peak),
        "n_itemsets": size,
    }


def measure_memory(tool: str, dataset: str, support: float, cache: Path) -> dict:
    cmd = [sys.executable, __file__, "--memory-worker", tool, dataset, repr(support), str(cache)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"tool": tool, "error": tail[0][:160]}
    return json.loads(lines[-1])


def timed(fn, collector: bool = True) -> tuple[float, object]:
    """One call of ``fn`` in seconds; ``collector=False`` as ``timeit`` times, the cyclic collector
    off during the call. On (the interpreter's default, what a user's process does), a tool that
    makes many Python objects pays for the collections they trigger: pyfim's 574k result tuples
    on mushroom at 0.1 took 164 ms with it on and 56 ms with it off."""
    if not collector:
        gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out
    finally:
        gc.enable()


def time_case(x, tracts, support: float, repeats: int) -> dict:
    """Interleaved rounds: native, pyfim fpgrowth, pyfim eclat; plus one numpy-kernel run."""
    import fim

    from assoc_pipeline.core.mining import min_count_for, mine_itemsets

    n = x.shape[0]
    min_count = min_count_for(support, n)
    tools = {
        "native": lambda: mine_itemsets(x, min_count),
        "pyfim-fpgrowth": lambda: fim.fpgrowth(tracts, target="s", supp=-min_count, zmin=1, report="a"),
        "pyfim-eclat": lambda: fim.eclat(tracts, target="s", supp=-min_count, zmin=1, report="a"),
    }
    tools["native"]()  # untimed: loads the compiled kernel (numba cache) for this input's types
    runs = [(name, True) for name in tools] + [("native", False), ("pyfim-fpgrowth", False)]
    times: dict[str, list[float]] = {k if on else f"{k} (collector off)": [] for k, on in runs}
    last: dict = {}
    for _ in range(repeats):
        for name, on in runs:
            last.pop(name, None)  # its previous result is freed here, not inside the next timing
            seconds, last[name] = timed(tools[name], collector=on)
            times[name if on else f"{name} (collector off)"].append(seconds)
    numpy_s, fallback = timed(lambda: mine_itemsets(x, min_count, kernel="numpy"))
    digests = {
        "native": last["native"].digest(),
        "numpy kernel": fallback.digest(),
        "pyfim-fpgrowth": pyfim_digest(last["pyfim-fpgrowth"], tracts, n, min_count),
        "pyfim-eclat": pyfim_digest(last["pyfim-eclat"], tracts, n, min_count),
    }
    return {
        "n_itemsets": len(last["native"]),
        "min_count": min_count,
        "times": times,
        "numpy_s": numpy_s,
        "same": len(set(digests.values())) == 1,
        "digests": digests,
    }


def time_rules(x, support: float) -> dict:
    """Mining vs rule derivation (single and multi-consequent, confidence >= 0.5), best of 3:
    the rules as arrays (``derive_rule_arrays``, what the command line writes from) and as the
    ``derive_rules`` table (tuple columns, every measure)."""
    from assoc_pipeline.core.mining import derive_rules, mine_itemsets
    from assoc_pipeline.core.mining.rules import derive_rule_arrays

    def best(fn) -> tuple[float, object]:
        out, ts = None, []
        for _ in range(3):
            out = None  # the previous result is freed here, not inside the timing
            seconds, out = timed(fn)
            ts.append(seconds)
        return min(ts), out

    mine_s, fi = best(lambda: mine_itemsets(x, support))
    fi.levels()  # sorted once, as any first use of the result does
    out = {"mine_s": mine_s, "n_itemsets": len(fi)}
    for name, max_c in (("single", 1), ("multi", None)):
        out[f"{name}_arrays_s"], arrays = best(
            lambda m=max_c: derive_rule_arrays(fi, 0.5, max_consequent_len=m)
        )
        out[f"{name}_s"], table = best(lambda m=max_c: derive_rules(fi, 0.5, max_consequent_len=m))
        out[f"n_{name}"] = len(table)
        assert len(arrays) == len(table)
    return out


def time_cli(tmp: Path, repeats: int) -> dict:
    """Whole commands, alternating: our CLI (default kernel: numpy for a one-shot run of this size;
    and numba) and the plain pyfim script."""
    dat = tmp / "T10I4D100K.dat"
    dat.write_bytes(gzip.decompress(FILES["T10I4D100K"].read_bytes()))
    script = tmp / "pyfim_rules.py"
    script.write_text(PYFIM_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "assoc_pipeline.cli", "mine", str(dat), "--min-support", "0.001"]
    base += ["--min-confidence", "0.5", "--format", "csv"]
    commands = {
        "assoc-pipeline mine (auto kernel)": base,
        "assoc-pipeline mine --kernel numba": [*base, "--kernel", "numba"],
        "plain pyfim script": [sys.executable, str(script), str(dat), "0.001", "0.5"],
    }
    for warm in ("assoc-pipeline mine (auto kernel)", "assoc-pipeline mine --kernel numba"):  # caches
        subprocess.run(commands[warm], env=env, capture_output=True, check=True)
    times: dict[str, list[float]] = {k: [] for k in commands}
    rows: dict[str, int] = {}
    for _ in range(repeats):
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            times[name].append(time.perf_counter() - t0)
            rows[name] = proc.stdout.count("\n") - 1
    return {"times": times, "rules": rows}


def time_gpu(cases: list[tuple[str, float]], cache: Path, device: str, repeats: int) -> str:
    """The GPU path (``device="cuda"``) against the CPU kernel on the 1M-basket cases (median of ``repeats``
    alternating rounds), or one line saying why not: ``device`` "cpu", or no GPU on "auto"/"cuda"."""
    if device == "cpu":
        return "GPU path not requested (`--device cpu`; the default `auto` times it when a GPU is visible)."
    try:
        import torch
    except ImportError:
        return f"`--device {device}`: torch is not installed; the CPU figures stand."
    if not torch.cuda.is_available():
        return f"`--device {device}`: no GPU visible to torch on this machine; the CPU figures stand."
    from assoc_pipeline.core.mining import mine_itemsets

    lines = [
        f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}; median of {repeats} rounds.",
        "",
        "| case | native CPU (s) | GPU path (s) | CPU / GPU | same itemsets |",
        "|---|---|---|---|---|",
    ]
    for ds, sup in cases:
        if not ds.startswith("quest"):
            continue
        x = load_matrix(ds, cache)
        gpu, cpu = mine_itemsets(x, sup, device="cuda"), mine_itemsets(x, sup)  # untimed: warm both
        g_s, c_s = [], []
        for _ in range(repeats):
            gpu = cpu = None
            seconds, gpu = timed(lambda x=x, sup=sup: mine_itemsets(x, sup, device="cuda"))
            g_s.append(seconds)
            seconds, cpu = timed(lambda x=x, sup=sup: mine_itemsets(x, sup))
            c_s.append(seconds)
        g, c = _med(g_s), _med(c_s)
        lines.append(f"| {ds} {sup:g} | {c:.3f} | {g:.3f} | {c / g:.2f} | {gpu.digest() == cpu.digest()} |")
    return "\n".join(lines)


def free_page_reporting() -> str:
    """A sentence when this machine is a VM whose virtio balloon reports free pages to its host
    (feature bit 5, VIRTIO_BALLOON_F_REPORTING), else "". The host then takes back memory the
    guest freed (after about 2 s), and the next first touch of it costs a host fault that the
    guest does not count: on this VM, Quest 1M mined back to back took 0.72 s a run, with 4 s
    between runs 1.2-1.3 s, the same 2,068 page faults and 158 MB of fresh pages each."""
    for dev in Path("/sys/bus/virtio/devices").glob("*"):
        try:
            kind = (dev / "device").read_text().strip()
            features = (dev / "features").read_text().strip()
        except OSError:
            continue
        if kind == "0x0005" and len(features) > 5 and features[5] == "1":
            return (
                " This VM hands freed memory back to its host (virtio-balloon free page reporting):"
                " a run that writes much fresh memory, seconds after the last, is slower by a"
                " varying amount, so the 1M-basket times vary with the host."
            )
    return ""


def _med(ts: list[float]) -> float:
    return statistics.median(ts)


def _spread(ts: list[float]) -> str:
    return f"{min(ts):.3f}–{max(ts):.3f}"


def render(machine: str, cases: list, timing: dict, memory: dict, rules: list, cli: dict, gpu: str) -> str:
    out = [
        "# Mining benchmark",
        "",
        machine,
        "",
        "## Frequent itemsets: native vs Borgelt's C (pyfim 6.28), side by side in one process",
        "",
        "Median of the interleaved rounds (min–max in brackets). 'fp/native' = pyfim fpgrowth time /"
        " native time (> 1: native faster; the issue asks for >= 2), each call in the interpreter's"
        " default state; 'off: fp/native' = the same with the cyclic collector off during each call,"
        " as `timeit` times (pyfim builds one tuple per itemset, and the collections those trigger"
        " are the difference). 'numpy kernel' = the fallback"
        " without numba, one run. 'same' = native, numpy kernel, pyfim fpgrowth and pyfim eclat"
        " return identical (itemset, count) pairs. Memory: 'Δ peak' = resident high-water mark of"
        " one mining run minus the resident size before it (input already in the tool's form, freed"
        " heap returned to the OS first), each tool in its own process; 'peak' = that run's absolute"
        " high-water mark (interpreter, libraries, numba's compiled code, input, mining).",
        "",
        "| dataset | minsup | itemsets | native (s) | pyfim fpgrowth (s) | pyfim eclat (s) | fp/native "
        "| eclat/native | off: native / fp (s) | off: fp/native | numpy kernel (s) | Δ peak native (MB) "
        "| Δ peak pyfim fp (MB) | peak native / pyfim (MB) | same |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ds, sup in cases:
        t = timing[(ds, sup)]
        nat, fp, ec = (_med(t["times"][k]) for k in ("native", "pyfim-fpgrowth", "pyfim-eclat"))
        nat_off, fp_off = (_med(t["times"][f"{k} (collector off)"]) for k in ("native", "pyfim-fpgrowth"))
        mn, mp = memory.get((ds, sup, "native"), {}), memory.get((ds, sup, "pyfim-fpgrowth"), {})

        def mem(m: dict, key: str) -> str:
            return f"{m[key]:.1f}" if key in m else m.get("error", "—")

        out.append(
            f"| {ds} | {sup:g} | {t['n_itemsets']:,} | {nat:.4f} ({_spread(t['times']['native'])}) "
            f"| {fp:.4f} ({_spread(t['times']['pyfim-fpgrowth'])}) | {ec:.4f} | **{fp / nat:.2f}** "
            f"| {ec / nat:.2f} | {nat_off:.4f} / {fp_off:.4f} | **{fp_off / nat_off:.2f}** "
            f"| {t['numpy_s']:.3f} | {mem(mn, 'delta_mb')} | {mem(mp, 'delta_mb')} "
            f"| {mem(mn, 'peak_mb')} / {mem(mp, 'peak_mb')} | {'yes' if t['same'] else 'NO'} |"
        )
    out += [
        "",
        "## Rules vs mining (confidence >= 0.5, best of 3)",
        "",
        "'arrays' = `derive_rule_arrays` (the vectorised derivation: counts and pointers into the"
        " itemsets; what the command line writes from), 'table' = `derive_rules` (the same rules as a"
        " DataFrame with tuple columns and all 11 measures). '/ mining' = time / mining time.",
        "",
        "| case | itemsets | mining (s) | single-consequent rules | arrays (s) | table (s) | table / mining "
        "| all-split rules | arrays (s) | table (s) | table / mining |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, r in rules:
        m = r["mine_s"]
        out.append(
            f"| {case} | {r['n_itemsets']:,} | {m:.3f} | {r['n_single']:,} | {r['single_arrays_s']:.3f} "
            f"| {r['single_s']:.3f} | {r['single_s'] / m:.2f} | {r['n_multi']:,} | {r['multi_arrays_s']:.3f} "
            f"| {r['multi_s']:.3f} | {r['multi_s'] / m:.2f} |"
        )
    if cli:
        out += [
            "",
            "## Command line, end to end (T10I4D100K, min support 0.001, confidence 0.5, CSV to stdout)",
            "",
            "Whole processes (interpreter start, imports, reading, mining, rules, writing), alternating;"
            " median (min–max).",
            "",
            "| command | time (s) | rules written | vs plain pyfim script |",
            "|---|---|---|---|",
        ]
        ref = _med(cli["times"]["plain pyfim script"])
        for name, ts in cli["times"].items():
            row = f"| {name} | {_med(ts):.2f} ({_spread(ts)}) | {cli['rules'][name]:,}"
            out.append(f"{row} | {_med(ts) / ref:.2f}x |")
    out += ["", "## GPU", "", gpu, ""]
    return "\n".join(out)


def main() -> None:
    from results_sections import write_section  # this script's directory (opacus owns "benchmarks")

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="four cases, no 1M-basket set")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--datasets", help="comma-separated subset of the cases' datasets")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    cases = QUICK_CASES if args.quick else FULL_CASES
    if args.datasets:
        cases = [c for c in cases if c[0] in args.datasets.split(",")]
    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    timing: dict = {}
    memory: dict = {}
    rules: list = []
    with tempfile.TemporaryDirectory(prefix="mining-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for ds in dict.fromkeys(d for d, _ in cases):
            x = load_matrix(ds, tmp)
            tracts = pyfim_input(x)
            for d, sup in cases:
                if d != ds:
                    continue
                t = time_case(x, tracts, sup, args.repeats)
                timing[(ds, sup)] = t
                nat, fp = _med(t["times"]["native"]), _med(t["times"]["pyfim-fpgrowth"])
                print(
                    f"{ds:>13} {sup:<7g} itemsets={t['n_itemsets']:>9,} native {nat:.4f} s  "
                    f"fpgrowth {fp:.4f} s  ratio {fp / nat:5.2f}  numpy kernel {t['numpy_s']:.3f} s  "
                    f"same={t['same']}",
                    flush=True,
                )
            if ds in ("T10I4D100K", "quest1000000"):
                sup = min(s for d, s in cases if d == ds)
                rules.append((f"{ds} {sup:g}", time_rules(x, sup)))
                print(f"rules {rules[-1]}", flush=True)
            del x, tracts
        if not args.no_memory:
            for ds, sup in cases:
                for tool in ("native", "pyfim-fpgrowth"):
                    memory[(ds, sup, tool)] = m = measure_memory(tool, ds, sup, tmp)
                    print(f"memory {ds} {sup:g} {tool}: {m}", flush=True)
        cli = {} if args.no_cli else time_cli(tmp, args.repeats)
        if cli:
            print(f"cli {cli}", flush=True)
        gpu = time_gpu(cases, tmp, args.device, args.repeats)
    load_end = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import fim
    import numpy

    try:
        import numba

        numba_v = numba.__version__
    except ImportError:
        numba_v = "not installed (numpy kernel)"
    command = " ".join(["python benchmarks/mining.py", *sys.argv[1:]])
    machine = (
        f"`{command}` on {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, numpy {numpy.__version__}, numba {numba_v}, "
        f"pyfim {getattr(fim, '__version__', '6.28')}; started {started}, "
        f"load average {load_start[0]:.1f} at the start and {load_end[0]:.1f} at the end "
        "(the cores are shared with other jobs: only ratios measured side by side mean anything)."
        + free_page_reporting()
    )
    md = render(machine, cases, timing, memory, rules, cli, gpu)
    print()
    print(md)
    # only the generated section: the reading ("# Mining benchmark: reading") and the other
    # benchmarks' sections stay as they are
    header, _, body = md.partition("\n")
    write_section(args.output, header, body)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-worker":
        _, _, tool_, ds_, sup_, cache_ = sys.argv
        print(json.dumps(memory_worker(tool_, ds_, float(sup_), Path(cache_))))
    else:
        main()
