"""The README's quick start is what CI runs, and what it promises exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(?:#.*\n)*(.+)\n```", readme)
    assert len(commands) >= 2, "quick start has its two commands"
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_quick_start_sample_audio_exists():
    samples = sorted((ROOT / "asr" / "assets" / "samples").glob("*.wav"))
    assert len(samples) >= 2
