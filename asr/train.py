"""Training on one CPU, one GPU, or many under torchrun (DistributedDataParallel).

Bucketed batches, augmentation, AdamW with warmup + cosine decay, gradient clipping and
accumulation, bf16/fp16 autocast, dev WER every epoch, atomic checkpoints every epoch (and every
`train.save_every_steps`), exact resume mid-epoch, and guards against non-finite steps and
out-of-memory batches. Only rank 0 writes checkpoints, logs and progress.
"""

import dataclasses
import functools
import math
import random
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from asr import distributed
from asr.checkpoint import read_checkpoint, save_checkpoint
from asr.config import PRECISIONS, Config, config_from_dict
from asr.data import SpeechDataset, Unreadable, Utterance, collate, read_manifests
from asr.decoding import greedy_decode, pause_frames
from asr.features import FeatureConfig, SpecAugment, num_frames
from asr.fileio import writable_folder
from asr.model import AcousticModel, ctc_loss
from asr.sampler import BucketBatchSampler
from asr.scoring import error_rates
from asr.text import CharTokenizer, normalize_text
from asr.trainlog import (
    CsvLog,
    forget_out_of_memory,
    latest_checkpoint,
    numbered_checkpoints,
    out_of_memory_batches,
    prune_checkpoints,
    record_out_of_memory,
)

AMP_DTYPES = dict(zip(PRECISIONS, (None, torch.bfloat16, torch.float16)))


def first_ids(ids: list[str], count: int) -> str:
    return ", ".join(ids[:count]) + (" ..." if len(ids) > count else "")


class TrainingError(RuntimeError):
    pass


def usable_utterances(utts: list[Utterance], tokenizer: CharTokenizer, model: AcousticModel,
                      features: FeatureConfig, max_duration: float, report=print) -> list[Utterance]:
    """Skip what cannot train, and say so with counts and examples (file:line): audio files that
    are not there (a corpus half copied or moved: found now, not when a loader reaches one hours
    into the run), text with characters outside the vocabulary, over-long audio, and CTC-infeasible
    utterances whose label needs more frames than the model outputs (speed perturbation at 1.1
    included)."""
    kept, skipped = [], {}
    # One tensor call for every utterance's output frames: one call each took most of the time.
    samples = [int(utt.duration / 1.1 * features.sample_rate) for utt in utts]
    output_frames = model.output_lengths(torch.tensor([num_frames(n, features) for n in samples])).tolist()
    for utt, frames in zip(utts, output_frames):
        text = normalize_text(utt.text)
        unknown = tokenizer.unknown_chars(text)
        if not Path(utt.audio_filepath).is_file():
            reason = "audio file missing"
        elif unknown:
            reason = f"characters outside the vocabulary ({''.join(sorted(unknown))!r})"
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
        report(f"skipped {len(where)} utterance(s): {reason}; e.g. {', '.join(where[:3])}")
    return kept


def warmup_cosine(warmup_steps: int, total_steps: int, final_ratio: float = 0.05):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


def rng_states() -> dict:
    """Every generator a step draws from, in types torch.load(weights_only=True) accepts."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached": float(cached)}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_states(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def compute_loss(model, batch, device, amp_dtype, spec_augment=None):
    feats = batch["feats"].to(device)
    if spec_augment is not None:
        feats = spec_augment(feats)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext()
    with autocast:
        log_probs, out_lengths = model(feats, batch["lengths"].to(device))
    return ctc_loss(log_probs, out_lengths, batch["targets"].to(device), batch["target_lengths"].to(device))


@torch.no_grad()
def validate(model, loader, tokenizer, device, frame_seconds: float) -> dict:
    """Dev loss, WER and CER, decoded as `asr evaluate` and `asr transcribe` decode (greedy, with
    their pause rule), so the best checkpoint is chosen by the figure those report."""
    model.eval()
    refs, hyps, losses = [], [], []
    for batch in loader:
        for item in batch["unreadable"]:
            print(f"dev: skipped unreadable audio: {item}", flush=True)
        if not batch["ids"]:
            continue
        log_probs, out_lengths = model(batch["feats"].to(device), batch["lengths"].to(device))
        losses.append(ctc_loss(log_probs, out_lengths, batch["targets"].to(device),
                               batch["target_lengths"].to(device)).item())
        hyps += greedy_decode(log_probs, out_lengths, tokenizer, pause_frames(frame_seconds))
        refs += batch["texts"]
    return {"loss": sum(losses) / max(len(losses), 1), **error_rates(refs, hyps)}


class Trainer:
    """Holds what a checkpoint must restore: model, optimizer, scheduler, scaler, position, RNG."""

    def __init__(self, cfg: Config, dist: distributed.DistInfo, device: torch.device):
        self.cfg, self.dist, self.device = cfg, dist, device
        self.tokenizer = CharTokenizer(cfg.vocab)
        cfg.model.vocab_size, cfg.model.n_mels = len(self.tokenizer), cfg.features.n_mels
        self.model = AcousticModel(cfg.model).to(device)
        self.say = print if dist.is_main else (lambda *a, **k: None)
        if cfg.train.precision not in AMP_DTYPES:
            raise ValueError(f"train.precision must be one of {list(AMP_DTYPES)}, got {cfg.train.precision!r}")
        self.amp_dtype = AMP_DTYPES[cfg.train.precision]
        cfg.augment.check()  # before any manifest is read, and also when augmentation is otherwise off
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.precision == "fp16")
        self.epoch, self.batches_done, self.step, self.best_wer, self.nonfinite = 1, 0, 0, math.inf, 0

    def build_data(self):
        cfg = self.cfg
        if not cfg.data.train_manifest:
            raise ValueError("data.train_manifest is not set")
        train = usable_utterances(read_manifests(cfg.data.train_manifest), self.tokenizer, self.model, cfg.features,
                                  cfg.data.max_duration, self.say)
        if not train:
            raise ValueError(f"{cfg.data.train_manifest}: no usable utterances")
        dev = usable_utterances(read_manifests(cfg.data.dev_manifest), self.tokenizer, self.model, cfg.features,
                                cfg.data.max_duration, self.say) if cfg.data.dev_manifest else []
        dataset = SpeechDataset(train, self.tokenizer, cfg.features, cfg.augment, cfg.train.seed)
        self.sampler = BucketBatchSampler([u.duration for u in train], cfg.data.max_batch_seconds, seed=cfg.train.seed,
                                          sortagrad=cfg.data.sortagrad, num_replicas=self.dist.world_size,
                                          rank=self.dist.rank,
                                          added_seconds=dataset.added_seconds if cfg.augment.pad_prob > 0 else None)
        self.train_loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=cfg.data.num_workers,
                                       collate_fn=collate)
        self.dev_loader = DataLoader(SpeechDataset(dev, self.tokenizer, cfg.features), batch_size=cfg.data.batch_size,
                                     num_workers=cfg.data.num_workers, collate_fn=collate) if dev else None
        self.say(f"training {sum(p.numel() for p in self.model.parameters()):,} parameters on {self.device} "
                 f"x{self.dist.world_size}: {len(train)} train ({sum(u.duration for u in train) / 3600:.2f} h), "
                 f"{len(dev)} dev")

    def build_optimizer(self):
        cfg = self.cfg.train
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.sampler) / cfg.accumulate)
        total = cfg.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(min(cfg.warmup_steps, total // 10 + 1), total))
        module = self.model
        if self.dist.enabled:
            if self.device.type == "cuda":  # per-rank batches can be small: normalise over all ranks
                module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
            self.model = DistributedDataParallel(module, device_ids=[self.device.index] if self.device.index is not None
                                                 else None)

    @property
    def bare_model(self) -> AcousticModel:
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    def state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "epoch": self.epoch, "batches_done": self.batches_done,
                "step": self.step, "best_wer": self.best_wer, "nonfinite": self.nonfinite, "rng": rng_states()}

    def init_weights(self, path: str) -> None:
        ckpt = read_checkpoint(path)
        try:
            self.bare_model.load_state_dict(ckpt["model"])
        except RuntimeError as error:
            raise ValueError(f"train.init_from={path}: weights do not fit this model config "
                             f"({str(error).splitlines()[0]})") from None
        self.say(f"initialised from the weights of {path}")
        # Weights of the same shapes fit other settings too (a subsample of 2 instead of 4): say so,
        # since the model then runs at another frame rate or dropout than it was trained with.
        saved = ckpt.get("config", {}).get("model", {})
        here = dataclasses.asdict(self.cfg.model)
        differ = [f"model.{k} {here[k]} (was {v})" for k, v in saved.items()
                  if k in here and k != "impl" and here[k] != v]
        if differ:
            self.say(f"  with model settings other than those it was trained with: {', '.join(differ)}")

    def load(self, ckpt: dict) -> None:
        if "optimizer" not in ckpt:
            raise ValueError("this checkpoint has no optimizer state (an exported model): continue from it with "
                             "train.init_from=PATH instead of --resume")
        self.bare_model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        # Epoch-end checkpoints of older runs have no batch position: they resume at the next epoch.
        self.epoch = ckpt["epoch"] if "batches_done" in ckpt else ckpt["epoch"] + 1
        self.batches_done, self.step = ckpt.get("batches_done", 0), ckpt.get("step", 0)
        self.best_wer, self.nonfinite = ckpt.get("best_wer", math.inf), ckpt.get("nonfinite", 0)
        if "rng" in ckpt:
            set_rng_states(ckpt["rng"])

    def save(self, name: str, **extra) -> None:
        if self.dist.is_main:
            out = Path(self.cfg.train.out_dir)
            save_checkpoint(out / name, self.bare_model, self.cfg, self.tokenizer, **self.state(), **extra)
            if name != "best.pt":
                prune_checkpoints(out, self.cfg.train.keep_last)

    def train_step(self, batches: list[dict], spec_augment) -> float | None:
        """One optimizer step over `batches` (gradient accumulation). Returns the mean loss, or
        None when the step was skipped (non-finite loss or gradient on any rank, or no readable
        audio in its batches on some rank)."""
        batches = [batch for batch in batches if batch["ids"]]
        # Every rank must skip together: the others would wait in collectives this one never joins.
        if not distributed.all_true(bool(batches), self.dist, self.device):
            self.say(f"step {self.step + 1}: skipped, no readable audio in its batch")
            self.advance_schedule()
            return None
        total = 0.0
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            sync = self.model.no_sync() if self.dist.enabled and not last else nullcontext()
            with sync:
                loss = compute_loss(self.model, batch, self.device, self.amp_dtype, spec_augment)
                self.scaler.scale(loss / len(batches)).backward()
            total += loss.item() / len(batches)
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        # With fp16 the GradScaler itself skips steps whose gradients overflowed and lowers its scale.
        grads_ok = self.scaler.is_enabled() or bool(torch.isfinite(grad_norm))
        finite = distributed.all_true(math.isfinite(total) and grads_ok, self.dist, self.device)
        if finite:
            self.scaler.step(self.optimizer)
            self.nonfinite = 0
        else:
            self.nonfinite += 1
            self.say(f"step {self.step + 1}: non-finite loss or gradient, step skipped ({self.nonfinite} in a row)")
            if self.nonfinite >= self.cfg.train.max_nonfinite_steps:
                raise TrainingError(f"{self.nonfinite} non-finite steps in a row: stopping (lower train.lr, or "
                                    "check the data the log names)")
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.advance_schedule()
        return total if finite else None

    def advance_schedule(self) -> None:
        """A skipped step keeps its place in the schedule, so that step N always has step N's
        learning rate; torch warns of that order when it comes first, but here it is meant."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            self.scheduler.step()
        self.step += 1

    def skip_out_of_memory(self, batches: list[dict]) -> None:
        """Record the batch that ran out of memory (restarted runs skip it too) and go on; under DDP
        stop instead, for torchrun to restart every rank from the latest checkpoint."""
        ids = [i for b in batches for i in b["ids"]]
        record = record_out_of_memory(self.cfg.train.out_dir, self.epoch, self.batches_done, self.dist.rank, ids)
        where = f"epoch {self.epoch} batch {self.batches_done} ({len(ids)} utterances: {first_ids(ids, 10)})"
        if self.dist.enabled:
            # The other ranks wait in collectives this one will never join (SyncBatchNorm in the
            # forward pass, DDP's gradient all-reduce in the backward pass), so no rank can skip alone.
            raise TrainingError(f"rank {self.dist.rank}: out of memory on {where}, recorded in {record}; under "
                                "torchrun --max-restarts N with --resume latest the run restarts and skips it")
        print(f"out of memory on {where}: skipped, recorded in {record}", flush=True)
        self.optimizer.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @property
    def rank_prefix(self) -> str:
        return f"rank {self.dist.rank}: " if self.dist.enabled else ""

    def skip_unreadable(self, items: list[str], unreadable: int, seen: int) -> None:
        """Name each utterance whose audio could not be read (its batch trains without it); stop
        once they are more than stray files, over 10 and 1% of the epoch so far: a corpus that
        broke (a disk unmounted, a copy cut short) should not train on what is left of it."""
        for item in items:
            tqdm.write(f"{self.rank_prefix}skipped unreadable audio: {item}")
        if unreadable > 10 and unreadable > 0.01 * seen:
            raise TrainingError(f"{self.rank_prefix}{unreadable} of the {seen} utterances read so far in epoch "
                                f"{self.epoch} could not be read (named above): check the corpus, then --resume latest")

    def scan_for_out_of_memory(self) -> None:
        """Train on the heaviest batches the data can produce, stretched to the slowest speed
        perturbation and the most silence augmentation adds, then undo it: a data.max_batch_seconds
        too large for the device fails here, within a minute, instead of hours into the run (icefall
        scans pessimistic batches too)."""
        cfg, dataset = self.cfg, self.train_loader.dataset
        buffers = {name: buffer.clone() for name, buffer in self.bare_model.named_buffers()}  # BatchNorm statistics
        spec_augment = SpecAugment(cfg.features).train() if cfg.train.spec_augment else None
        self.model.train()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            for indices in self.sampler.heaviest_batches():
                utts = [dataset.utterances[i] for i in indices]
                longest = max(u.duration for u in utts)
                stretched = cfg.augment.longest_seconds(longest) if dataset.augment is not None else longest
                frames = num_frames(int(stretched * cfg.features.sample_rate), cfg.features)
                readable = [item for item in (dataset[i] for i in indices) if not isinstance(item, Unreadable)]
                if not readable:  # reported when training reaches them
                    continue
                items = [(torch.nn.functional.pad(feats, (0, 0, 0, frames - len(feats))), *rest)
                         for feats, *rest in readable]
                try:
                    compute_loss(self.model, collate(items), self.device, self.amp_dtype, spec_augment).backward()
                except torch.OutOfMemoryError:
                    raise TrainingError(
                        f"out of memory on {self.device} training the heaviest batch ({len(utts)} utterances of up "
                        f"to {longest:.1f} s, {stretched:.1f} s augmented: {first_ids([u.id for u in utts], 5)}): "
                        f"lower data.max_batch_seconds={cfg.data.max_batch_seconds} or data.max_duration, or use "
                        "train.precision=bf16 (train.scan_out_of_memory=false skips this check)") from None
                self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, buffer in self.bare_model.named_buffers():
                buffer.copy_(buffers[name])
        if self.device.type == "cuda":
            self.say(f"heaviest batches fit: {torch.cuda.max_memory_allocated(self.device) / 2**30:.2f} GiB peak")

    def train_epoch(self, log: CsvLog) -> None:
        cfg = self.cfg
        self.model.train()
        self.sampler.set_epoch(self.epoch - 1, self.batches_done)
        spec_augment = SpecAugment(cfg.features).train() if cfg.train.spec_augment else None
        bar = tqdm(total=len(self.sampler), initial=self.batches_done, desc=f"epoch {self.epoch}", unit="batch",
                   disable=not self.dist.is_main, mininterval=5)
        losses, utts, frames, start, pending, logged = [], 0, 0, time.time(), [], False
        out_of_memory_before = out_of_memory_batches(cfg.train.out_dir)
        unreadable, seen = 0, 0
        for batch in self.train_loader:
            unreadable += len(batch["unreadable"])
            seen += len(batch["unreadable"]) + len(batch["ids"])
            self.skip_unreadable(batch["unreadable"], unreadable, seen)
            pending.append(batch)
            if len(pending) < cfg.train.accumulate and self.batches_done + len(pending) < len(self.sampler):
                continue
            if any((self.epoch, self.batches_done + k) in out_of_memory_before for k in range(len(pending))):
                self.say(f"epoch {self.epoch} batch {self.batches_done}: skipped, it ran out of memory before")
                loss = None
            else:
                try:
                    loss = self.train_step(pending, spec_augment)
                except torch.OutOfMemoryError:
                    loss = self.skip_out_of_memory(pending)
            self.batches_done += len(pending)
            utts += sum(len(b["ids"]) for b in pending)
            frames += sum(int(b["lengths"].sum()) for b in pending if b["ids"])
            pending = []
            if loss is not None:
                losses.append(loss)
            bar.update(self.batches_done - bar.n)
            elapsed = time.time() - start
            row = dict(epoch=self.epoch, step=self.step, lr=self.scheduler.get_last_lr()[0],
                       loss=sum(losses[-50:]) / max(len(losses[-50:]), 1), utt_per_s=utts / elapsed,
                       audio_s_per_s=frames * cfg.features.hop_ms / 1000 / elapsed)
            bar.set_postfix(loss=f"{row['loss']:.3f}", utt_s=f"{row['utt_per_s']:.1f}",
                            audio_s=f"{row['audio_s_per_s']:.0f}")
            logged = self.step % cfg.train.log_every == 0 and self.dist.is_main
            if logged:
                log.write(**row)
            if cfg.train.save_every_steps and self.step % cfg.train.save_every_steps == 0:
                self.save(f"step-{self.step}.pt")
        bar.close()
        if unreadable == seen > 0:
            raise TrainingError(f"{self.rank_prefix}epoch {self.epoch}: none of the {seen} utterances' audio could be "
                                "read (named above): check the corpus")
        if unreadable:
            print(f"{self.rank_prefix}epoch {self.epoch}: skipped {unreadable} utterance(s) whose audio could not be "
                  "read (named above)", flush=True)
        if losses and not logged and self.dist.is_main:
            log.write(**row)

    def end_epoch(self, log: CsvLog) -> Path:
        scores = None
        if self.dev_loader is not None and self.dist.is_main:
            scores = validate(self.bare_model, self.dev_loader, self.tokenizer, self.device, self.cfg.frame_seconds)
            self.say(f"epoch {self.epoch} dev loss {scores['loss']:.4f} WER {scores['wer']:.2%} "
                     f"CER {scores['cer']:.2%}")
            log.write(epoch=self.epoch, step=self.step, dev_loss=scores["loss"], dev_wer=scores["wer"],
                      dev_cer=scores["cer"])
            self.best_wer = min(self.best_wer, scores["wer"])
        name, finished = f"epoch-{self.epoch}.pt", self.epoch
        self.epoch, self.batches_done = self.epoch + 1, 0
        self.save(name, dev=scores, finished_epoch=finished)
        if scores is not None and scores["wer"] <= self.best_wer:
            self.save("best.pt", dev=scores, finished_epoch=finished)
        distributed.barrier(self.dist)
        return Path(self.cfg.train.out_dir) / name


def resumed_config(ckpt: dict, resume, cfg: Config, overrides=()) -> tuple[Config, list[str]]:
    """A resumed run keeps the config it was saved with, so its schedule stays the one it was
    trained on. Only a command-line train.epochs override changes it (the run's length, longer or
    shorter; the cosine schedule is rebuilt for it): the recipe's own train.epochs is not a request
    to change anything. Returns the config and what to tell the user about it."""
    keys = [item.partition("=")[0] for item in overrides]
    saved = config_from_dict(ckpt["config"], str(resume))
    notes = []
    if "train.epochs" in keys and cfg.train.epochs != saved.train.epochs:
        notes.append(f"train.epochs {saved.train.epochs} -> {cfg.train.epochs} (command line): "
                     "the learning-rate schedule is stretched or shortened to match")
        saved.train.epochs = cfg.train.epochs

    def setting(config, key):
        return functools.reduce(getattr, key.split("."), config)

    ignored = [key for key in keys if key != "train.epochs" and setting(cfg, key) != setting(saved, key)]
    if ignored:
        notes.append("not applied on resume, the run keeps its own config: "
                     + ", ".join(f"{key} stays {setting(saved, key)!r} (not {setting(cfg, key)!r})" for key in ignored))
    return saved, notes


def refuse_a_used_run_folder(out_dir) -> None:
    """A fresh run must not start where another run lives: it would overwrite that run's
    checkpoints, append to its log.csv, and keep_last (which prunes by training position) would
    delete the new run's early checkpoints in favour of the old run's later ones."""
    out_dir = Path(out_dir)
    found = [p.name for p in numbered_checkpoints(out_dir)] if out_dir.is_dir() else []
    found += [name for name in ("best.pt", "log.csv") if (out_dir / name).exists()]
    if found:
        raise TrainingError(f"train.out_dir {out_dir}: holds a run already ({first_ids(found, 3)}); continue it "
                            "with --resume latest, or name another train.out_dir (or delete that one)")


def run(cfg: Config, resume=None, overrides=()) -> Path:
    """Train as configured, or continue the checkpoint `resume` (or "latest": the newest one in
    train.out_dir, if any) exactly where it stopped, with its own config (see `resumed_config`:
    `overrides` are the command line's, of which only train.epochs applies). Returns the last
    epoch checkpoint."""
    ckpt, notes = None, []
    if resume is None:  # on every rank, so that none waits for a rank 0 that stopped here
        refuse_a_used_run_folder(cfg.train.out_dir)
    if resume is None and distributed.launched_as_main():
        forget_out_of_memory(cfg.train.out_dir)  # before any rank can read them: DDP's setup waits for rank 0
    if resume == "latest":  # what torchrun --max-restarts needs: nothing saved yet means a fresh start
        resume = latest_checkpoint(cfg.train.out_dir)
    if resume is not None:
        ckpt = read_checkpoint(resume)
        cfg, notes = resumed_config(ckpt, resume, cfg, overrides)
    if distributed.launched_as_main():
        writable_folder(cfg.train.out_dir)  # now, not at the first log line or checkpoint, maybe an hour in
    torch.manual_seed(cfg.train.seed)
    random.seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    dist, device = distributed.init(cfg.train.device)
    try:
        trainer = Trainer(cfg, dist, device)
        trainer.build_data()
        trainer.build_optimizer()
        if ckpt is not None:
            trainer.load(ckpt)
            trainer.say(f"resuming {resume}: epoch {trainer.epoch}, batch {trainer.batches_done}, step {trainer.step}")
            for note in notes:
                trainer.say(note)
            if trainer.epoch > cfg.train.epochs:
                trainer.say(f"nothing to train: the run ends after epoch {cfg.train.epochs}")
        elif cfg.train.init_from:
            trainer.init_weights(cfg.train.init_from)
        if cfg.train.scan_out_of_memory:
            trainer.scan_for_out_of_memory()
        log = CsvLog(Path(cfg.train.out_dir) / "log.csv") if dist.is_main else None
        last = Path(resume) if resume else Path(cfg.train.out_dir) / "epoch-0.pt"
        while trainer.epoch <= cfg.train.epochs:
            trainer.train_epoch(log)
            last = trainer.end_epoch(log)
        return last
    finally:
        distributed.shutdown(dist)
