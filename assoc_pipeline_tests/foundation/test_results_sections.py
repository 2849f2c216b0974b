"""benchmarks/results_sections.py replaces exactly one benchmark's section of RESULTS.md, in place:
a header that is a prefix of another (the GAN benchmark's generated and hand-written sections)
must not take the other's place."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# by path: opacus installs a top-level "benchmarks" package of its own
_SPEC = importlib.util.spec_from_file_location(
    "results_sections", Path(__file__).resolve().parents[2] / "benchmarks" / "results_sections.py"
)
_MODULE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_MODULE)
write_section = _MODULE.write_section

TEXT = """# Mining benchmark

mining table

# GAN benchmark: extra runs and reading

hand-written follow-ups

# GAN benchmark

old generated table

# Serving benchmark

serving table
"""


def test_the_section_with_exactly_this_header_is_replaced_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(TEXT)
    write_section(path, "# GAN benchmark", "new generated table\n")
    text = path.read_text()
    assert "old generated table" not in text and "new generated table" in text
    assert "hand-written follow-ups" in text and "serving table" in text
    headers = [line for line in text.split("\n") if line.startswith("# ")]
    assert headers == [
        "# Mining benchmark",
        "# GAN benchmark: extra runs and reading",
        "# GAN benchmark",
        "# Serving benchmark",
    ]
    assert text.index("new generated table") < text.index("# Serving benchmark")


def test_a_missing_section_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Mining benchmark\n\nmining table\n")
    write_section(path, "# GAN benchmark", "table")
    assert path.read_text() == "# Mining benchmark\n\nmining table\n\n# GAN benchmark\n\ntable\n"
    write_section(tmp_path / "new.md", "# GAN benchmark", "table")
    assert (tmp_path / "new.md").read_text() == "# GAN benchmark\n\ntable\n"
