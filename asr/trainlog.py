"""What a run leaves on disk: the CSV log, its checkpoints, averaged weights and plots."""

import csv
import json
import re
from pathlib import Path

import torch

from asr.checkpoint import CheckpointError, atomic_save, read_checkpoint
from asr.fileio import atomic_write_text
from asr.model import WEIGHT_FREE_SETTINGS

LOG_FIELDS = ["epoch", "step", "lr", "loss", "utt_per_s", "audio_s_per_s", "dev_loss", "dev_wer", "dev_cer"]
_NUMBERED = re.compile(r"^(epoch|step)-(\d+)\.pt$")


class CsvLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **row) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)


def numbered_checkpoints(run_dir: Path) -> list[Path]:
    """epoch-N.pt and step-N.pt, earliest in training first. Ordered by the position each holds, not
    by file time, which a copy of the folder (cp -r, scp) resets, nor by name: the epoch-end
    checkpoint follows its epoch's last step-N.pt, and step-1000 sorts before step-950."""
    return sorted((p for p in Path(run_dir).glob("*.pt") if _NUMBERED.match(p.name)), key=_training_position)


def _training_position(path: Path) -> tuple[int, int, int, bool]:
    """(step, epoch, batch, is an epoch end) as saved; unreadable files come first, as the oldest.
    mmap reads the few numbers without reading the weights (0.1 s for a 300 MB checkpoint)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return ckpt.get("step", 0), ckpt.get("epoch", 0), ckpt.get("batches_done", 0), path.name.startswith("epoch-")
    except Exception:  # torn or foreign files: any error from pickle, zip or torch
        return -1, -1, -1, False


def latest_checkpoint(run_dir: Path) -> Path | None:
    numbered = numbered_checkpoints(run_dir) if Path(run_dir).is_dir() else []
    return numbered[-1] if numbered else None


def record_out_of_memory(run_dir: Path, epoch: int, batch: int, rank: int, ids: list[str]) -> Path:
    """Note that batch `batch` (0-based, as the sampler numbers it) of `epoch` ran out of memory,
    so that a restarted run skips it on every rank. One file per event: ranks never share one."""
    path = Path(run_dir) / "out_of_memory" / f"epoch-{epoch}-batch-{batch}-rank-{rank}.json"
    atomic_write_text(path, json.dumps({"epoch": epoch, "batch": batch, "rank": rank, "ids": ids}) + "\n")
    return path


def forget_out_of_memory(run_dir: Path) -> None:
    """A fresh run in an old run's folder must not skip batches the old one ran out of memory on."""
    for path in (Path(run_dir) / "out_of_memory").glob("*.json"):
        path.unlink()


def out_of_memory_batches(run_dir: Path) -> set[tuple[int, int]]:
    """(epoch, batch) of every batch recorded by record_out_of_memory."""
    records = (json.loads(p.read_text()) for p in (Path(run_dir) / "out_of_memory").glob("*.json"))
    return {(r["epoch"], r["batch"]) for r in records}


def prune_checkpoints(run_dir: Path, keep_last: int) -> None:
    if keep_last > 0:
        for path in numbered_checkpoints(run_dir)[:-keep_last]:
            path.unlink(missing_ok=True)


def average_checkpoints(paths: list[Path], out: Path) -> None:
    """Mean of the models' floating-point weights (integer buffers from the newest); the rest of
    the newest checkpoint is kept, so the result loads and resumes like any other."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    checkpoints = [read_checkpoint(p) for p in paths]
    newest = checkpoints[-1]
    for other, path in zip(checkpoints, paths):
        differ = [key for key, value in newest["config"]["model"].items()
                  if key not in WEIGHT_FREE_SETTINGS and other["config"]["model"].get(key) != value]
        if differ:
            raise CheckpointError(f"{path}: a different model (model.{', model.'.join(differ)}); "
                                  "only checkpoints of one model can be averaged")
    averaged = {}
    for name, value in newest["model"].items():
        if value.is_floating_point():
            averaged[name] = torch.stack([c["model"][name].float() for c in checkpoints]).mean(0).to(value.dtype)
        else:
            averaged[name] = value
    atomic_save({**newest, "model": averaged, "averaged_from": [str(p) for p in paths]}, out)


def plot_run(run_dir: Path, out: Path | None = None) -> Path:
    """Training loss and dev WER/CER against steps, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    log = Path(run_dir) / "log.csv"
    if not log.exists():
        raise FileNotFoundError(f"{log}: no training log")
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    train = [(int(r["step"]), float(r["loss"])) for r in rows if r.get("loss")]
    dev = [(int(r["step"]), float(r["dev_wer"]), float(r["dev_cer"])) for r in rows if r.get("dev_wer")]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(12, 4.5))
    if train:
        ax_loss.plot(*zip(*train), label="train loss")
    if dev:
        steps, wer, cer = zip(*dev)
        ax_err.plot(steps, [100 * w for w in wer], marker="o", label="dev WER")
        ax_err.plot(steps, [100 * c for c in cer], marker="o", label="dev CER")
    else:
        ax_err.text(0.5, 0.5, "no dev set in this run", ha="center", va="center", transform=ax_err.transAxes)
    ax_loss.set(xlabel="step", ylabel="CTC loss", title="training loss")
    ax_err.set(xlabel="step", ylabel="%", title="dev error rates (greedy)")
    for ax in (ax_loss, ax_err):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    out = Path(out) if out else Path(run_dir) / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
