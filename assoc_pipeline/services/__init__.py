"""The application layer: plain functions over ``core`` and the resources, no ``@asset``.

Assets, the CLI, the demo, the server and the benchmarks call these, so the same training run,
promotion gate or recommendation is one function whichever door it is asked through. External
systems (MLflow, storage) are reached only through the resource objects passed in.
"""
