"""Word n-gram language models: `asr lm build TEXT --order N` writes an ARPA file.

Interpolated Kneser-Ney (Chen & Goodman 1998) with one discount per order, D = n1 / (n1 + 2 n2),
written in ARPA backoff form: each n-gram's log10 probability is the full interpolated
probability, and each context's backoff weight is the mass its discounts freed, so a decoder that
backs off reproduces the interpolated model exactly. Written here because KenLM's `lmplz` is a
C++ binary that a fresh pip-only machine cannot build; loading and querying the ARPA file is left
to KenLM inside flashlight-text (torchaudio's CTC decoder).
"""

import gzip
import math
import zlib
from collections import Counter, defaultdict
from pathlib import Path

from asr.fileio import atomic_write_text, read_utf8
from asr.text import normalize_text

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
# KenLM inside flashlight-text is compiled with KENLM_MAX_ORDER=6 and reads no unigram-only model.
MIN_ORDER, MAX_ORDER = 2, 6


def read_sentences(path) -> list[list[str]]:
    """One sentence per line, normalised as training targets are; a .jsonl manifest gives its
    transcripts (so an LM can be built from exactly the training splits)."""
    path = Path(path)
    if path.suffix == ".jsonl":
        from asr.data import read_manifest
        lines = [utt.text for utt in read_manifest(path)]
    else:
        lines = read_utf8(path).splitlines()
    return [words for words in (normalize_text(line).split() for line in lines) if words]


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5


def kneser_ney(sentences: list[list[str]], order: int) -> tuple[list[dict], list[dict]]:
    """Returns (probs, backoffs): per order n (index n-1), n-gram tuple -> probability and
    context tuple -> backoff weight, both as plain probabilities."""
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    counts = [Counter() for _ in range(order)]
    for words in sentences:
        padded = [BOS, *words, EOS]  # one <s>: n-grams at a sentence start are shorter, as KenLM's
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                counts[n - 1][tuple(padded[i:i + n])] += 1
    # Lower orders count distinct left contexts (continuation counts), except n-grams that start
    # with <s>, which have no left context to continue from.
    for n in range(order - 1, 0, -1):
        continuation = Counter()
        for gram in counts[n]:
            continuation[gram[1:]] += 1
        for gram, value in list(counts[n - 1].items()):
            if gram[0] != BOS:
                counts[n - 1][gram] = continuation.get(gram, value)
    probs, backoffs = [dict() for _ in range(order)], [dict() for _ in range(order)]
    # Unigrams: the discounted mass is spread evenly over the vocabulary, <unk> included, so
    # every word has a probability; <s> is never predicted (ARPA writes it as -99).
    predicted = {g[0] for g in counts[0] if g[0] != BOS} | {UNK}
    unigram_total = sum(c for g, c in counts[0].items() if g[0] != BOS)
    d1 = _discount(Counter({g: c for g, c in counts[0].items() if g[0] != BOS}))
    floor = d1 * (len(predicted) - 1) / unigram_total / len(predicted)
    for word in predicted:
        probs[0][(word,)] = max(counts[0].get((word,), 0) - d1, 0) / unigram_total + floor
    probs[0][(BOS,)] = 1.0
    for n in range(2, order + 1):
        discount = _discount(counts[n - 1])
        by_context = defaultdict(list)
        for gram, count in counts[n - 1].items():
            by_context[gram[:-1]].append((gram, count))
        for context, grams in by_context.items():
            total = sum(c for _, c in grams)
            backoff = discount * len(grams) / total
            backoffs[n - 2][context] = backoff
            for gram, count in grams:
                lower = _lower_prob(probs, backoffs, gram[1:])
                probs[n - 1][gram] = (count - discount) / total + backoff * lower
    return probs, backoffs


def _lower_prob(probs, backoffs, gram) -> float:
    """p(gram[-1] | gram[:-1]) from the model so far, backing off as a decoder would."""
    n = len(gram)
    if gram in probs[n - 1]:
        return probs[n - 1][gram]
    return backoffs[n - 2].get(gram[:-1], 1.0) * _lower_prob(probs, backoffs, gram[1:]) if n > 1 else \
        probs[0][(UNK,)]


def write_arpa(probs, backoffs, path) -> None:
    path = Path(path)
    order = len(probs)
    lines = ["", "\\data\\"] + [f"ngram {n + 1}={len(probs[n])}" for n in range(order)] + [""]
    for n in range(order):
        lines.append(f"\\{n + 1}-grams:")
        for gram in sorted(probs[n]):
            logp = -99.0 if gram == (BOS,) else math.log10(probs[n][gram])
            line = f"{logp:.6f}\t{' '.join(gram)}"
            if n < order - 1 and gram in backoffs[n]:
                line += f"\t{math.log10(backoffs[n][gram]):.6f}"
            lines.append(line)
        lines.append("")
    lines.append("\\end\\")
    atomic_write_text(path, "\n".join(lines) + "\n")


def build_arpa(text_paths, order: int, out_path) -> dict:
    """Build an order-N Kneser-Ney model from text files and/or manifests; returns a summary."""
    if not MIN_ORDER <= order <= MAX_ORDER:  # valid ARPA files, but the beam search could not load them
        raise ValueError(f"order must be {MIN_ORDER} to {MAX_ORDER} for the beam search's KenLM, got {order}")
    text_paths = [text_paths] if isinstance(text_paths, (str, Path)) else list(text_paths)
    sentences = [s for path in text_paths for s in read_sentences(path)]
    if not sentences:
        raise ValueError(f"{', '.join(map(str, text_paths))}: no sentences")
    probs, backoffs = kneser_ney(sentences, order)
    write_arpa(probs, backoffs, out_path)
    return {"sentences": len(sentences), "vocabulary": len(probs[0]), "ngrams": [len(p) for p in probs]}


def _open_text(path):
    """A text file, or one gzipped: KenLM reads both, and OpenSLR ships LibriSpeech's LMs as .arpa.gz."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gzipped else open(path, encoding="utf-8")


def arpa_vocabulary(path) -> list[str]:
    """The unigrams of an ARPA file, for the decoder's lexicon; read as a stream up to the end of the
    1-grams, so a multi-gigabyte LM costs its vocabulary, not its size. An order above MAX_ORDER is
    refused here: KenLM's own error for it ends in "edit lm/max_order.hh"."""
    order, words, in_unigrams = 0, [], False
    try:
        with _open_text(path) as f:
            for line in f:
                if not in_unigrams:
                    order += line.startswith("ngram ")
                    in_unigrams = line.strip() == "\\1-grams:"
                    continue
                if not line.strip() or line.startswith("\\"):
                    break
                words.append(line.split()[1])  # log10 probability, word, [backoff]; tabs or spaces
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not an ARPA file (not UTF-8 text)") from None
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise ValueError(f"{path}: a truncated or damaged gzip file") from None
    if not in_unigrams:
        raise ValueError(f"{path}: not an ARPA file (no \\1-grams: section)")
    if order > MAX_ORDER:
        raise ValueError(f"{path}: an order-{order} LM; the beam search's KenLM reads at most order {MAX_ORDER}")
    return [w for w in words if w not in (BOS, EOS, UNK)]
