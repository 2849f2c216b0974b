"""Browser tests: the Dagster and MLflow UIs on the shared demo run, driven by a real Chromium."""
