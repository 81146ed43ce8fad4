"""Turning CTC log-probabilities into text."""

import torch

from asr.text import CharTokenizer


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, tokenizer: CharTokenizer) -> list[str]:
    """Best path: argmax per frame, merge repeats, drop blanks. log_probs [B, T, V]."""
    best = log_probs.argmax(dim=-1).cpu()
    texts = []
    for ids, n in zip(best, lengths.cpu().tolist()):
        ids = torch.unique_consecutive(ids[:n]).tolist()
        texts.append(" ".join(tokenizer.decode(i for i in ids if i != tokenizer.blank).split()))
    return texts
