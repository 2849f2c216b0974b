"""Compile, at install time, the bytecode of every library folder that `make demo` imports from.

uv installs without bytecode (pip compiles all of site-packages: 22,000 files, about 60 s on 2
cores). Without it each module is compiled at its first import instead, about 30 s of a fresh
clone's first `make demo` spread over its imports. `bytecode_folders.txt` lists the folders (relative
to site-packages) the demo imported modules from: about 8,900 files, compiled here on every core.
A folder that a newer library no longer has is skipped; regenerate the list with
`python benchmarks/pipeline.py --record-imports scripts/bytecode_folders.txt`.

    python scripts/precompile.py [FOLDER_LIST]
"""

from __future__ import annotations

import compileall
import os
import sys
import sysconfig
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

FOLDER_LIST = Path(__file__).with_name("bytecode_folders.txt")
PROJECT = Path(__file__).resolve().parents[1] / "assoc_pipeline"


def read_folders(path: Path) -> list[str]:
    """Folder names of the list, without its comment lines."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def modules_in(root: Path, folders: Iterable[str]) -> tuple[list[Path], int]:
    """The ``.py`` files directly in each listed folder under ``root``; how many folders are missing."""
    files: list[Path] = []
    missing = 0
    for folder in folders:
        where = root / folder
        if where.is_dir():
            files.extend(sorted(where.glob("*.py")))
        else:
            missing += 1
    return files, missing


def _compile(path: Path) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


def compile_files(files: list[Path], workers: int | None = None) -> int:
    """Write ``__pycache__`` bytecode for ``files`` (up-to-date ones are left alone); returns the failures."""
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
        return sum(not ok for ok in pool.map(_compile, files, chunksize=64))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    site = Path(sysconfig.get_paths()["purelib"])
    files, missing = modules_in(site, read_folders(Path(args[0]) if args else FOLDER_LIST))
    files.extend(sorted(PROJECT.rglob("*.py")))
    failed = compile_files(files)
    print(
        f"bytecode: {len(files):,} modules compiled in {time.perf_counter() - started:.0f} s"
        + (f"; {missing} listed folders not installed" if missing else "")
        + (f"; {failed} did not compile (a library's own syntax, harmless)" if failed else ""),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
