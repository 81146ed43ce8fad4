"""Training: bucketed batches, augmentation, AdamW with warmup + cosine decay, gradient clipping,
dev WER every epoch, a checkpoint every epoch, and resuming from any of them."""

import csv
import math
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from asr.checkpoint import read_checkpoint, save_checkpoint
from asr.config import Config, config_from_dict
from asr.data import SpeechDataset, Utterance, collate, read_manifest
from asr.decoding import greedy_decode
from asr.features import FeatureConfig, SpecAugment, num_frames
from asr.model import AcousticModel, ctc_loss
from asr.sampler import BucketBatchSampler
from asr.scoring import error_rates
from asr.text import CharTokenizer, normalize_text

LOG_FIELDS = ["epoch", "step", "lr", "loss", "utt_per_s", "audio_s_per_s", "dev_loss", "dev_wer", "dev_cer"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device=cuda but no CUDA GPU is visible")
    return torch.device(name)


def usable_utterances(utts: list[Utterance], tokenizer: CharTokenizer, model: AcousticModel,
                      features: FeatureConfig, max_duration: float) -> list[Utterance]:
    """Skip what cannot train, and say so with counts and examples (file:line): text with
    characters outside the vocabulary, over-long audio, and CTC-infeasible utterances whose
    label needs more frames than the model outputs (speed perturbation at 1.1 included)."""
    kept, skipped = [], {}
    for utt in utts:
        text = normalize_text(utt.text)
        samples = int(utt.duration / 1.1 * features.sample_rate)
        frames = int(model.output_lengths(torch.tensor(num_frames(samples, features))))
        if tokenizer.unknown_chars(text):
            reason = f"characters outside the vocabulary ({''.join(sorted(tokenizer.unknown_chars(text)))!r})"
        elif utt.duration > max_duration:
            reason = f"longer than data.max_duration={max_duration}s"
        elif not text:
            reason = "empty transcript"
        elif len(text) + sum(a == b for a, b in zip(text, text[1:])) > frames:
            reason = "CTC-infeasible: transcript longer than the model's output frames"
        else:
            kept.append(utt)
            continue
        skipped.setdefault(reason, []).append(utt.where or utt.audio_filepath)
    for reason, where in skipped.items():
        print(f"skipped {len(where)} utterance(s): {reason}; e.g. {', '.join(where[:3])}")
    return kept


def read_manifests(paths: str) -> list[Utterance]:
    return [utt for path in paths.split(",") if path for utt in read_manifest(path)]


def warmup_cosine(warmup_steps: int, total_steps: int, final_ratio: float = 0.05):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def compute_loss(model, batch, device, augment=None):
    feats = batch["feats"].to(device)
    if augment is not None:
        feats = augment(feats)
    log_probs, out_lengths = model(feats, batch["lengths"].to(device))
    return ctc_loss(log_probs, out_lengths, batch["targets"].to(device), batch["target_lengths"].to(device))


def train_one_epoch(model, loader, optimizer, scheduler, cfg: Config, epoch: int, device, log) -> float:
    model.train()
    loader.batch_sampler.set_epoch(epoch - 1)
    spec_augment = SpecAugment(cfg.features).train() if cfg.train.spec_augment else None
    total, count, utts, frames, start = 0.0, 0, 0, 0, time.time()
    hop = cfg.features.hop_ms / 1000
    for step, batch in enumerate(loader, start=1):
        loss = compute_loss(model, batch, device, spec_augment)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        scheduler.step()
        total, count = total + loss.item(), count + 1
        utts, frames = utts + len(batch["ids"]), frames + int(batch["lengths"].sum())
        if step % cfg.train.log_every == 0 or step == len(loader):
            elapsed = time.time() - start
            row = dict(epoch=epoch, step=step, lr=scheduler.get_last_lr()[0], loss=total / count,
                       utt_per_s=utts / elapsed, audio_s_per_s=frames * hop / elapsed)
            print(f"epoch {epoch} step {step}/{len(loader)} loss {row['loss']:.4f} lr {row['lr']:.2e} "
                  f"({row['utt_per_s']:.1f} utt/s, {row['audio_s_per_s']:.0f} audio-s/s)", flush=True)
            log(**row)
    return total / max(count, 1)


@torch.no_grad()
def validate(model, loader, tokenizer, device) -> dict:
    model.eval()
    refs, hyps, losses = [], [], []
    for batch in loader:
        log_probs, out_lengths = model(batch["feats"].to(device), batch["lengths"].to(device))
        losses.append(ctc_loss(log_probs, out_lengths, batch["targets"].to(device),
                               batch["target_lengths"].to(device)).item())
        hyps += greedy_decode(log_probs, out_lengths, tokenizer)
        refs += batch["texts"]
    return {"loss": sum(losses) / max(len(losses), 1), **error_rates(refs, hyps)}


def _csv_logger(path: Path):
    def log(**row):
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
    return log


def run(cfg: Config, resume=None) -> Path:
    """Train as configured (or continue the checkpoint `resume`); returns the last checkpoint."""
    state = None
    if resume is not None:
        state = read_checkpoint(resume)
        cfg_epochs = cfg.train.epochs
        cfg = config_from_dict(state["config"], str(resume))
        cfg.train.epochs = max(cfg_epochs, cfg.train.epochs)
    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    tokenizer = CharTokenizer(cfg.vocab)
    cfg.model.vocab_size, cfg.model.n_mels = len(tokenizer), cfg.features.n_mels
    model = AcousticModel(cfg.model).to(device)
    if not cfg.data.train_manifest:
        raise ValueError("data.train_manifest is not set")
    train_utts = usable_utterances(read_manifests(cfg.data.train_manifest), tokenizer, model, cfg.features,
                                   cfg.data.max_duration)
    if not train_utts:
        raise ValueError(f"{cfg.data.train_manifest}: no usable utterances")
    dev_utts = usable_utterances(read_manifests(cfg.data.dev_manifest), tokenizer, model, cfg.features,
                                 cfg.data.max_duration) if cfg.data.dev_manifest else []
    sampler = BucketBatchSampler([u.duration for u in train_utts], cfg.data.max_batch_seconds, seed=cfg.train.seed,
                                 sortagrad=cfg.data.sortagrad)
    train_loader = DataLoader(SpeechDataset(train_utts, tokenizer, cfg.features, cfg.augment, cfg.train.seed),
                              batch_sampler=sampler, num_workers=cfg.data.num_workers, collate_fn=collate)
    dev_loader = DataLoader(SpeechDataset(dev_utts, tokenizer, cfg.features), batch_size=cfg.data.batch_size,
                            num_workers=cfg.data.num_workers, collate_fn=collate) if dev_utts else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    total_steps = cfg.train.epochs * len(sampler)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(min(cfg.train.warmup_steps, total_steps // 10 + 1), total_steps))
    first_epoch, best_wer = 1, float("inf")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch, best_wer = state["epoch"] + 1, state.get("best_wer", best_wer)
        print(f"resuming {resume} at epoch {first_epoch}")
    out_dir = Path(cfg.train.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = _csv_logger(out_dir / "log.csv")
    print(f"training {sum(p.numel() for p in model.parameters()):,} parameters on {device}: "
          f"{len(train_utts)} train ({sum(u.duration for u in train_utts) / 3600:.2f} h), {len(dev_utts)} dev")
    last = Path(resume) if resume else out_dir / "epoch-0.pt"
    for epoch in range(first_epoch, cfg.train.epochs + 1):
        epoch_state = {"epoch": epoch, "train_loss": train_one_epoch(model, train_loader, optimizer, scheduler, cfg,
                                                                     epoch, device, log)}
        if dev_loader is not None:
            scores = validate(model, dev_loader, tokenizer, device)
            print(f"epoch {epoch} dev loss {scores['loss']:.4f} WER {scores['wer']:.2%} CER {scores['cer']:.2%}")
            log(epoch=epoch, step="dev", dev_loss=scores["loss"], dev_wer=scores["wer"], dev_cer=scores["cer"])
            epoch_state["dev"] = scores
            best_wer = min(best_wer, scores["wer"])
        last = out_dir / f"epoch-{epoch}.pt"
        save_checkpoint(last, model, cfg, tokenizer, optimizer=optimizer.state_dict(),
                        scheduler=scheduler.state_dict(), best_wer=best_wer, **epoch_state)
        if dev_loader is not None and epoch_state["dev"]["wer"] <= best_wer:
            save_checkpoint(out_dir / "best.pt", model, cfg, tokenizer, best_wer=best_wer, **epoch_state)
    return last
