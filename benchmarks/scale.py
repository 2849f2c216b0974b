"""Scale benchmark: the real Dagster assets on a synthetic 1M .. 10M-event log, stage by stage.

    python benchmarks/scale.py --sizes 1000000 10000000 --scratch /tmp/assoc_scale

For each size: the seeded Quest-style generator (``core/data/synthetic_events.py``) writes one Parquet
file per month (generated month by month: the whole log is never in memory), then every stage
runs in its own child process so that its peak RSS (``ru_maxrss`` from ``os.wait4`` on that
child) is the stage's alone:

* ``generate``   — the monthly Parquet source files;
* ``ingest``     — ``raw_events`` + ``clean_events`` (with their contract checks), one
  ``dg.materialize`` per monthly partition, all in one child process (wall = all partitions,
  peak = the largest partition, plus whatever the interpreter kept from the earlier ones);
* ``baskets``    — the streaming basket builder over the stored clean_events partitions;
* ``split``      — the temporal split asset;
* ``frequent_itemsets`` — native backend;
* ``cf_model``   — BPR matrix factorisation, 1 epoch (+ its refit on train_full), logged to MLflow.

Dagster runs on an ephemeral instance; tables, MLflow store and artifacts live under the scratch
directory. ``raw_events`` must read only its month: when ``assets/ingest.py`` does not yet pass
the partition window to ``EventSourceResource.read``, the benchmark runs the asset's own source
with exactly that one-line change applied (printed as ``ingest asset: ... patched``). Likewise,
when the ``baskets`` asset does not yet stream, ``core.baskets.basket_set_from_partitions`` is
called directly on the IO manager's stored partition paths and the result stored where the asset
would store it. Results are written as JSON per size (``<scratch>/scale_<n>.json``);
``--report`` prints the markdown table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

MONTHS = pd.date_range("2011-01-01", "2012-01-01", freq="MS")  # 12 monthly partitions of 2011
N_ITEMS, N_USERS, AVG_LEN = 2000, 20_000, 5.0  # the defaults of --items / --users
STAGES = ["generate", "ingest", "baskets", "split", "frequent_itemsets", "cf_model"]


# ----------------------------------------------------------------------------- child stages


def _paths(scratch: Path) -> dict[str, Path]:
    return {"source": scratch / "source", "data": scratch / "data"}


def _resources(scratch: Path) -> dict:
    from assoc_pipeline.resources.artifacts import ArtifactStore
    from assoc_pipeline.resources.ease_cache import EaseCacheResource
    from assoc_pipeline.resources.event_source import EventSourceResource
    from assoc_pipeline.resources.mlflow_tracking import MLflowResource
    from assoc_pipeline.resources.pseudonymiser import PseudonymiserResource
    from assoc_pipeline.resources.storage import ParquetIOManager
    from assoc_pipeline.resources.text_encoder import TextEncoderResource

    p = _paths(scratch)
    return {
        "text_encoder": TextEncoderResource(cache_path=str(p["data"] / "cache" / "text_embeddings.parquet")),
        "io_manager": ParquetIOManager(base_dir=str(p["data"] / "assets")),
        "artifacts": ArtifactStore(base_dir=str(p["data"] / "artifacts")),
        "event_source": EventSourceResource(path=str(p["source"])),
        "pseudonymiser": PseudonymiserResource(key=""),
        "ease_cache": EaseCacheResource(directory=str(p["data"] / "cache" / "ease")),
        "mlflow": MLflowResource(
            tracking_uri=f"sqlite:///{p['data'] / 'mlflow.db'}",
            artifact_root=str(p["data"] / "mlartifacts"),
            experiment="assoc-scale-bench",
        ),
    }


WITHOUT_ENV = "ASSOC_SCALE_WITHOUT_MODELS"  # --without-models, seen by every child


def _assets() -> list:
    """The project's assets, less the training assets of the model types named in --without-models
    (the evaluation report, champion and recommendations then compare the others)."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES
    from assoc_pipeline.definitions import all_assets, assets_for

    skip = {n for n in os.environ.get(WITHOUT_ENV, "").split(",") if n}
    return assets_for(t for t in MODEL_TYPES.values() if t.name not in skip) if skip else all_assets


def _partition_keys() -> list[str]:
    return [f"{m:%Y-%m-%d}" for m in MONTHS[:-1]]


def stage_generate(scratch: Path, n_events: int, n_items: int = N_ITEMS, n_users: int = N_USERS) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assoc_pipeline.core.data.synthetic_events import synthetic_events

    source = _paths(scratch)["source"]
    source.mkdir(parents=True, exist_ok=True)
    per_month = n_events // (len(MONTHS) - 1)
    rows = baskets = 0
    for k, (lo, hi) in enumerate(itertools.pairwise(MONTHS)):
        ev = synthetic_events(
            per_month,
            n_items=n_items,
            n_users=n_users,
            avg_basket_len=AVG_LEN,
            start=f"{lo:%Y-%m-%d}",
            end=f"{hi:%Y-%m-%d}",
            seed=1000 + k,
        )
        ev["basket_id"] = f"M{lo:%y%m}-" + ev["basket_id"]  # ids unique across months
        pq.write_table(
            pa.Table.from_pandas(ev, preserve_index=False),
            source / f"events_{lo:%Y-%m}.parquet",
            row_group_size=100_000,
        )
        rows += len(ev)
        baskets += ev["basket_id"].nunique()
        print(f"  generate {lo:%Y-%m}: {len(ev):,} events", flush=True)
        del ev
    return {"events": rows, "baskets_generated": baskets}


def _materialize(
    scratch: Path, targets: list[str], run_config: dict | None = None, partition: str | None = None
):
    """Materialize ``targets`` of the project's Definitions on the scratch data dir (ephemeral instance)."""
    import dagster as dg

    from assoc_pipeline.definitions import all_checks

    result = dg.materialize(
        [*_assets(), *all_checks],
        selection=[dg.AssetKey(t) for t in targets],
        partition_key=partition,
        resources=_resources(scratch),
        instance=dg.DagsterInstance.ephemeral(),
        run_config=run_config,
    )
    assert result.success
    return result


def stage_ingest(scratch: Path, partitions: str) -> dict:
    """raw_events + clean_events of each partition, one ``dg.materialize`` per partition."""
    out = {"raw_rows": 0, "clean_rows": 0, "checks_passed": True, "checks": 0, "walls": []}
    for partition in partitions.split(","):
        t0 = time.perf_counter()
        result = _materialize(scratch, ["raw_events", "clean_events"], partition=partition)
        rows = {
            e.materialization.asset_key.to_user_string(): e.materialization.metadata[
                "dagster/row_count"
            ].value
            for e in result.get_asset_materialization_events()
        }
        checks = [e.passed for e in result.get_asset_check_evaluations()]
        out["raw_rows"] += int(rows["raw_events"])
        out["clean_rows"] += int(rows["clean_events"])
        out["checks_passed"] &= bool(checks) and all(checks)  # every contract and data-loss check
        out["checks"] += len(checks)
        out["walls"].append(time.perf_counter() - t0)
        print(f"  ingest {partition}: {rows['raw_events']:,} raw, {out['walls'][-1]:.1f} s", flush=True)
    return out


def stage_baskets(scratch: Path) -> dict:
    from assoc_pipeline.core.data.baskets import load_basket_set

    _materialize(scratch, ["baskets"])
    bs = load_basket_set(_resources(scratch)["io_manager"].stored_path("baskets").with_suffix(""))
    return {"baskets": bs.n_baskets, "items": bs.n_items, "nnz": int(bs.matrix.nnz), "baskets_via": "asset"}


def stage_baskets_pandas(scratch: Path) -> dict:
    """For comparison: the current asset's path (all partitions concatenated in pandas)."""
    from assoc_pipeline.core.data.baskets import basket_set_from_events
    from assoc_pipeline.core.tables import read_table

    io = _resources(scratch)["io_manager"]
    paths = [p for p in (io.stored_path("clean_events", k) for k in _partition_keys()) if p.exists()]
    events = pd.concat([read_table(p) for p in paths], ignore_index=True)
    bs = basket_set_from_events(events)
    return {"baskets": bs.n_baskets}


def _materialize_downstream(scratch: Path, target: str, run_config: dict | None = None) -> object:
    result = _materialize(scratch, [target], run_config)
    mats = [e.materialization for e in result.get_asset_materialization_events()]
    return {k: v.value for k, v in mats[0].metadata.items() if isinstance(v.value, int | float | str | bool)}


def stage_split(scratch: Path) -> dict:
    meta = _materialize_downstream(scratch, "split")
    return {k: v for k, v in meta.items() if k.startswith(("n_", "train", "validation", "test"))}


def stage_frequent_itemsets(scratch: Path, min_support: float) -> dict:
    cfg = {"ops": {"frequent_itemsets": {"config": {"min_support": min_support, "backend": "native",
                                                     "incremental": False}}}}  # fmt: skip
    meta = _materialize_downstream(scratch, "frequent_itemsets", cfg)
    return {"min_support": min_support, "itemsets": meta.get("dagster/row_count")}


def stage_cf_model(scratch: Path, epochs: int, run_config: str | None = None) -> dict:
    cfg = {"ops": {"cf_model": {"config": {"epochs": epochs, "patience": 0, "threads": 2}}}}
    if run_config:  # --whole-graph: the same config as the other models (budget, pruning)
        cfg = {"ops": {"cf_model": json.loads(run_config)["ops"]["cf_model"]}}
    meta = _materialize_downstream(scratch, "cf_model", cfg)
    return {"epochs": epochs, **{k: v for k, v in meta.items() if "ndcg" in k.lower() or k == "best_epoch"}}


# ----------------------------------------------------------------------------- whole graph

DONE_BY_STAGES = {"raw_events", "clean_events", "baskets", "split", "frequent_itemsets", "cf_model"}


def whole_graph_config(min_item_baskets: int, epochs: int, budget_s: float) -> dict:
    """The run config a user would set for a 100k-item run: short training (``epochs``, a time
    budget per model), item pruning for every trained model, GAN / synthetic data kept small."""
    from assoc_pipeline.core.recsys.model_types import MODEL_TYPES

    ops: dict[str, dict] = {}
    for t in MODEL_TYPES.values():
        cfg = {"epochs": epochs, "patience": 0, "threads": 2, "time_budget_s": budget_s}
        if "min_item_baskets" in t.param_fields():  # the ranker re-ranks candidates: no item tables
            cfg["min_item_baskets"] = min_item_baskets
        ops[t.asset_name] = {"config": cfg}
    ops["finetuned_model"] = {"config": {"epochs": epochs}}
    ops["gan_model"] = {"config": {"epochs": epochs, "eval_samples": 200, "time_budget_s": budget_s}}
    ops["synthetic_baskets"] = {"config": {"utility_epochs": 1}}
    return {"ops": ops}


def downstream_order() -> list[str]:
    """Every asset of the project's Definitions not built by the earlier stages, in topological order."""
    from graphlib import TopologicalSorter

    deps = {}
    for a in _assets():
        for key in a.keys:
            deps[key.to_user_string()] = {k.to_user_string() for k in a.asset_deps[key]}
    order = list(TopologicalSorter(deps).static_order())
    return [k for k in order if k in deps and k not in DONE_BY_STAGES]


def stage_asset(scratch: Path, asset: str, run_config: str) -> dict:
    """One downstream asset (with its checks) on the stored upstream assets."""
    cfg = json.loads(run_config) if run_config else {}
    node = cfg.get("ops", {}).get(asset)
    meta = _materialize_downstream(scratch, asset, {"ops": {asset: node}} if node else None)
    keep = ("dagster/row_count", "items_kept", "stopped_by", "best_epoch", "n_", "promoted")
    return {k: v for k, v in meta.items() if any(w in k for w in keep)}


def child_main(args: argparse.Namespace) -> None:
    scratch = Path(args.scratch)
    fn = {
        "generate": lambda: stage_generate(scratch, args.n_events, args.items, args.users),
        "ingest": lambda: stage_ingest(scratch, args.partitions),
        "baskets": lambda: stage_baskets(scratch),
        "baskets_pandas": lambda: stage_baskets_pandas(scratch),
        "split": lambda: stage_split(scratch),
        "frequent_itemsets": lambda: stage_frequent_itemsets(scratch, args.min_support),
        "cf_model": lambda: stage_cf_model(scratch, args.epochs, args.run_config),
        "asset": lambda: stage_asset(scratch, args.asset, args.run_config),
    }[args.stage]
    out = fn()
    Path(args.result).write_text(json.dumps(out, default=str))


# ----------------------------------------------------------------------------- parent


def run_child(stage: str, scratch: Path, **extra: object) -> dict:
    """Run one stage in a fresh interpreter; wall time and that child's own peak RSS."""
    result = scratch / f".{stage}{extra.get('asset', '')}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--scratch", str(scratch),
           "--result", str(result)]  # fmt: skip
    for k, v in extra.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "DAGSTER_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
           "GX_ANALYTICS_ENABLED": "false", "TQDM_DISABLE": "1"}  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"stage {stage} {extra} failed with exit code {proc.returncode}")
    info = json.loads(result.read_text())
    result.unlink()
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, **info}


def size_name(n_events: int, n_items: int = N_ITEMS, n_users: int = N_USERS) -> str:
    """``<n>`` for the old 2,000-item / 20,000-user tables, else ``<n>_i<items>_u<users>``."""
    return str(n_events) if (n_items, n_users) == (N_ITEMS, N_USERS) else f"{n_events}_i{n_items}_u{n_users}"


def run_size(
    n_events: int,
    scratch_root: Path,
    min_support: float,
    epochs: int,
    pandas_baskets: bool,
    n_items: int = N_ITEMS,
    n_users: int = N_USERS,
    run_config: dict | None = None,
    start_at: str | None = None,
) -> dict:
    """The stages of one size; with ``run_config`` (``--whole-graph``) every other asset after them.
    ``start_at``: keep the scratch data and the stored figures, run from that stage / asset on."""
    name = size_name(n_events, n_items, n_users)
    scratch = scratch_root / f"n{name}"
    stored = scratch_root / f"scale_{name}.json"
    downstream = downstream_order() if run_config else []  # imported now, not mid-run
    if start_at:
        previous = json.loads(stored.read_text())["stages"]
        plan = [*STAGES, *downstream]
        earlier = plan[: plan.index(start_at)]
    if scratch.exists() and not start_at:
        import shutil

        shutil.rmtree(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    stages: dict[str, dict] = {k: previous[k] for k in earlier if k in previous} if start_at else {}
    print(f"== {n_events:,} events, {n_items:,} items, {n_users:,} users -> {scratch}", flush=True)
    out = {
        "n_events": n_events,
        "n_items": n_items,
        "n_users": n_users,
        "host": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run_config": run_config,
        "stages": stages,
    }

    def save() -> None:  # after every stage: a run stopped for time still leaves its table
        out["stages_wall_s"] = sum(s["wall_s"] for s in stages.values() if "wall_s" in s)
        stored.write_text(json.dumps(out, indent=1, default=str))

    if "generate" not in stages:
        stages["generate"] = run_child("generate", scratch, n_events=n_events, items=n_items, users=n_users)
        print(f"generate: {stages['generate']}", flush=True)
    if "ingest" not in stages:
        r = run_child("ingest", scratch, partitions=",".join(_partition_keys()))
        walls = r.pop("walls")
        stages["ingest"] = {**r, "partitions": len(walls), "max_partition_wall_s": max(walls)}
        print(f"ingest: {stages['ingest']}", flush=True)
        save()
    config = {"run_config": json.dumps(run_config)} if run_config else {}
    for stage in [s for s in STAGES[2:] if s not in stages]:
        extra = {"min_support": min_support} if stage == "frequent_itemsets" else {}
        extra = {"epochs": epochs, **config} if stage == "cf_model" else extra
        stages[stage] = run_child(stage, scratch, **extra)
        print(f"{stage}: {stages[stage]}", flush=True)
        save()
    if pandas_baskets:
        stages["baskets (pandas concat, for comparison)"] = run_child("baskets_pandas", scratch)
    if run_config:
        for asset in [a for a in downstream if a not in stages]:
            stages[asset] = run_child("asset", scratch, asset=asset, **config)
            print(f"{asset}: {stages[asset]}", flush=True)
            save()
    save()
    return out


def _items_label(result: dict) -> str:
    n = result.get("n_items", N_ITEMS)
    return "" if n == N_ITEMS else f"/{n // 1000}k items"


def table(results: list[dict]) -> str:
    """stage | <size> wall s | <size> peak RSS MB | ... | growth (last / first)."""
    results = sorted(results, key=lambda r: r["n_events"])
    sizes = [f"{r['n_events'] / 1e6:g}M" + _items_label(r) for r in results]
    head = ["stage"] + [f"{s} {w}" for s in sizes for w in ("wall s", "peak RSS MB")]
    if len(results) > 1:
        head += [f"growth {sizes[-1]}/{sizes[0]} wall", f"growth {sizes[-1]}/{sizes[0]} peak RSS"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(k for r in results for k in r["stages"]))
    for name in names:
        row = [name]
        for r in results:
            s = r["stages"].get(name)
            row += [f"{s['wall_s']:.1f}", f"{s['peak_rss_mb']:.0f}"] if s else ["-", "-"]
        a, b = results[0]["stages"].get(name), results[-1]["stages"].get(name)
        if len(results) > 1:
            row += (
                [f"{b['wall_s'] / a['wall_s']:.1f}x", f"{b['peak_rss_mb'] / a['peak_rss_mb']:.1f}x"]
                if a and b
                else ["-", "-"]
            )
        lines.append("| " + " | ".join(row) + " |")
    if len(results) == 1 and results[0].get("run_config"):
        peak = max(s["peak_rss_mb"] for s in results[0]["stages"].values())
        lines.append(
            f"| **whole graph (sum)** | **{results[0]['stages_wall_s']:.0f}** | **{peak:.0f}** (max) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--scratch", default="/tmp/assoc_scale")
    ap.add_argument("--min-support", type=float, default=0.0002)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--items", type=int, default=N_ITEMS, help="catalogue size of the synthetic log")
    ap.add_argument("--users", type=int, default=N_USERS, help="customers of the synthetic log")
    ap.add_argument(
        "--whole-graph",
        action="store_true",
        help="after the stages, every other asset of the Definitions, each in its own child",
    )
    ap.add_argument(
        "--min-item-baskets", type=int, default=1, help="--whole-graph: item pruning of the models"
    )
    ap.add_argument(
        "--budget-s", type=float, default=60.0, help="--whole-graph: time budget per trained model"
    )
    ap.add_argument(
        "--without-models", default="", help="--whole-graph: leave these model types out, e.g. ranker"
    )
    ap.add_argument("--set", nargs="*", help="--whole-graph: more config, ASSET.KEY=JSON_VALUE")
    ap.add_argument("--start-at", help="rerun one size from this stage / asset on, on its stored data")
    ap.add_argument("--pandas-baskets", action="store_true", help="also time the pandas-concat baskets path")
    ap.add_argument("--report", type=int, nargs="*", help="only print the table of these stored sizes")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--n-events", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--partitions", help=argparse.SUPPRESS)
    ap.add_argument("--asset", help=argparse.SUPPRESS)
    ap.add_argument("--run-config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.stage = args.child
        child_main(args)
        return
    if args.report is not None:
        sizes = [size_name(n, args.items, args.users) for n in args.report or args.sizes]
        print(table([json.loads((Path(args.scratch) / f"scale_{n}.json").read_text()) for n in sizes]))
        return
    if args.without_models:
        os.environ[WITHOUT_ENV] = args.without_models
        print(f"without the training assets of: {args.without_models}", flush=True)
    run_config = None
    if args.whole_graph:
        run_config = whole_graph_config(args.min_item_baskets, args.epochs, args.budget_s)
        for item in args.set or []:  # e.g. ranker_model.ease_max_items=2000
            path, value = item.split("=", 1)
            asset, key = path.split(".", 1)
            run_config["ops"].setdefault(asset, {"config": {}})["config"][key] = json.loads(value)
        print(f"whole-graph run config: {json.dumps(run_config)}", flush=True)
    results = [
        run_size(
            n,
            Path(args.scratch),
            args.min_support,
            args.epochs,
            args.pandas_baskets,
            args.items,
            args.users,
            run_config,
            args.start_at,
        )
        for n in args.sizes
    ]
    print(table(results))


if __name__ == "__main__":
    main()
