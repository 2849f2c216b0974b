"""Pictures people would rather look at than read: PNG bytes, rendered headless (Agg)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    """matplotlib.pyplot, headless, imported on first use: loading the Dagster definitions (every
    CLI call, every run worker) should not pay for matplotlib when it draws nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def rules_scatter(rules: pd.DataFrame, title: str = "Association rules") -> bytes:
    """Support vs confidence, coloured by lift (the arulesViz default view)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if len(rules):
        order = np.argsort(rules["lift"].to_numpy())
        pts = ax.scatter(
            rules["support"].to_numpy()[order],
            rules["confidence"].to_numpy()[order],
            c=rules["lift"].to_numpy()[order],
            cmap="viridis",
            s=10,
            alpha=0.8,
        )
        fig.colorbar(pts, ax=ax, label="lift")
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no rules", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="support (log)", ylabel="confidence", title=f"{title} (n={len(rules):,})")
    return _png(fig)


def rules_network(rules: pd.DataFrame, n: int = 25, title: str = "Strongest rules by lift") -> bytes:
    """Items as nodes, the ``n`` strongest rules as arrows antecedent item -> consequent item."""
    plt = _pyplot()
    import networkx as nx

    top = rules.nlargest(n, "lift") if len(rules) else rules
    graph = nx.DiGraph()
    for row in top.itertuples():
        for a in row.antecedent_names:
            for c in row.consequent_names:
                graph.add_edge(_short(a), _short(c), lift=row.lift)
    fig, ax = plt.subplots(figsize=(11, 8))
    if graph.number_of_edges():
        pos = _component_grid_layout(graph)
        lifts = [d["lift"] for *_, d in graph.edges(data=True)]
        nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=250, node_color="#9ecae1")
        nx.draw_networkx_edges(
            graph, pos, ax=ax, edge_color=lifts, edge_cmap=plt.get_cmap("viridis"), arrows=True, width=1.5
        )
        nx.draw_networkx_labels(graph, pos, ax=ax, font_size=7)
    else:
        ax.text(0.5, 0.5, "no rules", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.axis("off")
    return _png(fig)


def _component_grid_layout(graph) -> dict:
    """Each connected group of items on its own circle, the groups on a grid: clusters stay legible."""
    import networkx as nx

    parts = sorted(nx.weakly_connected_components(graph), key=len, reverse=True)
    cols = int(np.ceil(np.sqrt(len(parts))))
    pos = {}
    for i, nodes in enumerate(parts):
        sub = nx.circular_layout(sorted(nodes), scale=0.38) if len(nodes) > 1 else {next(iter(nodes)): (0, 0)}
        cx, cy = i % cols, -(i // cols)
        pos.update({n: (cx + x, cy + y) for n, (x, y) in sub.items()})
    return pos


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def line_curves(curves: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, title: str) -> bytes:
    """Several named curves over a shared step axis (loss / metric per epoch)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend()
    return _png(fig)


def grouped_bars(table: pd.DataFrame, index: str, columns: str, values: str, title: str) -> bytes:
    """Grouped bar chart of ``values`` by ``index`` (groups) and ``columns`` (bars)."""
    plt = _pyplot()
    pivot = table.pivot_table(index=index, columns=columns, values=values, aggfunc="first")
    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(pivot)), 4.4))
    pivot.plot.bar(ax=ax, rot=30)
    ax.set(title=title, ylabel=values)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def xy_curves(curves: Mapping[str, Mapping[float, float]], xlabel: str, ylabel: str, title: str) -> bytes:
    """Named curves over explicit x values (e.g. a metric against a mixing weight)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, points in curves.items():
        xs = sorted(points)
        ax.plot(xs, [points[x] for x in xs], marker="o", markersize=3, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend()
    return _png(fig)


def embedding_map(xy: np.ndarray, clusters: np.ndarray, labels: Sequence[str], title: str) -> bytes:
    """Items in a 2-D projection of their embeddings, coloured by cluster, each cluster labelled
    at its centre (the label names the item nearest the cluster centroid)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 7.0))
    n = int(clusters.max()) + 1 if len(clusters) else 0
    cmap = plt.get_cmap("tab20", max(n, 1))
    ax.scatter(xy[:, 0], xy[:, 1], c=clusters, cmap=cmap, s=6, alpha=0.6, linewidths=0)
    for c in range(n):
        members = xy[clusters == c]
        if len(members):
            cx, cy = np.median(members, axis=0)
            box = {"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0}
            ax.annotate(_short(labels[c], 34), (cx, cy), fontsize=6.5, ha="center", bbox=box)
    ax.set(title=title, xlabel="component 1", ylabel="component 2")
    ax.grid(alpha=0.2)
    return _png(fig)
