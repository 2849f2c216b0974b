"""`assoc-pipeline` — the command line: demo, ui, mlflow, mine, recommend, serve, ab-replay, bench."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assoc_pipeline.core.errors import InputError

if TYPE_CHECKING:
    from assoc_pipeline.core.data.basket_arrays import BasketArrays
    from assoc_pipeline.core.data.cleaning import CleaningReport
    from assoc_pipeline.settings import Settings


def _cmd_demo(args: argparse.Namespace) -> int:
    # the flags become the settings' environment before anything reads the settings (the
    # partitions of the Definitions are built from the source's months at import)
    if args.source:
        source = Path(args.source).expanduser().resolve()
        if not source.exists():
            raise InputError(f"--source {args.source}: file or folder not found")
        os.environ["ASSOC_SOURCE"] = str(source)
    if args.format:
        os.environ["ASSOC_SOURCE_FORMAT"] = args.format
    if args.map:
        from assoc_pipeline.settings import parse_mapping

        parse_mapping(args.map, "--map")  # a malformed mapping is named before anything runs
        os.environ["ASSOC_COLUMN_MAP"] = args.map
    from assoc_pipeline.demo import format_summary, run_demo

    partitions = args.partitions.split(",") if args.partitions else None
    print(format_summary(run_demo(partitions, workers=args.workers)))
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from assoc_pipeline.dagster_home import ensure_dagster_home
    from assoc_pipeline.settings import project_root

    home = ensure_dagster_home()
    print(f"Dagster UI on http://{args.host}:{args.port} (instance: {home})", flush=True)
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(project_root() / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    # `dagster dev` starts the webserver and daemon as child processes: keep our venv first on PATH
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.call(cmd, env=env)


def mlflow_server_command(settings: Settings, host: str = "127.0.0.1", port: int = 5000) -> list[str]:
    """`mlflow server` on the project's tracking store (one worker); `make mlflow` and the UI tests.

    Run it with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false, or the server starts 8 job workers.
    """
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", settings.mlflow_tracking_uri,
        "--default-artifact-root", settings.mlflow_artifact_root.as_uri(),
        "--host", host, "--port", str(port), "--workers", "1",
    ]  # fmt: skip


def _cmd_mlflow(args: argparse.Namespace) -> int:
    from assoc_pipeline.settings import get_settings, redact_uri

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    print(
        f"MLflow UI on http://{args.host}:{args.port} (store: {redact_uri(s.mlflow_tracking_uri)})",
        flush=True,
    )
    return subprocess.call(mlflow_server_command(s, args.host, args.port))


MINE_FORMATS = ("auto", "online_retail", "events", "basket_lines", "fimi")


def _write_csv(columns: dict[str, Sequence], fh) -> None:
    """CSV of ``columns`` (name -> values) as pandas would write it, built column by column
    (pandas' float formatting took 2 s of a 72k-rule run): numbers by ``repr`` (once per distinct
    value: supports and confidences repeat a lot), text quoted when it needs it."""
    import numpy as np

    cols = []
    for values in columns.values():
        if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
            # distinct by bit pattern, so -0.0 and 0.0 keep their own text
            bits = values.astype(np.float64).view(np.int64) if values.dtype.kind == "f" else values
            _, first, at = np.unique(bits, return_index=True, return_inverse=True)
            cols.append(np.array(list(map(repr, values[first].tolist())), dtype=object)[at].tolist())
        else:
            cols.append(
                [
                    '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v or "\n" in v) else v
                    for v in map(str, values)
                ]
            )
    fh.write(",".join(columns) + "\n")
    if cols and len(cols[0]):
        fh.write("\n".join(map(",".join, zip(*cols, strict=True))) + "\n")


def _cmd_mine(args: argparse.Namespace) -> int:
    """Mine a file and print or write its rules. Loads neither pandas nor scipy for a basket file
    written as CSV to stdout: their imports alone took longer than reading and mining."""
    import time

    import numpy as np

    from assoc_pipeline.core.mining.itemsets import support_setting
    from assoc_pipeline.core.mining.rule_pipeline import check_rule_settings

    # settings first: a typo should not wait for the file to load
    support_setting(args.min_support)
    check_rule_settings(min_confidence=args.min_confidence, min_lift=args.min_lift)
    if args.max_len < 1:
        raise InputError(f"max_len must be >= 1 (the largest itemset, arules' maxlen), got {args.max_len}")
    if args.input_format not in MINE_FORMATS:
        raise InputError(f"input_format must be one of {', '.join(MINE_FORMATS)}, got {args.input_format!r}")
    if args.device == "cuda":
        _check_gpu_settings(args)
    if args.output:
        _check_output(args)
    if args.level != 2 and not args.categories:
        raise InputError(f"--level {args.level} applies to --categories only")

    from assoc_pipeline.core.mining.api import mine_itemsets
    from assoc_pipeline.core.mining.native_backend import kernel_for_one_run
    from assoc_pipeline.core.mining.rule_pipeline import labelled_frame, select_rules

    to_stdout = args.format == "csv" and not args.output
    log = sys.stderr if to_stdout else sys.stdout
    progress = sys.stderr.isatty()
    started = time.perf_counter()
    if progress:
        print("mine: reading baskets ...", file=sys.stderr, flush=True)
    baskets, report = _mine_input(args)
    support = support_setting(args.min_support, baskets.n_baskets)
    if progress:
        print(f"mine: itemsets ({args.backend}) ...", file=sys.stderr, flush=True)
    options = {}
    if args.backend == "native":
        kernel = args.kernel if args.device == "cuda" else kernel_for_one_run(args.kernel, baskets.nnz)
        options = {"kernel": kernel, "device": args.device}
    fi = mine_itemsets(baskets, support, max_len=args.max_len, backend=args.backend, **options)
    if progress:
        print("mine: rules ...", file=sys.stderr, flush=True)
    rules, _ = select_rules(
        fi,
        args.min_confidence,
        max_consequent_len=None if args.multi_consequent else 1,
        min_lift=args.min_lift,
        prune_redundant=args.prune_redundant,
    )
    seconds = time.perf_counter() - started
    columns = ["rule", "support", "confidence", "lift", "count", "leverage", "conviction"]
    summary = [
        f"input     : {args.input} ({baskets.n_baskets:,} baskets, {baskets.n_items:,} items)",
        f"itemsets  : {len(fi):,} (min count {fi.min_count}, backend {args.backend}"
        + (", on the GPU)" if args.device == "cuda" else ")"),
        f"rules     : {len(rules):,} with confidence >= {args.min_confidence}"
        + (f" and lift >= {args.min_lift}" if args.min_lift is not None else ""),
        f"time      : {seconds:.2f} s",
    ]
    if report is not None:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in report.dropped.items() if n)
        summary.insert(
            1,
            f"cleaning  : kept {report.kept_rows:,} of {report.raw_rows:,} event rows"
            + (f" (dropped: {reasons})" if reasons else ""),
        )
    if to_stdout:
        measures = rules.measures(("support", "confidence", "lift", "leverage", "conviction"))
        text = rules.rule_texts(baskets.labels)
        _write_csv(
            {c: text if c == "rule" else rules.count if c == "count" else measures[c] for c in columns},
            sys.stdout,
        )
    elif args.output:
        frame = labelled_frame(rules, baskets.labels)
        # the sides as item labels (the file's ids or names), not as the matrix's column positions
        out = frame.assign(antecedent=frame["antecedent_names"], consequent=frame["consequent_names"]).drop(
            columns=["antecedent_names", "consequent_names"]
        )
        if args.output.lower().endswith(".parquet"):
            from assoc_pipeline.core.tables import write_table

            write_table(out, args.output)
        else:  # arules' DATAFRAME(rules, separate = TRUE) form: {a,b}
            out.assign(
                antecedent=out["antecedent"].map(lambda t: "{" + ",".join(t) + "}"),
                consequent=out["consequent"].map(lambda t: "{" + ",".join(t) + "}"),
            ).to_csv(args.output, index=False)
        summary.append(f"written   : {args.output}")
    print("\n".join(summary), file=log)
    if not to_stdout and len(rules):
        top = labelled_frame(rules.take(np.arange(min(10, len(rules)))), baskets.labels)
        print("\ntop rules by lift:\n" + top[columns[:5]].round(4).to_string(index=False), file=log)
    return 0


def _mine_mapping(args: argparse.Namespace) -> dict[str, str] | None:
    """The event log's column names: ``--map``, else ASSOC_COLUMN_MAP or the project file's
    [column_mapping], as every other command reads them; none for a FIMI file."""
    from assoc_pipeline.settings import parse_mapping, project_column_mapping

    if args.map:
        return parse_mapping(args.map, "--map")
    if args.input_format == "fimi" or args.input.lower().endswith((".dat", ".dat.gz")):
        return None
    return project_column_mapping() or None


def _check_output(args: argparse.Namespace) -> None:
    """``--output`` that could not be written, checked before the mining it would waste."""
    path = Path(args.output)
    if args.format == "csv":
        raise InputError(f"--format csv writes the rules to stdout and --output {path} to a file: use one")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--output {path}: expected a .csv or .parquet file name")
    if path.is_dir():
        raise InputError(f"--output {path}: is a folder, expected a file name")
    if not path.parent.is_dir():
        raise InputError(f"--output {path}: folder {path.parent} does not exist")


def _check_gpu_settings(args: argparse.Namespace) -> None:
    """``--device cuda`` with settings it cannot honour, or without a GPU: one line, before the
    file is read."""
    if args.backend != "native":
        raise InputError(
            f"--device cuda runs the native backend's GPU path; --backend {args.backend} runs on the CPU"
        )
    if args.kernel != "auto":
        raise InputError(
            f"--kernel {args.kernel} runs on the CPU; --device cuda runs the GPU path (leave --kernel auto)"
        )
    from assoc_pipeline.core.mining.apriori_torch import cuda_device

    cuda_device(cpu_setting="--device cpu")


def _mine_input(args: argparse.Namespace) -> tuple[BasketArrays, CleaningReport | None]:
    """The baskets ``mine`` works on: the file's, or its items' categories (``--categories``)."""
    from assoc_pipeline.core.data.baskets_from_file import basket_arrays_of, load_basket_arrays, load_baskets

    mapping = _mine_mapping(args)
    if not args.categories:
        return load_basket_arrays(args.input, args.input_format, mapping)
    # multi-level rules: mine the items' categories (arules' aggregate)
    from assoc_pipeline.core.mining.aggregate import aggregate_baskets
    from assoc_pipeline.core.mining.categories import load_label_hierarchy

    bs, report = load_baskets(args.input, args.input_format, mapping=mapping)
    bs = aggregate_baskets(bs, load_label_hierarchy(args.categories, args.level))
    return basket_arrays_of(bs), report


def _cmd_example_log(args: argparse.Namespace) -> int:
    from assoc_pipeline.core.data.example_retailer import COLUMN_MAPPING, example_retailer_log

    if args.customers < 1:
        raise InputError(f"--customers must be >= 1, got {args.customers}")
    out = Path(args.output)
    if out.suffix not in (".csv", ".parquet"):
        raise InputError(f"{args.output}: write a .csv or a .parquet file")
    out.parent.mkdir(parents=True, exist_ok=True)
    log = example_retailer_log(n_customers=args.customers)
    log.to_parquet(out, index=False) if out.suffix == ".parquet" else log.to_csv(out, index=False)
    mapping = ",".join(f"{k}={v}" for k, v in COLUMN_MAPPING.items())
    orders, customers = log["order_id"].nunique(), log["customer"].nunique()
    print(f"{out}: {len(log):,} order lines, {orders:,} orders, {customers:,} customers")
    print(f"run it:  assoc-pipeline demo --source {out} --format events --map {mapping}")
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    from assoc_pipeline.services.model_registry import champion_alias
    from assoc_pipeline.services.stored_recommendations import stored_answer
    from assoc_pipeline.settings import get_settings

    if args.user is None and args.items is None:
        raise InputError("recommend: give --user (next basket), --items (basket completion) or both")
    settings = get_settings()
    assets_dir = settings.data_dir / "assets"
    answer = None
    anonymous_query = args.user is None or args.items is None  # the asset's rows hold no customer's basket
    alias = champion_alias(settings.mlflow_tracking_uri)  # without MLflow, when the store allows
    if args.k >= 1 and anonymous_query and alias.sure:
        answer = stored_answer(assets_dir, args.user, args.items, args.k, champion=alias.version)
    if answer is None:
        from assoc_pipeline.core.recsys.baselines.ease import share_on_disk
        from assoc_pipeline.core.recsys.baselines.ease_disk_cache import EaseDiskCache
        from assoc_pipeline.resources import build_resources
        from assoc_pipeline.services.recommendations import recommend_command

        share_on_disk(EaseDiskCache(settings.ease_cache_dir))  # inverses the pipeline computed
        answer = recommend_command(
            lambda: build_resources(settings)["mlflow"],
            settings.mlflow_tracking_uri,
            assets_dir,
            user=args.user,
            items=args.items,
            k=args.k,
        )
    print(answer)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from assoc_pipeline.core.experiments.assignment import check_share
    from assoc_pipeline.serving.server import serve
    from assoc_pipeline.settings import get_settings

    if args.poll_seconds < 0:
        raise InputError(f"--poll-seconds must be >= 0 (0: no hot reload), got {args.poll_seconds}")
    share = args.challenger_share
    share = None if share is None else check_share(share, "--challenger-share")
    serve(
        get_settings(), host=args.host, port=args.port, poll_seconds=args.poll_seconds,
        challenger=args.challenger, challenger_share=share,
    )  # fmt: skip
    return 0


def _cmd_ab_replay(args: argparse.Namespace) -> int:
    import dataclasses

    from assoc_pipeline.core.experiments.assignment import check_share
    from assoc_pipeline.core.experiments.exposure_table import EXPOSURES_DIR
    from assoc_pipeline.resources import build_resources
    from assoc_pipeline.services.ab_report import ABReportSettings, build_ab_report, load_stored_baskets
    from assoc_pipeline.serving.ab_replay import replay
    from assoc_pipeline.serving.scoring import check_k
    from assoc_pipeline.settings import get_settings

    settings = get_settings()
    challenger = args.challenger or settings.ab_test.get("challenger")
    if not challenger:
        raise InputError("ab-replay: name the challenger version (--challenger 7, or [ab_test] challenger)")
    check_k(args.k)
    share = check_share(args.share, "--share")
    report = ABReportSettings(window_days=args.window_days)
    assets = settings.data_dir / "assets"
    tracker = build_resources(settings)["mlflow"]
    summary = replay(tracker, assets, str(challenger), share, args.experiment, args.k)
    print("\n".join(f"{k:<18}: {v}" for k, v in summary.items()))
    report = dataclasses.replace(report, experiment=summary["experiment"])
    _, metadata = build_ab_report(assets / EXPOSURES_DIR, lambda: load_stored_baskets(assets), report)
    print(f"\n{metadata['report']}\n\n(materialize `ab_report` to see it in Dagster)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assoc-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="materialize the whole asset graph on the shipped sample data")
    demo.add_argument(
        "--partitions", help="comma-separated monthly partition keys (default: all in the source)"
    )
    demo.add_argument(
        "--source", help="your event log: a file or a folder of files (default: the shipped log)"
    )
    demo.add_argument(
        "--format", choices=["auto", "online_retail", "events", "basket_lines", "fimi"], help="source format"
    )
    demo.add_argument(
        "--map",
        help="column mapping canonical=yours, comma-separated "
        "(e.g. event_time=ts,basket_id=order_id,item_id=sku)",
    )
    demo.add_argument(
        "--workers",
        type=int,
        default=1,
        help="downstream steps side by side, each in its own process (default 1: all in this process; "
        "2 or more pays on 4+ cores, not on 2)",
    )
    demo.set_defaults(func=_cmd_demo)

    ui = sub.add_parser("ui", help="Dagster UI (webserver + daemon) on the embedded instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    mine = sub.add_parser("mine", help="frequent itemsets and rules of any supported input file")
    mine.add_argument(
        "input", help="Online Retail CSV/XLSX, event CSV/Parquet, one-basket-per-line CSV, FIMI .dat"
    )
    mine.add_argument("--input-format", default="auto", help=" | ".join(MINE_FORMATS))
    mine.add_argument(
        "--map",
        help="an event log's column mapping canonical=yours, comma-separated (default: ASSOC_COLUMN_MAP "
        "or the project file's [column_mapping])",
    )
    mine.add_argument(
        "--min-support", type=float, required=True, help="fraction of baskets, or a count if >= 1"
    )
    mine.add_argument("--min-confidence", type=float, default=0.8, help="in [0, 1]")
    mine.add_argument("--min-lift", type=float, default=None, help="keep rules with lift >= this")
    mine.add_argument("--max-len", type=int, default=10, help="largest itemset (arules' maxlen)")
    mine.add_argument("--backend", default="native", choices=["native", "mlxtend", "spark"])
    mine.add_argument(
        "--kernel",
        default="auto",
        choices=["auto", "numba", "numpy"],
        help="native backend: compiled (numba) or numpy kernel; auto: numpy under 5M basket-item "
        "entries (loading numba costs more than it saves there), else numba when installed",
    )
    mine.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="native backend: cuda mines on the GPU (level-wise Apriori in torch; for a million "
        "baskets or more, see docs/mining.md); auto and cpu mine on the CPU",
    )
    mine.add_argument(
        "--multi-consequent", action="store_true", help="also rules with several consequent items"
    )
    mine.add_argument("--prune-redundant", action="store_true", help="drop rules as arules is.redundant")
    mine.add_argument(
        "--categories",
        help="folder of arules-style label files (Groceries.labels, Groceries.cat1/cat2.labels): "
        "mine rules between the items' categories instead of the items",
    )
    mine.add_argument("--level", type=int, default=2, help="category level with --categories (1 or 2)")
    mine.add_argument("--output", help="rules.csv or rules.parquet")
    mine.add_argument("--format", choices=["table", "csv"], default="table", help="csv: rules to stdout")
    mine.set_defaults(func=_cmd_mine)

    example = sub.add_parser(
        "example-log", help="write another retailer's example event log (own column names, 7-digit ids)"
    )
    example.add_argument("output", help="orders.csv or orders.parquet")
    example.add_argument("--customers", type=int, default=800)
    example.set_defaults(func=_cmd_example_log)

    mlflow = sub.add_parser("mlflow", help="MLflow UI on the local tracking store")
    mlflow.add_argument("--host", default="127.0.0.1")
    mlflow.add_argument("--port", type=int, default=5000)
    mlflow.set_defaults(func=_cmd_mlflow)

    recommend = sub.add_parser(
        "recommend", help="top-K from the champion in the MLflow registry, with rule explanations"
    )
    recommend.add_argument(
        "--user",
        help="customer id: their next basket (with --items: whose basket it is)",
    )
    recommend.add_argument("--items", help="comma-separated item ids or names: what completes this basket")
    recommend.add_argument("--k", type=int, default=10)
    recommend.set_defaults(func=_cmd_recommend)

    serve = sub.add_parser(
        "serve", help="HTTP API (FastAPI): the champion's recommendations with explanations, hot reload"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--poll-seconds", type=float, default=30.0, help="how often the champion alias is checked (0: never)"
    )
    serve.add_argument("--challenger", help="A/B test: a registered version to serve to a share of users")
    serve.add_argument("--challenger-share", type=float, help="the challenger's share of users (default 0.1)")
    serve.set_defaults(func=_cmd_serve)

    ab_replay = sub.add_parser(
        "ab-replay", help="drive the A/B path from the test period of the stored baskets, then report"
    )
    ab_replay.add_argument("--challenger", help="the registered version to compare with the champion")
    ab_replay.add_argument("--share", type=float, default=0.5, help="the challenger's share of users")
    ab_replay.add_argument("--experiment", help="its name and assignment salt (default: replay-v<N>-<time>)")
    ab_replay.add_argument("--k", type=int, default=10, help="items shown per request")
    ab_replay.add_argument("--window-days", type=float, default=7.0, help="purchases that count, in days")
    ab_replay.set_defaults(func=_cmd_ab_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"assoc-pipeline: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... --format csv | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
