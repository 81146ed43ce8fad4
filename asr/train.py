"""Training: AdamW, gradient clipping, SpecAugment, dev WER and a checkpoint every epoch."""

import csv
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from asr.checkpoint import save_checkpoint
from asr.config import Config
from asr.data import SpeechDataset, Utterance, collate, read_manifest
from asr.decoding import greedy_decode
from asr.features import FeatureConfig, SpecAugment, num_frames
from asr.model import AcousticModel, ctc_loss
from asr.scoring import error_rates
from asr.text import CharTokenizer, normalize_text


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
    label needs more frames than the model outputs."""
    kept, skipped = [], {}
    for utt in utts:
        text = normalize_text(utt.text)
        frames = model.output_lengths(torch.tensor(num_frames(int(utt.duration * features.sample_rate), features)))
        if tokenizer.unknown_chars(text):
            reason = f"characters outside the vocabulary ({''.join(sorted(tokenizer.unknown_chars(text)))!r})"
        elif utt.duration > max_duration:
            reason = f"longer than data.max_duration={max_duration}s"
        elif not text:
            reason = "empty transcript"
        elif len(text) + sum(a == b for a, b in zip(text, text[1:])) > int(frames):
            reason = "CTC-infeasible: transcript longer than the model's output frames"
        else:
            kept.append(utt)
            continue
        skipped.setdefault(reason, []).append(utt.where or utt.audio_filepath)
    for reason, where in skipped.items():
        print(f"skipped {len(where)} utterance(s): {reason}; e.g. {', '.join(where[:3])}")
    return kept


def compute_loss(model, batch, device, augment=None):
    feats = batch["feats"].to(device)
    if augment is not None:
        feats = augment(feats)
    log_probs, out_lengths = model(feats, batch["lengths"].to(device))
    return ctc_loss(log_probs, out_lengths, batch["targets"].to(device), batch["target_lengths"].to(device))


def train_one_epoch(model, loader, optimizer, cfg: Config, epoch: int, device, log) -> float:
    model.train()
    augment = SpecAugment(cfg.features).train() if cfg.train.spec_augment else None
    total, count, start = 0.0, 0, time.time()
    for step, batch in enumerate(loader, start=1):
        loss = compute_loss(model, batch, device, augment)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        optimizer.step()
        total, count = total + loss.item(), count + 1
        if step % cfg.train.log_every == 0 or step == len(loader):
            rate = step * cfg.data.batch_size / (time.time() - start)
            print(f"epoch {epoch} step {step}/{len(loader)} loss {total / count:.4f} ({rate:.1f} utt/s)", flush=True)
            log(epoch=epoch, step=step, loss=total / count)
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


def _loader(utts, tokenizer, cfg: Config, shuffle: bool, seed: int):
    return DataLoader(SpeechDataset(utts, tokenizer, cfg.features), batch_size=cfg.data.batch_size, shuffle=shuffle,
                      num_workers=cfg.data.num_workers, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed), persistent_workers=cfg.data.num_workers > 0)


def run(cfg: Config) -> Path:
    """Train as configured; returns the last checkpoint's path."""
    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    device = resolve_device(cfg.train.device)
    tokenizer = CharTokenizer(cfg.vocab)
    cfg.model.vocab_size = len(tokenizer)
    cfg.model.n_mels = cfg.features.n_mels
    model = AcousticModel(cfg.model).to(device)
    if not cfg.data.train_manifest:
        raise ValueError("data.train_manifest is not set")
    train_utts = usable_utterances(read_manifest(cfg.data.train_manifest), tokenizer, model, cfg.features,
                                   cfg.data.max_duration)
    if not train_utts:
        raise ValueError(f"{cfg.data.train_manifest}: no usable utterances")
    dev_utts = usable_utterances(read_manifest(cfg.data.dev_manifest), tokenizer, model, cfg.features,
                                 cfg.data.max_duration) if cfg.data.dev_manifest else []
    train_loader = _loader(train_utts, tokenizer, cfg, shuffle=True, seed=cfg.train.seed)
    dev_loader = _loader(dev_utts, tokenizer, cfg, shuffle=False, seed=0) if dev_utts else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    out_dir = Path(cfg.train.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "log.csv"

    def log(**row):
        new = not log_path.exists()
        with open(log_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["epoch", "step", "loss", "dev_loss", "dev_wer", "dev_cer"])
            if new:
                writer.writeheader()
            writer.writerow(row)

    print(f"training {sum(p.numel() for p in model.parameters()):,} parameters on {device}: "
          f"{len(train_utts)} train, {len(dev_utts)} dev utterances")
    best_wer, last = float("inf"), out_dir / "epoch-0.pt"
    for epoch in range(1, cfg.train.epochs + 1):
        train_loss = train_one_epoch(model, train_loader, optimizer, cfg, epoch, device, log)
        state = {"epoch": epoch, "train_loss": train_loss}
        if dev_loader is not None:
            scores = validate(model, dev_loader, tokenizer, device)
            print(f"epoch {epoch} dev loss {scores['loss']:.4f} WER {scores['wer']:.2%} CER {scores['cer']:.2%}")
            log(epoch=epoch, step="dev", dev_loss=scores["loss"], dev_wer=scores["wer"], dev_cer=scores["cer"])
            state["dev"] = scores
        last = out_dir / f"epoch-{epoch}.pt"
        save_checkpoint(last, model, cfg, tokenizer, **state)
        if dev_loader is not None and state["dev"]["wer"] < best_wer:
            best_wer = state["dev"]["wer"]
            save_checkpoint(out_dir / "best.pt", model, cfg, tokenizer, **state)
    return last
