"""Training at scale on CPU: DDP (gloo) against one process, kill-and-resume, guards, averaging."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import asr.train
from asr.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from asr.cli import main as asr_main
from asr.config import Config, load_config
from asr.data import Utterance
from asr.features import FeatureConfig
from asr.model import AcousticModel, ModelConfig
from asr.text import CharTokenizer
from asr.train import TrainingError, run, usable_utterances
from asr.trainlog import average_checkpoints, latest_checkpoint, numbered_checkpoints, prune_checkpoints
from tests.asr.synth import tone_utterance, write_tiny_recipe, write_tone_corpus

TEXTS = ["abc", "bad cab", "dead beef", "face", "cafe bead", "he had", "ace", "bed"]
ROOT = Path(__file__).resolve().parents[2]
FAULTY_TRAIN = ROOT / "tests" / "asr" / "faulty_train.py"


def recipe(folder: Path, manifest: Path, **train) -> Path:
    return write_tiny_recipe(folder, manifest, model={"conv_channels": 4, "hidden_size": 16},
                             data={"max_batch_seconds": 3.0},
                             train={"epochs": 2, "lr": 0.003, "log_every": 1, "seed": 3, **train})


def final_weights(run_dir: Path, epoch: int) -> dict:
    return read_checkpoint(run_dir / f"epoch-{epoch}.pt")["model"]


def assert_same_weights(a: dict, b: dict, atol=1e-6):
    for name, value in a.items():
        if value.is_floating_point() and "running" not in name:
            torch.testing.assert_close(value, b[name], atol=atol, rtol=1e-5, msg=name)


def child_env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_what_cannot_train_is_skipped_and_reported_by_reason_and_place(tmp_path):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"")  # never read: the checks need the file to be there, not its samples

    def utterance(text="fine", duration=2.0, where=""):
        return Utterance(str(audio), duration, text, where=where)

    # 2 s slowed to 1/1.1 is 182 frames of 10 ms, 46 after 4x subsampling: 46 letters fit, 47 do not.
    kept = [utterance(where="m:1"), utterance("ab" * 23, where="m:2")]
    unusable = [utterance("straße", where="m:3"), utterance(duration=31.0, where="m:4"),
                utterance(" ", where="m:5"), utterance("ab" * 23 + "a", where="m:6"),
                Utterance(str(tmp_path / "gone.wav"), 2.0, "fine", where="m:7")]
    said = []
    model = AcousticModel(ModelConfig(conv_channels=4, hidden_size=8, num_layers=1, subsample=4))
    assert usable_utterances(kept + unusable, CharTokenizer(), model, FeatureConfig(), 30.0, said.append) == kept
    assert sorted(said) == sorted([
        "skipped 1 utterance(s): characters outside the vocabulary ('ß'); e.g. m:3",
        "skipped 1 utterance(s): longer than data.max_duration=30.0s; e.g. m:4",
        "skipped 1 utterance(s): empty transcript; e.g. m:5",
        "skipped 1 utterance(s): CTC-infeasible: transcript longer than the model's output frames; e.g. m:6",
        "skipped 1 utterance(s): audio file missing; e.g. m:7"])


@pytest.fixture
def corpus(tmp_path):
    return write_tone_corpus(tmp_path / "data", TEXTS)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process_with_accumulation(tmp_path, corpus):
    """Rank r takes batches r, r+2, ...; one process accumulating two batches per step sees the
    same pairs, so the averaged gradients and therefore the parameters must agree."""
    budget = 0.1  # one utterance per batch: 8 batches every epoch, an even split over 2 ranks
    single = tmp_path / "single"
    single.mkdir()
    config = recipe(single, corpus, accumulate=2)
    subprocess.run([sys.executable, "-m", "asr.cli", "train", str(config), f"data.max_batch_seconds={budget}"],
                   check=True, env=child_env(), capture_output=True, timeout=600)
    ddp = tmp_path / "ddp"
    ddp.mkdir()
    config = recipe(ddp, corpus)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "asr.cli", "train", str(config),
                             f"data.max_batch_seconds={budget}"], env=child_env(), capture_output=True, text=True,
                            timeout=600)
    # the whole stderr: a failing rank's own message comes before torchrun's summary of exit codes
    assert result.returncode == 0, result.stderr
    assert_same_weights(final_weights(single / "run", 2), final_weights(ddp / "run", 2))
    assert not list((ddp / "run").glob("*.tmp")), "only rank 0 writes, atomically"


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_final_step(tmp_path, corpus):
    budget = 0.1  # one utterance per batch: 8 batches every epoch
    whole = tmp_path / "whole"
    whole.mkdir()
    subprocess.run([sys.executable, "-m", "asr.cli", "train", str(recipe(whole, corpus, save_every_steps=3)),
                    f"data.max_batch_seconds={budget}"], check=True, env=child_env(), capture_output=True,
                   timeout=600)
    killed = tmp_path / "killed"
    killed.mkdir()
    config = recipe(killed, corpus, save_every_steps=3, keep_last=50)
    # SIGKILL as step 5 starts: step-3.pt is saved, step 4 is done but lost, mid-epoch 1
    child = subprocess.run([sys.executable, str(FAULTY_TRAIN), "kill:5", str(config),
                            f"data.max_batch_seconds={budget}"], env=child_env(), capture_output=True, timeout=600)
    assert child.returncode == -signal.SIGKILL
    latest = max((killed / "run").glob("step-*.pt"), key=lambda p: int(p.stem.split("-")[1]))
    resumed_at = read_checkpoint(latest)["step"]
    assert resumed_at == 3
    subprocess.run([sys.executable, "-m", "asr.cli", "train", str(config), f"data.max_batch_seconds={budget}",
                    "--resume", str(latest)], check=True, env=child_env(), capture_output=True, timeout=600)
    whole_ckpt = read_checkpoint(whole / "run" / "epoch-2.pt")
    killed_ckpt = read_checkpoint(killed / "run" / "epoch-2.pt")
    assert whole_ckpt["step"] == killed_ckpt["step"] > resumed_at
    assert_same_weights(whole_ckpt["model"], killed_ckpt["model"], atol=1e-8)
    steps = [int(line.split(",")[1]) for line in (killed / "run" / "log.csv").read_text().splitlines()[1:]]
    expected = list(range(1, whole_ckpt["step"] + 1))
    assert sorted(set(steps)) == expected, "every step logged, none skipped"
    repeated = [s for s in set(steps) if steps.count(s) > 1]
    assert repeated == [4], "only the work after the last checkpoint is redone"


# A skipped step still advances the schedule, which stays tied to the step count; PyTorch warns
# about that when the very first step is the skipped one.
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`")
def test_non_finite_steps_are_skipped_then_stop_the_run(tmp_path, corpus, monkeypatch, capsys, recwarn):
    """A skipped step still takes its place in the learning-rate schedule, the first one included,
    without torch's warning about a scheduler stepped before its optimizer: that order is meant."""
    calls = {"n": 0}
    real = asr.train.compute_loss

    def sometimes_nan(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] in (1, 2) else loss

    monkeypatch.setattr(asr.train, "compute_loss", sometimes_nan)
    run(load_config(recipe(tmp_path, corpus, epochs=2, scan_out_of_memory=False)))  # calls counted are steps
    out = capsys.readouterr().out
    assert "step 1: non-finite loss or gradient, step skipped (1 in a row)" in out
    assert "step 2: non-finite loss or gradient, step skipped (2 in a row)" in out
    assert not [w for w in recwarn if "lr_scheduler.step()" in str(w.message)]
    ckpt = read_checkpoint(tmp_path / "run" / "epoch-2.pt")
    assert ckpt["nonfinite"] == 0 and all(torch.isfinite(v).all() for v in ckpt["model"].values()
                                          if v.is_floating_point())
    monkeypatch.setattr(asr.train, "compute_loss", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainingError, match="3 non-finite steps in a row"):
        run(load_config(recipe(tmp_path, corpus, epochs=1, max_nonfinite_steps=3, out_dir=str(tmp_path / "r2"))))


def break_audio(folder: Path, numbers) -> None:
    for i in numbers:
        (folder / f"utt{i}.wav").write_bytes(b"RIFF\x00\x00 cut short")


def test_unreadable_audio_found_mid_run_is_named_and_left_out_of_its_batch(tmp_path, corpus, capsys):
    break_audio(corpus.parent, [3])  # still there, so the start-of-run check lets it through
    config = recipe(tmp_path, corpus, epochs=1)
    # A loader worker: what it says about the file must survive the trip to the training process.
    assert asr_main(["train", str(config), "data.num_workers=1", f"data.dev_manifest={corpus}"]) == 0
    out = capsys.readouterr().out
    named = f"{corpus}:4: {corpus.parent / 'utt3.wav'}: not a readable audio file"
    assert f"skipped unreadable audio: {named}" in out and f"dev: skipped unreadable audio: {named}" in out
    assert "epoch 1: skipped 1 utterance(s) whose audio could not be read" in out
    assert read_checkpoint(tmp_path / "run" / "epoch-1.pt")["dev"]["wer"] <= 1.0


def test_a_corpus_whose_audio_broke_stops_the_run(tmp_path, capsys):
    small = write_tone_corpus(tmp_path / "small", TEXTS)
    break_audio(small.parent, range(len(TEXTS)))
    with pytest.raises(TrainingError, match="epoch 1: none of the 8 utterances' audio could be read"):
        run(load_config(recipe(tmp_path, small, epochs=1, scan_out_of_memory=False, out_dir=str(tmp_path / "a"))))
    assert "step 1: skipped, no readable audio in its batch" in capsys.readouterr().out
    large = write_tone_corpus(tmp_path / "large", TEXTS * 3)
    break_audio(large.parent, range(11))
    with pytest.raises(TrainingError, match=r"11 of the \d+ utterances read so far in epoch 1 could not be read"):
        run(load_config(recipe(tmp_path, large, epochs=1, out_dir=str(tmp_path / "b"))))


def test_out_of_memory_batch_is_reported_recorded_and_skipped(tmp_path, corpus, monkeypatch, capsys):
    real = asr.train.compute_loss

    def out_of_memory_on_utt3(model, batch, *args, **kwargs):
        if "utt3" in batch["ids"]:
            raise torch.OutOfMemoryError("injected")
        return real(model, batch, *args, **kwargs)

    monkeypatch.setattr(asr.train, "compute_loss", out_of_memory_on_utt3)
    # utt3 is in the most padded batch, so the start-up scan would stop the run: the batch-level
    # handling under test is for batches that fail later (fragmentation, a busier device).
    no_scan = {"scan_out_of_memory": False}
    run(load_config(recipe(tmp_path, corpus, epochs=2, **no_scan)))
    out = capsys.readouterr().out
    assert out.count("out of memory on epoch") == 2 and "utt3" in out
    records = sorted((tmp_path / "run" / "out_of_memory").glob("*.json"))
    assert [json.loads(p.read_text())["epoch"] for p in records] == [1, 2]
    batches_per_epoch = read_checkpoint(tmp_path / "run" / "epoch-1.pt")["step"] + 1
    assert read_checkpoint(tmp_path / "run" / "epoch-2.pt")["step"] == 2 * batches_per_epoch - 2

    monkeypatch.setattr(asr.train, "compute_loss", real)  # resumed, the recorded batches are not tried again
    run(load_config(recipe(tmp_path, corpus, **no_scan)), resume=tmp_path / "run" / "epoch-1.pt")
    assert "ran out of memory before" in capsys.readouterr().out
    for path in (tmp_path / "run").iterdir():  # as if the run had died before its first checkpoint
        if path.is_file():
            path.unlink()
    assert len(list((tmp_path / "run" / "out_of_memory").iterdir())) == 2
    run(load_config(recipe(tmp_path, corpus, epochs=1, **no_scan)))  # a fresh run in that folder skips nothing
    assert "ran out of memory" not in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "run" / "epoch-1.pt")["step"] == batches_per_epoch


@pytest.mark.slow
def test_out_of_memory_under_ddp_restarts_and_skips_the_batch(tmp_path, corpus):
    """A rank that runs out of memory cannot skip alone: it records the batch and stops; torchrun
    restarts both ranks from the latest checkpoint and they skip it. The result must equal a run
    that skipped the same batches without ever stopping."""
    budget = 0.1  # one utterance per batch
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    config = recipe(crashed, corpus, save_every_steps=1, keep_last=2)
    result = subprocess.run([*torchrun, "--max-restarts", "3", str(FAULTY_TRAIN), "oom:utt3",
                             str(config), f"data.max_batch_seconds={budget}", "--resume", "latest"],
                            env=child_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "out of memory on epoch 1 batch" in result.stderr and "utt3" in result.stderr
    records = sorted((crashed / "run" / "out_of_memory").glob("*.json"))
    assert sorted(json.loads(p.read_text())["epoch"] for p in records) == [1, 2]

    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copytree(crashed / "run" / "out_of_memory", clean / "run" / "out_of_memory")
    # --resume latest with no checkpoint yet: a fresh start that keeps the records (a plain one forgets them)
    result = subprocess.run([*torchrun, "-m", "asr.cli", "train", str(recipe(clean, corpus)),
                             f"data.max_batch_seconds={budget}", "--resume", "latest"], env=child_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    crashed_ckpt = read_checkpoint(crashed / "run" / "epoch-2.pt")
    clean_ckpt = read_checkpoint(clean / "run" / "epoch-2.pt")
    assert crashed_ckpt["step"] == clean_ckpt["step"] == 2 * 4 - 2
    assert_same_weights(clean_ckpt["model"], crashed_ckpt["model"], atol=1e-7)


@pytest.mark.slow
def test_unreadable_audio_under_ddp_skips_the_step_on_every_rank(tmp_path, corpus):
    """One utterance per batch: the rank whose batch is unreadable has nothing to train, and the
    other must skip that step with it, not wait for it in the gradient all-reduce."""
    break_audio(corpus.parent, [3])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run([*torchrun, "-m", "asr.cli", "train", str(recipe(tmp_path, corpus, epochs=1)),
                             "data.max_batch_seconds=0.1"], env=child_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "skipped unreadable audio" in result.stdout and "utt3.wav" in result.stdout
    assert "skipped, no readable audio in its batch" in result.stdout
    assert read_checkpoint(tmp_path / "run" / "epoch-1.pt")["step"] == len(TEXTS) // 2


def test_out_of_memory_scan_trains_the_heaviest_batch_and_leaves_no_trace(tmp_path, corpus, monkeypatch):
    real, seen = asr.train.compute_loss, []

    def compute_loss(model, batch, *args, **kwargs):
        seen.append((batch["ids"], batch["lengths"].tolist()))
        return real(model, batch, *args, **kwargs)

    def randomised_recipe(folder, **train):  # every random draw the scan could disturb is on
        folder.mkdir()
        return load_config(write_tiny_recipe(
            folder, corpus, model={"conv_channels": 4, "hidden_size": 16, "num_layers": 2, "dropout": 0.3},
            data={"max_batch_seconds": 3.0}, augment={"speed_factors": [0.9, 1.0, 1.1], "noise_prob": 0.5,
                                                      "pad_prob": 0.5, "pad_seconds": [0.1, 0.3],
                                                      "speech_free_prob": 0.2},
            train={"epochs": 1, "seed": 3, "spec_augment": True, **train}))

    monkeypatch.setattr(asr.train, "compute_loss", compute_loss)
    plain = run(randomised_recipe(tmp_path / "plain", scan_out_of_memory=False))
    batches = len(seen)
    scanned = run(randomised_recipe(tmp_path / "scanned"))
    assert len(seen) > 2 * batches, "the scan trained extra batches"
    scan_ids, scan_lengths = seen[batches]
    longest = max(range(len(TEXTS)), key=lambda i: len(TEXTS[i]))  # tone utterances grow with their text
    assert f"utt{longest}" in scan_ids
    # stretched to speed 0.9 with 0.3 s of silence each side, 10 ms hop
    feature_frames = (len(tone_utterance(TEXTS[longest])) / 0.9 + 2 * 0.3 * 16000) / 160
    assert all(abs(n - feature_frames) <= 2 for n in scan_lengths)
    # The scan's RNG draws, BatchNorm statistics and gradients are undone: the runs are identical.
    for name, value in read_checkpoint(plain)["model"].items():
        assert torch.equal(value, read_checkpoint(scanned)["model"][name]), name

    def out_of_memory(model, batch, *args, **kwargs):
        if f"utt{longest}" in batch["ids"]:
            raise torch.OutOfMemoryError("injected")
        return real(model, batch, *args, **kwargs)

    monkeypatch.setattr(asr.train, "compute_loss", out_of_memory)
    with pytest.raises(TrainingError, match=rf"heaviest batch .*utt{longest}.*data.max_batch_seconds=3.0"):
        run(randomised_recipe(tmp_path / "too_big"))
    assert not list((tmp_path / "too_big" / "run").glob("*.pt"))


def test_resume_keeps_the_runs_length_unless_the_command_line_changes_it(tmp_path, corpus, capsys):
    def lr_and_step(path):
        ckpt = read_checkpoint(path)
        return ckpt["optimizer"]["param_groups"][0]["lr"], ckpt["step"]

    three = tmp_path / "three"
    three.mkdir()
    run(load_config(recipe(three, corpus, epochs=3)))
    config = recipe(tmp_path, corpus, epochs=2)
    assert asr_main(["train", str(config)]) == 0
    epoch_1, epoch_2 = tmp_path / "run" / "epoch-1.pt", tmp_path / "run" / "epoch-2.pt"
    two_epochs = read_checkpoint(epoch_2)["model"]
    shutil.copy(epoch_1, tmp_path / "kept-epoch-1.pt")
    capsys.readouterr()

    # a recipe that now says 3 epochs does not stretch a 2-epoch run, and other overrides are not applied
    longer_recipe = recipe(tmp_path, corpus, epochs=3)
    assert asr_main(["train", str(longer_recipe), "data.max_batch_seconds=9", "train.lr=0.003",
                     "--resume", str(epoch_1)]) == 0
    out = capsys.readouterr().out  # train.lr is the run's own: nothing to report
    assert "not applied on resume, the run keeps its own config: data.max_batch_seconds stays 3.0 (not 9.0)\n" in out
    assert not (tmp_path / "run" / "epoch-3.pt").exists()
    assert_same_weights(two_epochs, read_checkpoint(epoch_2)["model"], atol=1e-7)

    # train.epochs on the command line does, and its schedule is the one a 3-epoch run has
    assert asr_main(["train", str(config), "train.epochs=3", "--resume", str(tmp_path / "kept-epoch-1.pt")]) == 0
    assert "train.epochs 2 -> 3 (command line)" in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "run" / "epoch-3.pt")["config"]["train"]["epochs"] == 3
    lr, step = lr_and_step(tmp_path / "run" / "epoch-3.pt")
    assert (lr, step) == pytest.approx(lr_and_step(three / "run" / "epoch-3.pt"))

    # and it shortens a run as well
    assert asr_main(["train", str(config), "train.epochs=1", "--resume", str(tmp_path / "kept-epoch-1.pt")]) == 0
    assert "nothing to train: the run ends after epoch 1" in capsys.readouterr().out


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, corpus, capsys):
    config = recipe(tmp_path, corpus)
    bad = tmp_path / "step-3.pt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    assert asr_main(["train", str(config), "--resume", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"asr: error: {bad}: not a readable checkpoint (RuntimeError)" or "not a readable checkpoint" in err
    assert len(err.splitlines()) == 1


def test_keep_last_average_and_plot(tmp_path, corpus, capsys):
    run(load_config(recipe(tmp_path, corpus, epochs=3, keep_last=2)))
    kept = sorted(p.name for p in (tmp_path / "run").glob("epoch-*.pt"))
    assert kept == ["epoch-2.pt", "epoch-3.pt"]
    # A second, fresh run there would have overwritten these, appended to the log, and kept the
    # old run's epoch 3 over its own epoch 1.
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(TrainingError, match=re.escape(f"train.out_dir {tmp_path / 'run'}: holds a run already "
                                                      "(epoch-2.pt, epoch-3.pt, log.csv); continue it with --resume")):
        run(load_config(recipe(tmp_path, corpus, epochs=1, keep_last=2)))
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before
    paths = [tmp_path / "run" / n for n in kept]
    average_checkpoints(paths, tmp_path / "avg.pt")
    averaged = read_checkpoint(tmp_path / "avg.pt")["model"]
    a, b = (read_checkpoint(p)["model"] for p in paths)
    name = "head.weight"
    torch.testing.assert_close(averaged[name], (a[name] + b[name]) / 2)
    capsys.readouterr()
    assert asr_main(["average", str(tmp_path / "run"), "--last", "2", "--out", str(tmp_path / "avg2.pt")]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'avg2.pt'}: mean of {paths[0]}, {paths[1]}\n"
    assert asr_main(["average", str(tmp_path / "run"), "--out", str(tmp_path / "avg5.pt")]) == 0  # --last 5
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'run'}: 2 epoch checkpoint(s) kept, not the --last 5 "
                                              "asked for: averaging those\nwrote ")
    assert asr_main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000
    capsys.readouterr()
    assert asr_main(["plot", str(tmp_path / "run"), "--out", str(tmp_path / "curves.txt")]) == 2
    assert asr_main(["average", str(tmp_path), "--out", str(tmp_path / "avg3.pt")]) == 2  # a folder, not a run
    plot_error, average_error = capsys.readouterr().err.splitlines()
    assert plot_error.startswith(f"asr: error: --out {tmp_path / 'curves.txt'}: name an image file (")
    assert ".png, " in plot_error  # the rest is what this matplotlib writes
    assert average_error == f"asr: error: {tmp_path}: no epoch-N.pt checkpoint in this folder to average"
    with pytest.raises(CheckpointError, match="no checkpoints"):
        average_checkpoints([], tmp_path / "x.pt")


def test_average_takes_a_fine_tune_with_another_dropout_but_not_another_shape(tmp_path):
    """A fine-tune without dropout, averaged with the file it started from (as recipes/default
    does), was refused as 'a different model config'; other layer sizes must still be refused."""
    def saved(name, seed, **model):
        tiny = dict(n_mels=80, conv_channels=4, hidden_size=8, num_layers=2, impl="torch")
        cfg = Config(model=ModelConfig(**{**tiny, **model}))
        torch.manual_seed(seed)  # other weights in each file, so the mean differs from either
        save_checkpoint(tmp_path / name, AcousticModel(cfg.model), cfg, CharTokenizer())
        return tmp_path / name
    start, tuned = saved("start.pt", 0, dropout=0.1), saved("tuned.pt", 1, dropout=0.0)
    average_checkpoints([start, tuned], tmp_path / "avg.pt")
    a, b = (read_checkpoint(p)["model"] for p in (start, tuned))
    averaged = read_checkpoint(tmp_path / "avg.pt")
    torch.testing.assert_close(averaged["model"]["head.weight"], (a["head.weight"] + b["head.weight"]) / 2)
    assert averaged["config"]["model"]["dropout"] == 0.0  # the newest checkpoint's
    wider = saved("wider.pt", 2, hidden_size=16, conv_channels=8)
    with pytest.raises(CheckpointError, match=re.escape(
            f"{start}: a different model (model.conv_channels, model.hidden_size); only checkpoints of one model")):
        average_checkpoints([start, wider], tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_checkpoints_are_ordered_by_training_position_not_file_time_or_name(tmp_path):
    """A run folder copied with cp -r or scp has new file times in copy order: --resume latest,
    train.keep_last and average --last must still see which checkpoint came last."""
    saved = {"step-950.pt": (950, 3, 40), "step-1000.pt": (1000, 3, 90), "epoch-3.pt": (1000, 4, 0),
             "step-1050.pt": (1050, 4, 50), "epoch-2.pt": (900, 3, 0)}
    for age, (name, (step, epoch, batch)) in enumerate(saved.items()):
        torch.save({"step": step, "epoch": epoch, "batches_done": batch}, tmp_path / name)
        os.utime(tmp_path / name, (1e9 - age * 100, 1e9 - age * 100))  # by file time, step-950 came last
    (tmp_path / "step-7.pt").write_bytes(b"PK\x03\x04 torn by a full disk")
    order = ["step-7.pt", "epoch-2.pt", "step-950.pt", "step-1000.pt", "epoch-3.pt", "step-1050.pt"]
    assert [p.name for p in numbered_checkpoints(tmp_path)] == order
    assert latest_checkpoint(tmp_path) == tmp_path / "step-1050.pt"
    prune_checkpoints(tmp_path, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["epoch-3.pt", "step-1050.pt"]


def test_init_from_an_exported_model_and_resume_refuses_it(tmp_path, corpus, capsys):
    from asr.checkpoint import export_model
    run(load_config(recipe(tmp_path, corpus, epochs=1)))
    export_model(tmp_path / "run" / "epoch-1.pt", tmp_path / "small.pt", dtype=torch.float16)  # as the default model
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    config = recipe(tuned, corpus, epochs=1, init_from=str(tmp_path / "small.pt"), lr=1e-9)
    run(load_config(config))
    exported = read_checkpoint(tmp_path / "small.pt")["model"]
    assert exported["head.weight"].dtype == torch.float16
    weights = {name: value.float() for name, value in exported.items() if value.is_floating_point()}
    assert_same_weights(weights, final_weights(tuned / "run", 1), atol=1e-5)
    assert "model settings other than" not in capsys.readouterr().out
    run(load_config(config, ["model.subsample=4", f"train.out_dir={tuned / 'subsample4'}"]))
    assert "model settings other than those it was trained with: model.subsample 4 (was 2)" in capsys.readouterr().out
    assert asr_main(["train", str(config), "--resume", str(tmp_path / "small.pt")]) == 2
    assert "train.init_from=PATH instead of --resume" in capsys.readouterr().err
