"""Real-time recommendations over HTTP: `assoc-pipeline serve` (FastAPI + uvicorn).

``scoring`` holds one loaded model version and its precomputed answers, ``reloader`` follows the
registry's champion alias, ``metrics`` renders Prometheus text, ``app`` the routes, ``server``
puts them together.
"""
