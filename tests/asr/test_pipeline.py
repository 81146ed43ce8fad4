"""End to end: a tiny model trained on generated utterances transcribes them exactly, and the
`asr` command line does what its help says, bad input included."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
import torchaudio.functional as AF

from asr.audio import AudioError
from asr.config import load_config
from asr.evaluate import evaluate
from asr.train import run
from asr.transcribe import Transcriber, pick_device
from tests.asr.synth import write_tiny_recipe, write_tone_corpus

TEXTS = ["abc", "bad cab", "dead beef", "face", "cafe bead", "he had"]


def write_recipe(folder, manifest, epochs):
    return write_tiny_recipe(folder, manifest, model={"conv_channels": 8, "hidden_size": 48},
                             data={"max_batch_seconds": 30.0},
                             train={"epochs": epochs, "lr": 0.005, "log_every": 1000})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    manifest = write_tone_corpus(folder / "data", TEXTS)
    torch.manual_seed(0)
    checkpoint = run(load_config(write_recipe(folder, manifest, epochs=100)))
    return folder, manifest, checkpoint


def asr_cli(*args):
    return subprocess.run([sys.executable, "-m", "asr.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_trained_model_reproduces_transcripts(trained):
    folder, manifest, checkpoint = trained
    assert checkpoint.name == "epoch-100.pt"
    kept = sorted(p.name for p in (folder / "run").glob("epoch-*.pt"))
    assert kept == ["epoch-100.pt", "epoch-98.pt", "epoch-99.pt"], "train.keep_last=3 prunes older epochs"
    paths = [folder / "data" / f"utt{i}.wav" for i in range(len(TEXTS))]
    assert [r.text for _, r in Transcriber(checkpoint, batch_size=4).transcribe(paths)] == TEXTS
    scores = evaluate(checkpoint, manifest, batch_size=2)  # decoded shortest first, reported in manifest order
    assert scores["wer"] == 0.0 and scores["cer"] == 0.0 and scores["utterances"] == len(TEXTS)
    assert [(d["where"], d["hypothesis"]) for d in scores["details"]] == [
        (f"{manifest}:{line}", text) for line, text in enumerate(TEXTS, start=1)]


@pytest.mark.slow
def test_cli_transcribe_reports_bad_file_and_goes_on(trained):
    folder, _, checkpoint = trained
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    good = [folder / "data" / "utt0.wav", folder / "data" / "utt3.wav"]
    result = asr_cli("transcribe", good[0], corrupt, good[1], "--model", checkpoint)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{good[0]}\tabc", f"{good[1]}\tface"]
    assert "corrupt.wav" in result.stderr and "Traceback" not in result.stderr


def test_cli_transcribe_into_a_closed_pipe_stops_quietly(trained):
    """`asr transcribe ... | head -1`: the reader leaving used to print "asr: error: [Errno 32] Broken pipe"."""
    _, manifest, checkpoint = trained
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: deterministic, unlike racing `head`
    result = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", str(manifest.parent), "--model",
                             str(checkpoint)], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=300)
    os.close(write_end)
    assert result.stderr == "" and result.returncode == 128 + signal.SIGPIPE


@pytest.mark.slow
def test_cli_transcribes_a_clip_shorter_than_the_fft_padding(trained, tmp_path):
    """A 5 ms file used to crash its whole batch inside torch.stft, the good file with it."""
    folder, _, checkpoint = trained
    click = tmp_path / "click.wav"
    sf.write(click, np.full(80, 0.1), 16000)
    good = folder / "data" / "utt0.wav"
    result = asr_cli("transcribe", good, click, "--model", checkpoint)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == f"{good}\tabc" and lines[1].startswith(f"{click}\t")


@pytest.mark.slow
def test_cli_transcribe_directory_and_evaluate(trained):
    folder, manifest, checkpoint = trained
    result = asr_cli("transcribe", folder / "data", "--model", checkpoint, "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[1] for line in result.stdout.splitlines()] == TEXTS
    details = folder / "details.jsonl"
    result = asr_cli("evaluate", "--model", checkpoint, "--manifest", manifest, "--details", details)
    assert result.returncode == 0 and "WER 0.00%  CER 0.00%  (6 utterances)" in result.stdout
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert [(r["reference"], r["hypothesis"], r["word_errors"]) for r in rows] == [(t, t, 0) for t in TEXTS]
    second = folder / "second" / "manifest.jsonl"  # two of the utterances again, from another folder
    second.parent.mkdir()
    entries = [json.loads(line) for line in manifest.read_text().splitlines()[:2]]
    second.write_text("".join(json.dumps({**e, "audio_filepath": str(manifest.parent / e["audio_filepath"])}) + "\n"
                              for e in entries))
    result = asr_cli("evaluate", "--model", checkpoint, "--manifest", f"{manifest},{second}", "--details", details)
    assert result.returncode == 0 and "WER 0.00%  CER 0.00%  (8 utterances)" in result.stdout
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert [r["where"] for r in rows] == [f"{manifest}:{n}" for n in range(1, 7)] + [f"{second}:1", f"{second}:2"]
    assert [r["hypothesis"] for r in rows] == TEXTS + TEXTS[:2]
    moved = folder / "moved" / "manifest.jsonl"  # its relative audio paths now point nowhere
    moved.parent.mkdir()
    moved.write_text(manifest.read_text())
    result = asr_cli("evaluate", "--model", checkpoint, "--manifest", moved)
    assert result.returncode == 1 and "WER" not in result.stdout
    assert result.stderr.splitlines()[-1] == f"asr: error: {moved}: no utterance could be scored"


@pytest.mark.slow
def test_words_are_ordered_and_inside_the_audio(trained):
    folder, _, checkpoint = trained
    (_, result), = Transcriber(checkpoint).transcribe([folder / "data" / "utt1.wav"])  # "bad cab"
    assert [w.word for w in result.words] == ["bad", "cab"]
    assert 0 <= result.words[0].start < result.words[0].end <= result.words[1].start < result.words[1].end
    assert result.words[1].end <= result.duration + 0.04 and all(0 < w.confidence <= 1 for w in result.words)


def test_windows_stitch_without_duplicated_or_dropped_words(trained, monkeypatch):
    """Seams only: a stand-in decoder hears the words of a known schedule that a window contains,
    and garbles words cut by the window's edges, as a real model does."""
    import random

    import asr.transcribe
    from asr.formats import Word
    _, _, checkpoint = trained
    rng, t, truth = random.Random(0), 0.3, []
    for i in range(300):  # about ten minutes of "speech"
        length = rng.uniform(0.2, 0.9)
        truth.append(Word(f"w{i}", round(t, 3), round(t + length, 3), 1.0))
        t += length + rng.uniform(0.05, 1.5)
    transcriber = Transcriber(checkpoint, batch_size=4, chunk_seconds=20.0, overlap_seconds=4.0)
    rate = transcriber.cfg.features.sample_rate

    def hear(waves):  # each stand-in wave holds its window's offset in every sample
        out = []
        for wave in waves:
            offset, length = wave[0].item(), wave.numel() / rate
            seen = [Word(w.word if offset <= w.start and w.end <= offset + length else "garbled",
                         max(w.start, offset) - offset, min(w.end, offset + length) - offset, 1.0)
                    for w in truth if w.end > offset and w.start < offset + length]
            out.append((" ".join(w.word for w in seen), seen))
        return out

    monkeypatch.setattr(transcriber, "_decode", hear)
    monkeypatch.setattr(transcriber, "_load", lambda item, offset, length: torch.full((round(length * rate),), offset))
    monkeypatch.setattr(asr.transcribe, "header_duration", lambda path: t)
    result = transcriber._transcribe_long("long.wav", transcriber._read_windows("long.wav"))
    assert [w.word for w in result.words] == [w.word for w in truth]
    assert [w.start for w in result.words] == pytest.approx([w.start for w in truth], abs=1e-3)
    assert result.duration == pytest.approx(t, abs=1e-3)


def test_a_long_file_that_breaks_half_way_is_reported_and_the_next_files_transcribed(trained, tmp_path):
    """Long files are read window by window, so a corrupt block past the start shows only there:
    it used to end the whole transcription with the files after it never read."""
    folder, _, checkpoint = trained
    sf.write(tmp_path / "long.flac", np.random.default_rng(0).normal(0, 0.1, 12 * 16000), 16000)
    data = bytearray((tmp_path / "long.flac").read_bytes())
    middle = len(data) // 2
    data[middle: middle + 20000] = b"\xff" * 20000
    (tmp_path / "broken.flac").write_bytes(bytes(data))
    good = folder / "data" / "utt0.wav"
    transcriber = Transcriber(checkpoint, chunk_seconds=3.0, overlap_seconds=1.0)
    (broken, error), (after, result) = transcriber.transcribe([tmp_path / "broken.flac", good])
    assert isinstance(error, AudioError) and error.path == str(tmp_path / "broken.flac")
    assert after == good and result.text == "abc"


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program")
def test_a_file_whose_length_only_decoding_tells_is_streamed_into_the_same_windows(trained, tmp_path,
                                                                                  monkeypatch):
    """m4a and the other formats libsndfile lacks have no header it reads: ffmpeg decodes them as a
    stream, cut into exactly the windows seeking would read, and no further ahead than the window
    after the ones in hand (they used to be decoded whole first: 3.1 GB peak for 36 minutes of stereo)."""
    import asr.audio
    import asr.transcribe
    _, _, checkpoint = trained
    transcriber = Transcriber(checkpoint, batch_size=2, chunk_seconds=3.0, overlap_seconds=1.0)
    rate = transcriber.cfg.features.sample_rate
    ramp = np.arange(20 * rate + 37, dtype=np.float32) / (20 * rate)  # each sample tells where it lies
    sf.write(tmp_path / "ramp.wav", ramp, rate, subtype="FLOAT")  # at the model's rate ffmpeg converts nothing
    heard, read = [], []
    monkeypatch.setattr(transcriber, "_decode", lambda waves: heard.append(waves) or [("", [])] * len(waves))
    (_, seeking), = transcriber.transcribe([tmp_path / "ramp.wav"])
    seeked, heard[:] = [w for batch in heard for w in batch], []
    assert len(seeked) > 4

    def blocks(path, sample_rate):
        for block in asr.audio.audio_blocks(path, sample_rate, block_samples=rate // 2):
            read.append(block.numel())
            yield block

    monkeypatch.setattr(asr.transcribe, "header_duration", lambda path: None)  # as for an m4a
    monkeypatch.setattr(asr.transcribe, "audio_blocks", blocks)
    monkeypatch.setattr(transcriber, "_decode", lambda ws: heard.append((ws, sum(read))) or [("", [])] * len(ws))
    (_, streamed), = transcriber.transcribe([tmp_path / "ramp.wav"])
    assert streamed.duration == seeking.duration == round(ramp.size / rate, 3)
    streamed_windows = [w for waves, _ in heard for w in waves]
    assert len(streamed_windows) == len(seeked) and all(torch.equal(a, b) for a, b in zip(streamed_windows, seeked))
    # the first batch's second window ends at 5 s; one sample past it lies in the block up to 5.5 s
    assert [samples_read / rate for _, samples_read in heard[:2]] == [5.5, 9.5]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program")
def test_m4a_files_are_transcribed_as_their_wav_files_are(trained, tmp_path):
    folder, _, checkpoint = trained
    for i in (1, 4):
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", folder / "data" / f"utt{i}.wav", "-ar", "44100",
                        "-ac", "2", "-c:a", "aac", "-b:a", "192k", tmp_path / f"utt{i}.m4a"], check=True)
    results = Transcriber(checkpoint).transcribe([tmp_path / "utt1.m4a", tmp_path / "utt4.m4a"])
    assert [result.text for _, result in results] == [TEXTS[1], TEXTS[4]]


def test_a_waveform_in_memory_is_transcribed_as_its_file_is(trained, tmp_path):
    """The file route is the reference: the same samples, at a rate the model resamples from, long
    enough for several windows, mono or stereo on either axis, numpy or torch."""
    folder, _, checkpoint = trained
    transcriber = Transcriber(checkpoint, chunk_seconds=3.0, overlap_seconds=1.0)
    clips = [sf.read(folder / "data" / f"utt{i}.wav", dtype="float32") for i in range(len(TEXTS))]
    rate = clips[0][1]
    pause = np.zeros(rate // 2, dtype=np.float32)
    speech = np.concatenate([part for clip, _ in clips for part in (clip, pause)])
    at_22k = AF.resample(torch.from_numpy(speech), rate, 22050).numpy()
    sf.write(tmp_path / "long.wav", at_22k, 22050, subtype="FLOAT")
    (_, from_file), = transcriber.transcribe([tmp_path / "long.wav"])
    assert len(transcriber._windows(from_file.duration)) > 1 and from_file.words
    for wave in (at_22k, torch.from_numpy(at_22k), np.stack([at_22k, at_22k]), np.stack([at_22k, at_22k], axis=1)):
        from_memory = transcriber.transcribe_waveform(wave, 22050, source="mic")
        assert (from_memory.source, from_memory.text, from_memory.duration) == ("mic", from_file.text,
                                                                                 from_file.duration)
        assert from_memory.words == from_file.words
    short = transcriber.transcribe_waveform(clips[3][0], rate)
    assert (short.source, short.text) == ("waveform", TEXTS[3])
    with pytest.raises(AudioError, match="mic: contains NaN or infinite samples"):
        transcriber.transcribe_waveform(np.full(rate, np.nan), rate, source="mic")


@pytest.mark.slow
def test_cli_refuses_two_inputs_that_would_write_one_output_file(trained, tmp_path):
    folder, _, checkpoint = trained
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "take.wav").write_bytes((folder / "data" / "utt0.wav").read_bytes())
    out = tmp_path / "out"
    result = asr_cli("transcribe", tmp_path / "a" / "take.wav", tmp_path / "b" / "take.wav", "--model", checkpoint,
                     "--output", out)
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.count("\n") == 1 and "a/take.wav and " in result.stderr and "b/take.wav" in result.stderr


def test_window_of_a_manifest_segment_reads_that_window(trained, tmp_path):
    """A long manifest segment is decoded window by window: each window is read relative to
    the segment's start, not the whole segment again."""
    import numpy as np
    import soundfile

    from asr.data import Utterance
    _, _, checkpoint = trained
    transcriber = Transcriber(checkpoint)
    rate = transcriber.cfg.features.sample_rate
    ramp = np.arange(8 * rate, dtype=np.float32) / (8 * rate)  # each sample tells where it lies
    soundfile.write(tmp_path / "ramp.wav", ramp, rate, subtype="FLOAT")
    segment = Utterance(str(tmp_path / "ramp.wav"), duration=5.0, text="", offset=1.0)
    whole_file = Utterance(str(tmp_path / "ramp.wav"), duration=8.0, text="")
    assert torch.equal(transcriber._load(segment), torch.from_numpy(ramp[1 * rate: 6 * rate]))
    assert torch.equal(transcriber._load(segment, 2.0, 1.0), torch.from_numpy(ramp[3 * rate: 4 * rate]))
    assert torch.equal(transcriber._load(whole_file, 2.0, 1.0), torch.from_numpy(ramp[2 * rate: 3 * rate]))
    assert torch.equal(transcriber._load(whole_file), torch.from_numpy(ramp))


@pytest.mark.slow
def test_cli_formats_stdin_manifest_and_output_dir(trained, tmp_path):
    folder, manifest, checkpoint = trained
    wav = folder / "data" / "utt3.wav"
    with open(wav, "rb") as f:
        result = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", "-", "--model", str(checkpoint),
                                 "--format", "jsonl"], stdin=f, capture_output=True, text=True, timeout=300)
    row = json.loads(result.stdout)
    assert result.returncode == 0 and row["source"] == "-" and row["text"] == "face"
    assert [w["word"] for w in row["words"]] == ["face"]
    result = subprocess.run([sys.executable, "-m", "asr.cli", "transcribe", "-", "--model", str(checkpoint)],
                            input=b"not audio", capture_output=True, timeout=300)
    assert result.returncode == 1 and result.stderr.decode().startswith("asr: - (standard input): not a readable")
    result = asr_cli("transcribe", manifest, "--model", checkpoint, "--format", "srt", "--output", tmp_path / "subs",
                     "--verbose")
    device = "cuda" if torch.cuda.is_available() else "cpu"  # --device auto
    assert result.returncode == 0 and f" s on {device}, real-time factor " in result.stderr
    files = sorted(p.name for p in (tmp_path / "subs").iterdir())
    assert files == [f"utt{i}.srt" for i in range(len(TEXTS))]
    assert (tmp_path / "subs" / "utt1.srt").read_text().startswith("1\n00:00:00,")
    result = asr_cli("transcribe", wav, "--model", checkpoint, "--format", "json")
    assert json.loads(result.stdout)[0]["text"] == "face"


@pytest.mark.slow
def test_cli_beam_settings_given_and_defaulted_reach_the_decoder(trained, tmp_path):
    _, manifest, checkpoint = trained
    lm = tmp_path / "lm.arpa"
    assert asr_cli("lm", "build", manifest, "--order", "2", "--out", lm).returncode == 0
    wav = manifest.parent / "utt3.wav"
    result = asr_cli("transcribe", wav, "--model", checkpoint, "--lm", lm, "--beam-size", "7", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["text"] == "face"
    assert row["decoding"] == {"method": "beam", "lm": str(lm), "beam_size": 7, "lm_weight": 1.0, "word_score": 0.0}


def test_cli_train_runs_and_checkpoints(tmp_path):
    manifest = write_tone_corpus(tmp_path / "data", TEXTS[:2])
    result = asr_cli("train", write_recipe(tmp_path, manifest, epochs=1), "train.epochs=2", "model.hidden_size=8")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "epoch-2.pt").exists() and (tmp_path / "run" / "log.csv").exists()


def test_cli_errors_are_one_line(tmp_path):
    not_ckpt = tmp_path / "model.pt"
    not_ckpt.write_text("hello")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("na\u00efve\n".encode("latin-1"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world\n")
    spoken, wordless = tmp_path / "spoken.jsonl", tmp_path / "wordless.jsonl"
    spoken.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": "hello"}\n')
    wordless.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": ""}\n'
                        '{"audio_filepath": "b.wav", "duration": 1, "text": " ?!"}\n')
    cases = [
        (["transcribe", "x.wav", "--model", tmp_path / "missing.pt"], "missing.pt: no such checkpoint file"),
        (["transcribe", "x.wav", "--model", not_ckpt], "model.pt: not a readable checkpoint"),
        (["train", tmp_path / "none.yaml"], "none.yaml: no such config file"),
        (["evaluate", "--model", not_ckpt, "--manifest", spoken], "model.pt: not a readable"),
        # Its WER would have divided by one word that is not there ("WER 600%"); and before the model loads.
        (["evaluate", "--model", not_ckpt, "--manifest", wordless], f"{wordless}: no reference words to score "
         "against (every text is empty once normalised), so WER is undefined"),
        (["transcribe", "x.wav", "--output", not_ckpt], f"{not_ckpt}: is a file, not a folder"),
        (["lm", "build", not_ckpt, "--out", not_ckpt / "lm.arpa"], f"{not_ckpt}: is a file, not a folder"),
        (["lm", "build", latin1, "--out", tmp_path / "lm.arpa"], f"{latin1}:1: not UTF-8 text (byte 0xef)"),
        # Where results are written after long work, the place is checked before it: the model here
        # cannot be read, and the corpus root is empty, yet the output is what is named.
        (["evaluate", "--model", not_ckpt, "--manifest", "m.jsonl", "--details", not_ckpt / "sub" / "d.jsonl"],
         f"{not_ckpt / 'sub'}: cannot write files in this folder (a file on its path is in the way)"),
        (["prepare", "asterisk", "--root", tmp_path, "--out", not_ckpt], f"{not_ckpt}: is a file, not a folder"),
        (["prepare", "ljspeech", "--root", tmp_path, "--out", tmp_path, "--subsets", "LJSpeech-1.1"],
         "--subsets: names archives to fetch, so it needs --download"),  # it was ignored
        (["prepare", "asterisk", "--download", "--root", tmp_path, "--out", tmp_path],
         "--download: asterisk has no public download; install it (Debian: apt install asterisk-core-sounds-en-wav) "
         "and pass --root"),
        (["train", write_recipe(tmp_path, tmp_path / "none.jsonl", epochs=1), f"train.out_dir={not_ckpt}"],
         f"{not_ckpt}: is a file, not a folder"),
        (["transcribe", tmp_path, "--model", not_ckpt], f"{tmp_path}: no audio files in this folder or below it"),
        # Concatenated on stdout, the subtitles of several files could not be told apart.
        (["transcribe", "a.wav", "b.wav", "--format", "vtt", "--model", not_ckpt],
         "--format vtt: a subtitle file holds one input, and 2 were given; add --output FOLDER to write one file each"),
        (["transcribe", "x.wav", "--chunk-seconds", "5"], "--chunk-seconds 5: must be more than 8, twice the 4 s by "
         "which windows overlap"),  # it named overlap_seconds, which no flag sets
        # An output that is one of the inputs would have replaced it with the result.
        (["lm", "build", corpus, "--out", f"{tmp_path}/./corpus.txt"],  # one file, written two ways
         f"--out {tmp_path}/./corpus.txt: is also an input ({corpus}); name another file"),
        (["average", tmp_path / "a.pt", not_ckpt, "--out", not_ckpt],
         f"--out {not_ckpt}: is also an input ({not_ckpt}); name another file"),
        (["export", not_ckpt, "--out", not_ckpt], f"--out {not_ckpt}: is also an input ({not_ckpt})"),
        (["widen", not_ckpt, "--hidden-size", "8", "--out", not_ckpt], f"--out {not_ckpt}: is also an input"),
        (["evaluate", "--manifest", corpus, "--details", corpus], f"--details {corpus}: is also an input ({corpus})"),
        # They used to be ignored: a greedy figure could be taken for a beam-search one.
        (["evaluate", "--model", not_ckpt, "--manifest", "m.jsonl", "--beam-size", "5", "--word-score", "1"],
         "--beam-size, --word-score: beam search settings, but no --lm was given"),
    ]
    for args, message in cases:
        result = asr_cli(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == f"asr: error: {message}" or message in result.stderr.strip()
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert corpus.read_text() == "hello world\n" and not_ckpt.read_text() == "hello"


def test_cli_refuses_impossible_counts_lengths_and_devices_by_flag(tmp_path):
    """They used to fail deep inside (--jobs 0: "max_workers must be greater than 0"; --device cuda without
    a GPU: a traceback about drivers), report an empty corpus (--hours 0) or, for --beam-size 0, score
    every utterance 100% wrong without a word (and --lm-weight nan print every transcript empty)."""
    model = tmp_path / "model.pt"  # never read: the flag is refused first
    cases = [(["transcribe", "x.wav", "--lm", "x.arpa", "--beam-size", "0"], "--beam-size: must be above zero"),
             (["evaluate", "--model", model, "--manifest", "m.jsonl", "--batch-size", "-1"], "--batch-size"),
             (["transcribe", "x.wav", "--chunk-seconds", "0"], "argument --chunk-seconds: must be above zero"),
             (["prepare", "synthetic", "--root", tmp_path, "--out", tmp_path, "--hours", "0"], "argument --hours"),
             (["prepare", "synthetic", "--root", tmp_path, "--out", tmp_path, "--jobs", "0"], "argument --jobs"),
             (["average", model, "--last", "0", "--out", tmp_path / "avg.pt"], "argument --last"),
             (["transcribe", "x.wav", "--lm", "x.arpa", "--lm-weight", "nan"], "--lm-weight: must be a finite number"),
             (["evaluate", "--model", model, "--manifest", "m.jsonl", "--lm", "x.arpa", "--word-score=-inf"],
              "argument --word-score: must be a finite number"),
             (["transcribe", "x.wav", "--device", "gpu"], "argument --device: 'gpu' is not a device"),
             (["evaluate", "--model", model, "--manifest", "m.jsonl", "--device", "cuda:99"], "argument --device")]
    for args, message in cases:
        result = asr_cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1], "argparse: usage, then the error on its last line"


def test_help_states_each_default_once(capsys):
    """argparse's defaults formatter wrote "(default: None)" after every flag without a default, and a
    second default after helps that name theirs ("the bundled model", "RUN_DIR/curves.png")."""
    from asr.cli import main
    for command, default in [("transcribe", "the bundled model"), ("evaluate", "the bundled model"),
                             ("plot", "RUN_DIR/curves.png"), ("prepare", "Debian's"), ("train", None)]:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "(default: None)" not in text and "(default: False)" not in text, command
        assert default is None or text.count(default) == 1, command
    with pytest.raises(SystemExit):
        main(["transcribe", "--help"])
    assert "(default: 8)" in " ".join(capsys.readouterr().out.split()), "a real default is still shown"


def test_transcribe_and_evaluate_run_on_a_gpu_when_one_is_visible(monkeypatch):
    """--device defaults to auto, as training does: a user with a GPU should not have to ask for it."""
    from asr.cli import build_parser
    assert build_parser().parse_args(["transcribe", "x.wav"]).device == "auto"
    assert build_parser().parse_args(["evaluate", "--manifest", "m.jsonl"]).device == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda" and pick_device("cpu") == "cpu" and pick_device("cuda:1") == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == "cpu"


def test_version_names_the_stack_a_bug_report_needs(capsys):
    import triton

    from asr.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    line = capsys.readouterr().out.strip()
    assert exit_.value.code == 0 and line.startswith("asr (triton-asr) 0.")
    for name, module in (("torch", torch), ("torchaudio", torchaudio), ("triton", triton)):
        assert f"{name} {module.__version__.split('+')[0]}" in line
