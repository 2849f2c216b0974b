"""Values that want a richer display than plain text, without knowing who displays them.

Services return these inside plain dicts; the Dagster layer turns them into metadata (markdown,
clickable links, inline pictures) and the CLI prints them as text.
"""

from __future__ import annotations


class Markdown(str):
    """A markdown document (tables, lists)."""


class Url(str):
    """A link a person can open (e.g. an MLflow run page)."""


class Image(str):
    """The path of a PNG file on disk that a UI should show inline."""
