"""The README's quick start is what CI runs, and what it promises exists."""

import ast
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


def test_readme_python_example_runs_and_prints_timed_words(capsys, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    example, = re.findall(r"```python\n(.*?)```", readme, re.S)
    monkeypatch.chdir(ROOT)  # the example names a bundled sample by its repository path
    exec(compile(example, "README.md", "exec"), {})
    path, rest = capsys.readouterr().out.split(" ", 1)
    text, words = rest[:rest.index(" [")], ast.literal_eval(rest[rest.index(" [") + 1:])
    assert path == "asr/assets/samples/demo-echodone.wav" and text
    assert " ".join(word for word, _, _ in words) == text  # each word of the text, timed and scored
    assert all(0 < confidence <= 1 for _, _, confidence in words)
