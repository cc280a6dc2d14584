"""The README's quick start and CI must stay the same two commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_demo_then_tests():
    install_and_demo, install_and_test = _quick_start_commands()
    assert install_and_demo == 'pip install ".[plot]" && python -m skvae'
    assert install_and_test.startswith('pip install ".[test]" && ')


def test_ci_runs_the_readme_test_command_verbatim():
    ci_script = (ROOT / ".ci" / "run").read_text()
    test_command = _quick_start_commands()[1]
    assert test_command in ci_script.splitlines()
    assert "set -euo pipefail" in ci_script
    assert "-m venv" in ci_script
