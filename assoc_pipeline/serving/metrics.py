"""Request counts and latency histograms in the Prometheus text format (version 0.0.4).

Written by hand: a counter per (route, method, status) and a cumulative histogram per route are a
few dozen lines, and the server then needs no client library.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# seconds; the latency target is 20 ms at p99, so the buckets are fine below it
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RequestMetrics:
    """Thread-safe counters filled by the app's middleware, rendered for /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(route, method, str(status))] += 1
            buckets = self._buckets.setdefault(route, [0] * (len(LATENCY_BUCKETS) + 1))
            buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._sums[route] += seconds

    def render(self, models: list[dict[str, str]], reloads: int, reload_failures: int) -> str:
        """The exposition text; each of ``models`` labels one line of the info gauge (task, name,
        version, type): a champion may serve one task beside a baseline serving the other."""
        lines = [
            "# HELP assoc_requests_total HTTP requests answered, by route, method and status.",
            "# TYPE assoc_requests_total counter",
        ]
        with self._lock:
            counts = dict(self._counts)
            buckets = {r: list(b) for r, b in self._buckets.items()}
            sums = dict(self._sums)
        for (route, method, status), n in sorted(counts.items()):
            lines.append(
                f'assoc_requests_total{{route="{_label(route)}",method="{method}",status="{status}"}} {n}'
            )
        lines += [
            "# HELP assoc_request_duration_seconds Time from request to response, by route.",
            "# TYPE assoc_request_duration_seconds histogram",
        ]
        for route, counts_per_bucket in sorted(buckets.items()):
            r = _label(route)
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), counts_per_bucket, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'assoc_request_duration_seconds_bucket{{route="{r}",le="{le}"}} {cumulative}')
            lines.append(f'assoc_request_duration_seconds_sum{{route="{r}"}} {sums[route]:.6f}')
            lines.append(f'assoc_request_duration_seconds_count{{route="{r}"}} {cumulative}')
        lines += [
            "# HELP assoc_model_info The model version serving each task (value 1).",
            "# TYPE assoc_model_info gauge",
        ]
        for model in models:
            labels = ",".join(f'{k}="{_label(str(v))}"' for k, v in model.items())
            lines.append(f"assoc_model_info{{{labels}}} 1")
        lines += [
            "# HELP assoc_model_reloads_total Hot reloads of the champion since start.",
            "# TYPE assoc_model_reloads_total counter",
            f"assoc_model_reloads_total {reloads}",
            "# HELP assoc_model_reload_failures_total Champion versions that failed to load.",
            "# TYPE assoc_model_reload_failures_total counter",
            f"assoc_model_reload_failures_total {reload_failures}",
        ]
        return "\n".join(lines) + "\n"
