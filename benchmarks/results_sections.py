"""One benchmark's section of benchmarks/RESULTS.md, replaced in place.

Why a line match: a header is a prefix of another one ("# GAN benchmark" and "# GAN benchmark:
extra runs and reading"), and a substring search once replaced the hand-written section instead
of the generated one.
"""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, header: str, body: str) -> None:
    """Replace the section of ``path`` whose header line is exactly ``header`` (up to the next
    top-level header) with ``header`` and ``body``, where it was; append it when there is none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == header), None)
    section = [header, "", *body.strip("\n").split("\n"), ""]
    if start is None:
        lines = [*text.rstrip("\n").split("\n"), "", *section] if text.strip() else section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# ")), len(lines))
        lines = [*lines[:start], *section, *lines[end:]]
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")
