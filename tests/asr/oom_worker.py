"""`asr train` with one utterance made to run out of memory, for torchrun in test_training.py:
python -m torch.distributed.run ... tests/asr/oom_worker.py UTTERANCE_ID [asr train arguments]."""

import sys

import torch

import asr.train
from asr.cli import main

out_of_memory_id = sys.argv.pop(1)
real_compute_loss = asr.train.compute_loss


def compute_loss(model, batch, *args, **kwargs):
    if out_of_memory_id in batch["ids"]:
        raise torch.OutOfMemoryError(f"injected for {out_of_memory_id}")
    return real_compute_loss(model, batch, *args, **kwargs)


asr.train.compute_loss = compute_loss
sys.exit(main(["train", *sys.argv[1:]]))
