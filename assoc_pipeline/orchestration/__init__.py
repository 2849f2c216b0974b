"""Dagster-side helpers shared by assets, checks and automation (none of them is an asset):
partitions, Dagster config built from hyper-parameter dataclasses, run tags and metadata."""
