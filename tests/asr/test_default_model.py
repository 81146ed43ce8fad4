"""The bundled default model: what the README quick start runs."""

import json
import subprocess
import sys

import numpy as np
import soundfile
import torch

from asr.audio import load_audio
from asr.checkpoint import read_checkpoint
from asr.cli import main as asr_main
from asr.scoring import error_rates
from asr.transcribe import DEFAULT_MODEL, Transcriber

SAMPLES = sorted((DEFAULT_MODEL.parent / "samples").glob("*.wav"))
TRANSCRIPTS = {"cannot-complete-as-dialed": "Your call cannot be completed as dialed.",
               "demo-echodone": "The echo test has been completed.",
               "vm-rec-name": "After the tone say your name and then press the pound key."}


def test_default_model_is_small_and_self_contained():
    assert DEFAULT_MODEL.stat().st_size <= 30 * 2**20
    ckpt = read_checkpoint(DEFAULT_MODEL)  # weights_only=True inside
    assert ckpt["config"]["model"]["rnn_type"] in ("lstm", "gru") and ckpt["tokenizer"]["vocab"]


def test_quick_start_command_transcribes_the_samples():
    result = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", str(DEFAULT_MODEL.parent / "samples")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [path for path, _ in lines] == [str(p) for p in SAMPLES]
    hypotheses = {p.split("/")[-1][:-4]: text for p, text in lines}
    scores = error_rates([TRANSCRIPTS[k] for k in sorted(hypotheses)], [hypotheses[k] for k in sorted(hypotheses)])
    assert scores["cer"] < 0.3, f"default model CER on the held-out samples: {scores['cer']:.2%}"


def test_word_times_fall_on_the_known_positions_of_the_speech(tmp_path):
    """Two held-out clips placed at known offsets in silence: every word must be timed inside the
    clip it came from, and each clip must yield words."""
    clips = [load_audio(SAMPLES[0]).numpy(), load_audio(SAMPLES[2]).numpy()]
    silence = [np.zeros(16000, np.float32), np.zeros(24000, np.float32), np.zeros(16000, np.float32)]
    audio = np.concatenate([silence[0], clips[0], silence[1], clips[1], silence[2]])
    soundfile.write(tmp_path / "two.wav", audio, 16000)
    first = (1.0, 1.0 + clips[0].size / 16000)
    second = (first[1] + 1.5, first[1] + 1.5 + clips[1].size / 16000)
    (_, result), = Transcriber().transcribe([tmp_path / "two.wav"])  # the Python API's default: the bundled model
    assert result.words, "no words"
    slack = 0.25
    inside = [any(lo - slack <= (w.start + w.end) / 2 <= hi + slack for lo, hi in (first, second))
              for w in result.words]
    assert all(inside), [(w.word, w.start, w.end) for w in result.words]
    assert any(w.start < second[0] for w in result.words) and any(w.start > first[1] for w in result.words)
    assert all(0 < w.confidence <= 1 for w in result.words)
    assert torch.tensor([w.start for w in result.words]).diff().ge(0).all()


def test_evaluate_scores_the_bundled_model_when_no_model_is_named(tmp_path, capsys):
    manifest = tmp_path / "samples.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(p), "duration": soundfile.info(p).duration,
                                            "text": TRANSCRIPTS[p.stem]}) + "\n" for p in SAMPLES))
    hypotheses = [result.text for _, result in Transcriber(DEFAULT_MODEL).transcribe(SAMPLES)]
    expected = error_rates([TRANSCRIPTS[p.stem] for p in SAMPLES], hypotheses)
    assert asr_main(["evaluate", "--manifest", str(manifest)]) == 0
    assert capsys.readouterr().out == f"WER {expected['wer']:.2%}  CER {expected['cer']:.2%}  (3 utterances)\n"
