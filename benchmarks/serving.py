"""Load test of `assoc-pipeline serve`: a fixed request rate for a fixed time, p50/p95/p99 and errors.

    python benchmarks/serving.py                  # starts a server on the `make demo` state
    python benchmarks/serving.py --rate 200 --seconds 60 --url http://127.0.0.1:8000

Open loop: request i is due at ``start + i / rate`` whatever the earlier ones did, and its latency
is counted from that due time (a slow server cannot hide its queue by slowing the client down).
At most ``--connections`` requests are in flight (keep-alive HTTP/1.1 over asyncio streams, no
client library); the mix is 60% next-basket of a known user, 20% similar items, 20% a posted
basket of 3 known items. Users and items are drawn (seeded) from the baskets the server loads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np

from assoc_pipeline.core.recsys.baselines.user_history import user_item_counts
from assoc_pipeline.services.recommendations import StoredState
from assoc_pipeline.settings import get_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen | None, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before answering /health")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return json.load(r)
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"no answer from {url}/health within {timeout:.0f} s")


def request_mix(assets_dir: Path, n: int, seed: int = 0) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body) of ``n`` requests over known users and items."""
    state = StoredState.load(assets_dir)
    users, _ = user_item_counts(state.baskets)
    items = state.baskets.vocabulary["item_id"].astype(str).tolist()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        draw = rng.random()
        if draw < 0.6:
            out.append(("GET", f"/recommend/user/{quote(str(rng.choice(users)))}?k=10", None))
        elif draw < 0.8:
            out.append(("GET", f"/similar/{quote(rng.choice(items))}?k=10", None))
        else:
            body = json.dumps({"items": rng.sample(items, 3), "k": 10}).encode()
            out.append(("POST", "/recommend/basket", body))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for uvicorn's answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nConnection: keep-alive\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def drive(
    url: str, plan: list, rate: float, connections: int
) -> tuple[np.ndarray, list[str], list[str]]:
    """Latencies (s, from each request's due time), per-request kinds, and error descriptions."""
    parts = urlsplit(url)
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(parts.hostname, parts.port))
    latencies = np.full(len(plan), np.nan)
    errors: list[str] = []
    start = time.perf_counter() + 0.2

    async def one(i: int, method: str, path: str, body: bytes | None) -> None:
        due = start + i / rate
        conn = await pool.get()
        try:
            status = await conn.request(method, path, body)
            if status != 200:
                errors.append(f"{method} {path}: HTTP {status}")
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            conn.close()
            errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
        finally:
            latencies[i] = time.perf_counter() - due
            pool.put_nowait(conn)

    tasks = []
    for i, (method, path, body) in enumerate(plan):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, method, path, body)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    kinds = [
        "basket" if m == "POST" else "user" if p.startswith("/recommend/user") else "similar"
        for m, p, _ in plan
    ]
    return latencies, kinds, errors


def table(latencies: np.ndarray, kinds: list[str], errors: list[str], seconds: float, rate: float) -> str:
    rows = ["| requests | kind | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |", "|---|---|---|---|---|---|"]
    kinds_arr = np.array(kinds)
    for kind in ["all", *sorted(set(kinds))]:
        lat = latencies if kind == "all" else latencies[kinds_arr == kind]
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) * 1000
        rows.append(f"| {len(lat):,} | {kind} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {lat.max() * 1000:.1f} |")
    rows.append(f"\n{rate:g} req/s for {seconds:g} s; errors: {len(errors)}")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32, help="most requests in flight")
    parser.add_argument("--url", help="an already running server (default: start one on a free port)")
    parser.add_argument(
        "--poll-seconds", type=float, default=30.0, help="the server's champion polling (serve's default)"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at the rate before measuring")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.connections < 1:
        raise SystemExit("--rate and --seconds must be > 0 and --connections >= 1")
    settings = get_settings()
    process = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        script = Path(sys.executable).parent / "assoc-pipeline"
        process = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--poll-seconds", f"{args.poll_seconds:g}"],
            env=dict(os.environ),
        )
    try:
        health = wait_healthy(url, process)
        print(f"server: {health['model']['label']} on {url}", flush=True)
        n = int(args.rate * args.seconds)
        plan = request_mix(settings.data_dir / "assets", n + int(args.rate * args.warmup))
        warm = int(args.rate * args.warmup)
        if warm:
            asyncio.run(drive(url, plan[:warm], args.rate, args.connections))
        load_before = os.getloadavg()[0]
        latencies, kinds, errors = asyncio.run(drive(url, plan[warm:], args.rate, args.connections))
        print(table(latencies, kinds, errors, args.seconds, args.rate))
        print(f"load average (1 min) before {load_before:.1f}, after {os.getloadavg()[0]:.1f}; "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        for e in errors[:5]:
            print("error:", e)
        return 1 if errors else 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
