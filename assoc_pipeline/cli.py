"""`assoc-pipeline` — the command line: demo, ui, mlflow, mine, recommend, bench."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from assoc_pipeline.core.errors import InputError


def _cmd_demo(args: argparse.Namespace) -> int:
    from assoc_pipeline.demo import format_summary, run_demo

    partitions = args.partitions.split(",") if args.partitions else None
    print(format_summary(run_demo(partitions)))
    return 0


def _cmd_ui(args: argparse.Namespace) -> int:
    from assoc_pipeline.dagster_home import ensure_dagster_home
    from assoc_pipeline.settings import project_root

    home = ensure_dagster_home()
    print(f"Dagster UI on http://{args.host}:{args.port} (instance: {home})", flush=True)
    cmd = [
        "dagster",
        "dev",
        "-w",
        str(project_root() / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    return subprocess.call(cmd)


def _cmd_mlflow(args: argparse.Namespace) -> int:
    from assoc_pipeline.settings import get_settings

    s = get_settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    print(f"MLflow UI on http://{args.host}:{args.port} (store: {s.mlflow_tracking_uri})", flush=True)
    cmd = [
        "mlflow", "server", "--backend-store-uri", s.mlflow_tracking_uri,
        "--default-artifact-root", s.mlflow_artifact_root.as_uri(),
        "--host", args.host, "--port", str(args.port), "--workers", "1",
    ]  # fmt: skip
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assoc-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="materialize the whole asset graph on the shipped sample data")
    demo.add_argument(
        "--partitions", help="comma-separated monthly partition keys (default: all in the source)"
    )
    demo.set_defaults(func=_cmd_demo)

    ui = sub.add_parser("ui", help="Dagster UI (webserver + daemon) on the embedded instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    mlflow = sub.add_parser("mlflow", help="MLflow UI on the local tracking store")
    mlflow.add_argument("--host", default="127.0.0.1")
    mlflow.add_argument("--port", type=int, default=5000)
    mlflow.set_defaults(func=_cmd_mlflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"assoc-pipeline: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
