"""Every recipe loads, names manifests, and builds its model."""

from pathlib import Path

import pytest

from asr.config import load_config
from asr.model import AcousticModel, count_parameters
from asr.text import CharTokenizer

RECIPES = sorted(p.parent.name for p in (Path(__file__).resolve().parents[1] / "recipes").glob("*/config.yaml"))


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_config_builds_model(name):
    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "recipes" / name / "config.yaml")
    assert cfg.data.train_manifest and cfg.data.dev_manifest
    cfg.augment.check()  # what training checks before it reads a manifest
    cfg.model.vocab_size = len(CharTokenizer(cfg.vocab))
    cfg.model.impl = "torch"
    assert count_parameters(AcousticModel(cfg.model)) > 100_000
    if name != "default":
        assert {"README.md", "RESULTS.md"} <= {p.name for p in (root / "recipes" / name).iterdir()}


def test_every_corpus_has_a_recipe():
    from asr.corpora import CORPORA
    assert set(CORPORA) <= set(RECIPES)
