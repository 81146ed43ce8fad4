"""Training throughput of the recipe models: step time and audio-seconds per second.

    python scripts/bench_train.py                                  # CPU here: impl=torch
    python scripts/bench_train.py --recipes librispeech --impls triton torch --precision bf16   # on a GPU

Each step is a full training step (forward, CTC loss, backward, AdamW) on a batch of random
features shaped like `--batch-seconds` of audio in utterances of `--utterance-seconds`. With
several impls, both run in the same process on the same batch, so the figures are side by side.
Rows carry the device name, torch/triton versions, git SHA and date.
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from asr.config import load_config  # noqa: E402
from asr.model import RNN_TYPES, AcousticModel, count_parameters, ctc_loss  # noqa: E402
from asr.text import CharTokenizer  # noqa: E402
from asr.train import AMP_DTYPES  # noqa: E402


def environment(device: torch.device) -> dict:
    import platform

    import triton
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU {platform.machine()}, {torch.get_num_threads()} threads")
    return {"device": name, "torch": torch.__version__, "triton": triton.__version__, "git_sha": sha.strip(),
            "date": datetime.date.today().isoformat()}


def bench(recipe: str, impl: str, device, precision: str, batch_seconds: float, utterance_seconds: float, steps: int):
    cfg = load_config(ROOT / "recipes" / recipe / "config.yaml")
    cfg.model.vocab_size, cfg.model.impl = len(CharTokenizer(cfg.vocab)), impl
    torch.manual_seed(0)
    model = AcousticModel(cfg.model).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = max(1, int(batch_seconds // utterance_seconds))
    frames = int(utterance_seconds * 100)
    feats = torch.randn(batch, frames, cfg.model.n_mels, device=device)
    lengths = torch.full((batch,), frames, device=device)
    labels = max(1, int(utterance_seconds * 12))
    targets = torch.randint(1, cfg.model.vocab_size, (batch * labels,), device=device)
    target_lengths = torch.full((batch,), labels, device=device)
    dtype = AMP_DTYPES[precision]

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            log_probs, out_lengths = model(feats, lengths)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: kernel compilation, allocator
    if device.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {"recipe": recipe, "impl": impl, "precision": precision, "parameters": count_parameters(model),
            "batch": batch, "utterance_s": utterance_seconds, "step_s": round(median, 4),
            "audio_s_per_s": round(batch * utterance_seconds / median, 1)}


def recurrence_fits(recipe: str, device, precision: str) -> bool:
    cfg = load_config(ROOT / "recipes" / recipe / "config.yaml").model
    return RNN_TYPES[cfg.rnn_type].fits_on_chip(cfg.hidden_size, device, AMP_DTYPES[precision] or torch.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=["default", "mini_librispeech"])
    parser.add_argument("--impls", nargs="+", default=None, help="default: triton torch on a GPU, torch on CPU")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--batch-seconds", type=float, default=160.0)
    parser.add_argument("--utterance-seconds", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    impls = args.impls or (["triton", "torch"] if device.type == "cuda" else ["torch"])
    env = environment(device)
    rows = []
    for recipe in args.recipes:
        for impl in impls:
            if impl == "triton" and not recurrence_fits(recipe, device, args.precision):
                print(f"{recipe:18} {impl:7} {args.precision:5} skipped: its recurrent weights do not fit the "
                      f"kernels' shared memory on {env['device']}", flush=True)
                continue
            row = {**bench(recipe, impl, device, args.precision, args.batch_seconds, args.utterance_seconds,
                           args.steps), **env}
            rows.append(row)
            print(f"{recipe:18} {impl:7} {row['precision']:5} {row['parameters']:>11,} params  "
                  f"batch {row['batch']:3} x "
                  f"{row['utterance_s']:g} s  step {row['step_s']:8.3f} s  {row['audio_s_per_s']:8.1f} audio-s/s  "
                  f"[{env['device']}]", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
