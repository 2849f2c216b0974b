"""Item -> category maps for multi-level rules (arules ``aggregate()``), from a hierarchy or embeddings.

Item-level rules miss patterns spread thinly over many related items ("some sausage" with "some
bread"); mining the same baskets at category level finds them. Two sources of categories:

* :func:`load_label_hierarchy` — arules' raw Groceries label files, where the category of an item
  is a prefix of its numeric code;
* :func:`categories_from_embeddings` — KMeans clusters of item embeddings, for catalogues without a
  hierarchy (e.g. Online Retail descriptions run through a sentence-transformer elsewhere).

Either result feeds :func:`assoc_pipeline.core.mining.aggregate.aggregate_baskets`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assoc_pipeline.core.errors import InputError

ITEM_LABELS_FILE = "Groceries.labels"
CATEGORY_FILES: dict[int, str] = {1: "Groceries.cat1.labels", 2: "Groceries.cat2.labels"}


def _read_label_file(path: Path) -> list[tuple[str, str]]:
    """``(code, English label)`` per line of a TAB-separated arules label file (CRLF or LF).

    The English label is returned as written (trailing spaces kept); callers decide on stripping.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: label file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read label file ({exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # the German column of older arules files
    rows: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        code = fields[0].strip()
        if len(fields) < 2 or not code or not fields[1].strip():
            raise InputError(f"{path}, line {n}: expected 'code<TAB>English label<TAB>German label'")
        if not code.isdigit():
            raise InputError(f"{path}, line {n}: code {code!r} is not a number")
        if code in seen:
            raise InputError(f"{path}, line {n}: code {code} already defined on line {seen[code]}")
        seen[code] = n
        rows.append((code, fields[1]))
    if not rows:
        raise InputError(f"{path}: no labels (empty file)")
    return rows


def load_label_hierarchy(directory: str | os.PathLike, level: int, *, strip: bool = True) -> dict[str, str]:
    """English item label -> English category label at ``level`` (1: first digit, 2: first two).

    Reads arules' raw ``Groceries.labels`` and ``Groceries.cat{level}.labels`` from ``directory``.
    Item labels are stripped by default because our basket CSV reader strips them ("cream cheese "
    in the source is "cream cheese" in our baskets); pass ``strip=False`` for arules'
    ``data(Groceries)`` spelling. Category labels are always stripped.
    """
    if isinstance(level, bool) or level not in CATEGORY_FILES:
        raise InputError(
            f"level must be one of {sorted(CATEGORY_FILES)} (arules level1/level2), got {level!r}"
        )
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: label directory not found")
    items_path = directory / ITEM_LABELS_FILE
    cats_path = directory / CATEGORY_FILES[level]
    items = _read_label_file(items_path)
    categories = {code: label.strip() for code, label in _read_label_file(cats_path)}
    if bad := [code for code in categories if len(code) != level]:
        raise InputError(
            f"{cats_path}: level-{level} category codes must have {level} digit(s), got {bad[:5]}"
        )
    mapping: dict[str, str] = {}
    orphans: list[str] = []
    for code, label in items:
        name = label.strip() if strip else label
        category = categories.get(code[:level]) if len(code) > level else None
        if category is None:
            orphans.append(f"{code} ({name.strip()})")
            continue
        if name in mapping and mapping[name] != category:
            raise InputError(f"{items_path}: item label {name!r} is listed twice with different categories")
        mapping[name] = category
    if orphans:
        raise InputError(
            f"{items_path}: {len(orphans)} item code(s) have no level-{level} category in {cats_path.name} "
            f"(the category code is the first {level} digit(s)): {', '.join(orphans[:5])}"
        )
    return mapping


def categories_from_embeddings(
    embeddings: np.ndarray, names: Sequence[str], n_clusters: int, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Cluster items by their embeddings: (cluster index per item, one readable label per cluster).

    Vectors are L2-normalised first so that KMeans groups by direction (cosine similarity), which
    is what sentence embeddings encode, not by length. Cluster indices are renumbered in order of
    first appearance in ``names`` so the result does not depend on KMeans' internal numbering; a
    label reads "cluster k: <name of the member nearest the centroid>". Same seed, same result.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"embeddings must be a non-empty 2-D array (items x dimensions), got shape {x.shape}"
        )
    if len(names) != x.shape[0]:
        raise ValueError(f"{len(names)} names for {x.shape[0]} embedding rows")
    if not np.isfinite(x).all():
        bad = np.flatnonzero((~np.isfinite(x)).any(axis=1))
        raise ValueError(f"embeddings: {bad.size} row(s) hold NaN/inf, e.g. {names[int(bad[0])]!r}")
    norms = np.linalg.norm(x, axis=1)
    if (zero := np.flatnonzero(norms == 0)).size:
        raise ValueError(
            f"embeddings: {zero.size} zero vector(s) cannot be normalised, e.g. {names[int(zero[0])]!r}"
        )
    if isinstance(n_clusters, bool) or not 1 <= int(n_clusters) <= x.shape[0]:
        raise ValueError(f"n_clusters must be in [1, {x.shape[0]}] (the number of items), got {n_clusters}")
    unit = x / norms[:, None]
    distinct = len(np.unique(unit.round(12), axis=0))
    if distinct < n_clusters:
        raise ValueError(
            f"n_clusters={n_clusters} but only {distinct} distinct directions among the embeddings"
        )

    from sklearn.cluster import KMeans  # heavy import, only when clustering

    km = KMeans(n_clusters=int(n_clusters), n_init=3, random_state=seed).fit(
        unit
    )  # k-means++: 3 starts suffice
    raw = km.labels_.astype(np.int64)
    _, first = np.unique(raw, return_index=True)
    order = raw[np.sort(first)]  # KMeans cluster ids by first appearance
    renumber = np.empty(int(n_clusters), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    clusters = renumber[raw]
    centroids = km.cluster_centers_[order]
    labels: list[str] = []
    for k in range(len(order)):
        members = np.flatnonzero(clusters == k)
        # for unit vectors the largest dot product with the centroid is the smallest distance
        nearest = members[int(np.argmax(unit[members] @ centroids[k]))]
        labels.append(f"cluster {k}: {names[int(nearest)]}")
    return clusters, labels
