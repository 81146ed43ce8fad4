"""`asr train` with one fault injected, for the subprocess tests in test_training.py:

    python tests/asr/faulty_train.py FAULT [asr train arguments]

FAULT is `oom:UTTERANCE_ID` (every batch holding that utterance runs out of memory) or `kill:N`
(the process SIGKILLs itself as it starts its N-th training step: a preemption at a known point,
where killing from outside races the run)."""

import os
import signal
import sys

import torch

import asr.train
from asr.cli import main

kind, _, arg = sys.argv.pop(1).partition(":")
real_compute_loss, real_train_step = asr.train.compute_loss, asr.train.Trainer.train_step
steps_started = 0


def compute_loss(model, batch, *args, **kwargs):
    if arg in batch["ids"]:
        raise torch.OutOfMemoryError(f"injected for {arg}")
    return real_compute_loss(model, batch, *args, **kwargs)


def train_step(trainer, *args, **kwargs):
    global steps_started
    steps_started += 1
    if steps_started == int(arg):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_train_step(trainer, *args, **kwargs)


if kind == "oom":
    asr.train.compute_loss = compute_loss
elif kind == "kill":
    asr.train.Trainer.train_step = train_step
else:
    sys.exit(f"faulty_train.py: unknown fault {kind!r}: expected oom:UTTERANCE_ID or kill:N")
sys.exit(main(["train", *sys.argv[1:]]))
