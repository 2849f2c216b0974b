"""PNGs in Dagster metadata: the file's path plus an inline markdown image the UI shows."""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg


def png_metadata(png: bytes, path: Path, alt: str) -> dict[str, dg.MetadataValue]:
    """Write ``png`` to ``path`` and return its metadata entries (``<alt>_png`` and ``<alt>``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return image_metadata(path, alt)


def image_metadata(path: str | Path, alt: str) -> dict[str, dg.MetadataValue]:
    """Metadata entries for a PNG already on disk."""
    inline = base64.b64encode(Path(path).read_bytes()).decode()
    return {
        f"{alt}_png": dg.MetadataValue.path(str(path)),
        alt: dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{inline})"),
    }
