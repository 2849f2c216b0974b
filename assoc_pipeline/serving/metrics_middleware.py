"""Request metrics as a plain ASGI middleware.

Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) wraps every request and response in
extra tasks and streams; at a few hundred requests per second on 2 cores that overhead is a
large share of a millisecond-scale answer. This one only watches the response's start message.
"""

from __future__ import annotations

import time
from typing import Any

from assoc_pipeline.serving.metrics import RequestMetrics

Scope = dict[str, Any]


class MetricsMiddleware:
    """Counts every HTTP request by route template, method and status (an unhandled error is a
    500: ``/metrics`` must show it) and observes its latency."""

    def __init__(self, app: Any, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(path, scope["method"], status, time.perf_counter() - started)
