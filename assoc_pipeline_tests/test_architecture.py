"""The layer rules of the codebase, enforced: every import (module level or inside a function) of
every file must point to its own layer or one below it.

    core  <  settings  <  resources, dagster_home  <  services  <  orchestration, checks, serving
          <  assets, automation  <  definitions  <  demo  <  cli

plus: core imports neither Dagster nor MLflow; mlflow is imported only by the MLflow resource;
no asset module imports another asset module; benchmarks never import assets.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "assoc_pipeline"
LAYERS = {
    "core": 0,
    "settings": 1,
    "resources": 2,
    "dagster_home": 2,
    "services": 3,
    "orchestration": 4,
    "checks": 4,
    "serving": 4,
    "assets": 5,
    "automation": 5,
    "definitions": 6,
    "demo": 7,
    "cli": 8,
}
MLFLOW_ALLOWED = {
    "assoc_pipeline/resources/mlflow_tracking.py",
    # the pyfunc model from code must subclass mlflow's PythonModel and call set_model
    "assoc_pipeline/serving/pyfunc_model.py",
    "assoc_pipeline/serving/pyfunc_entry.py",
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import statement in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1]) if path.is_relative_to(REPO) else ""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "assoc_pipeline" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def package_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name


@pytest.mark.parametrize("path", package_files(), ids=rel)
def test_imports_point_down_the_layers(path):
    own = layer_of(".".join(path.relative_to(REPO).with_suffix("").parts))
    if own is None:  # the package's __init__
        return
    bad = []
    for line, module in imports(path):
        target = layer_of(module)
        if target is not None and LAYERS[target] > LAYERS[own]:
            bad.append(f"{rel(path)}:{line} ({own}) imports {module} ({target})")
        if own == "core" and module.split(".")[0] in ("dagster", "mlflow"):
            bad.append(f"{rel(path)}:{line}: core imports {module}")
        if module.split(".")[0] == "mlflow" and rel(path) not in MLFLOW_ALLOWED:
            bad.append(f"{rel(path)}:{line}: mlflow outside the MLflow resource")
        if own == "assets" and module.startswith("assoc_pipeline.assets") and module.count(".") >= 2:
            bad.append(f"{rel(path)}:{line}: an asset module imports {module}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks").glob("*.py")), ids=rel)
def test_benchmarks_never_import_assets(path):
    bad = [
        f"{rel(path)}:{line} imports {m}"
        for line, m in imports(path)
        if m.startswith("assoc_pipeline.assets")
    ]
    assert not bad, "\n".join(bad)


def test_the_rules_catch_a_violation(tmp_path):
    """The checker itself: an upward import, core importing dagster, an asset importing an asset."""
    core_file = PACKAGE / "core" / "_probe.py"
    asset_file = PACKAGE / "assets" / "_probe.py"
    try:
        core_file.write_text("import dagster\nfrom assoc_pipeline.services import training\n")
        asset_file.write_text("from assoc_pipeline.assets.models import training_assets\n")
        with pytest.raises(AssertionError, match="core imports dagster"):
            test_imports_point_down_the_layers(core_file)
        with pytest.raises(AssertionError, match=r"\(core\) imports assoc_pipeline.services"):
            test_imports_point_down_the_layers(core_file)
        with pytest.raises(AssertionError, match="an asset module imports"):
            test_imports_point_down_the_layers(asset_file)
    finally:
        core_file.unlink(missing_ok=True)
        asset_file.unlink(missing_ok=True)


UNSAFE_LOADERS = ("pickle", "cloudpickle", "dill", "joblib", "mlflow.pytorch", "mlflow.pyfunc.load_model")


def unsafe_loads(path: Path) -> list[str]:
    """Calls that could run code from a file: torch.load without weights_only=True, pickle-style
    modules, MLflow loaders that unpickle or run stored code."""
    tree = ast.parse(path.read_text(), str(path))
    bad = [f"{rel(path)}:{line} imports {m}" for line, m in imports(path) if m.startswith(UNSAFE_LOADERS)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
            weights_only = [k.value for k in node.keywords if k.arg == "weights_only"]
            if not (
                weights_only and isinstance(weights_only[0], ast.Constant) and weights_only[0].value is True
            ):
                bad.append(f"{rel(path)}:{node.lineno}: torch.load without weights_only=True")
        if isinstance(node, ast.Attribute) and ast.unparse(node).startswith(UNSAFE_LOADERS[-2:]):
            bad.append(f"{rel(path)}:{node.lineno}: {ast.unparse(node)}")
    return bad


# checkpoint_files catches pickle.UnpicklingError (the refusal), it never unpickles
PICKLE_NAMED = {"assoc_pipeline/core/recsys/models/checkpoint_files.py": "pickle"}


@pytest.mark.parametrize("path", package_files(), ids=rel)
def test_nothing_loads_a_model_through_pickle(path):
    """Loading a model never runs code from the store: every load goes through the weights-only
    checkpoint loader (docs/serving.md); this keeps a new loader from slipping in."""
    allowed = PICKLE_NAMED.get(rel(path))
    bad = [b for b in unsafe_loads(path) if not (allowed and b.endswith(f"imports {allowed}"))]
    assert not bad, "\n".join(bad)


def test_the_loader_check_catches_an_unsafe_load(tmp_path):
    sample = tmp_path / "probe.py"
    sample.write_text("import torch\nimport mlflow\ntorch.load('m.pt')\nmlflow.pytorch.load_model('x')\n")
    found = unsafe_loads(sample)
    assert any("torch.load without weights_only" in b for b in found)
    assert any("mlflow.pytorch" in b for b in found)


def test_recommend_before_a_promotion_loads_no_heavy_framework() -> None:
    """`assoc-pipeline recommend` answers in about a second only if the command and the serving
    service load neither Dagster, MLflow nor torch (each costs seconds at import)."""
    import subprocess
    import sys

    code = (
        "import sys, assoc_pipeline.cli, assoc_pipeline.services.recommendations; "
        "print(' '.join(m for m in ('dagster', 'mlflow', 'torch') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"imported at load: {loaded.stdout.strip()}"
