"""Attach PNGs to Dagster metadata: a file on disk plus an inline markdown image for the UI."""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg


def png_metadata(png: bytes, path: Path, alt: str) -> dict[str, dg.MetadataValue]:
    path.write_bytes(png)
    inline = base64.b64encode(png).decode()
    return {
        f"{alt}_png": dg.MetadataValue.path(str(path)),
        alt: dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{inline})"),
    }
