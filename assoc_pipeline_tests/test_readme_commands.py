"""Every shell command of the README's runnable code blocks works right after `make demo`.

A block is runnable when the line before its opening fence is ``<!-- runnable after make demo -->``.
Each command runs as a new user would type it (the installed ``assoc-pipeline`` console script,
from the repository root) against the state the shared demo fixture left, and must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = "<!-- runnable after make demo -->"


def runnable_commands(readme: str) -> list[str]:
    """The commands of the marked blocks (comments and blank lines dropped)."""
    commands = []
    for block in re.findall(re.escape(MARKER) + r"\s*```(?:bash|sh)\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_the_readme_marks_its_runnable_commands():
    commands = runnable_commands((REPO / "README.md").read_text())
    assert any(c.startswith("assoc-pipeline recommend --user") for c in commands)
    assert any(c.startswith("assoc-pipeline recommend --items") for c in commands)


@pytest.mark.slow
@pytest.mark.parametrize("command", runnable_commands((REPO / "README.md").read_text()))
def test_readme_command_runs_after_the_demo(command, demo_run):
    settings, _, _ = demo_run
    args = shlex.split(command)
    assert args[0] == "assoc-pipeline", f"only assoc-pipeline commands are runnable here: {command}"
    script = Path(sys.executable).parent / "assoc-pipeline"
    env = {
        **os.environ,
        "ASSOC_DATA_DIR": str(settings.data_dir),
        "ASSOC_SOURCE": str(settings.source_path),
    }
    done = subprocess.run(
        [str(script), *args[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{command}\nstdout:\n{done.stdout[-2000:]}\nstderr:\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
