"""Turning CTC log-probabilities into text."""

import contextlib
import os
import sys

import torch
import torchaudio.functional as AF

from asr.formats import Word
from asr.text import CharTokenizer, normalize_text

PAUSE_SECONDS = 0.5  # greedy decoding ends a word at a pause this long


def pause_frames(frame_seconds: float) -> int:
    """greedy_decode's pause_frames for a model whose output frames last frame_seconds."""
    return round(PAUSE_SECONDS / frame_seconds)


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, tokenizer: CharTokenizer,
                  pause_frames: int = 0) -> list[str]:
    """Best path: argmax per frame, merge repeats, drop blanks. log_probs [B, T, V].

    With `pause_frames`, a run of at least that many blank frames between two characters ends a
    word even when the model emitted no space there: character CTC models often stay silent
    through a pause, which would otherwise glue the words on both sides together.
    """
    best = log_probs.argmax(dim=-1).cpu()
    space = tokenizer.index.get(" ")
    texts = []
    for ids, n in zip(best, lengths.cpu().tolist()):
        chars, last, blanks = [], tokenizer.blank, 0
        for token in ids[:n].tolist():
            if token == tokenizer.blank:
                blanks += 1
            else:
                if pause_frames and blanks >= pause_frames and chars and space is not None:
                    chars.append(space)
                if token != last:
                    chars.append(token)
                blanks = 0
            last = token
        texts.append(" ".join(tokenizer.decode(chars).split()))
    return texts


def word_timestamps(log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer, frame_seconds: float) -> list[Word]:
    """Words of `text` with times and confidences, from CTC forced alignment of its characters to
    the frames of log_probs [T, V] (torchaudio's forced_align). A word spans its first to last
    character's frames; its confidence is the mean posterior of its characters."""
    if not text:
        return []
    targets = torch.tensor([tokenizer.encode(text)], dtype=torch.int32)
    alignment, scores = AF.forced_align(log_probs[None].float().cpu(), targets, blank=tokenizer.blank)
    spans = AF.merge_tokens(alignment[0], scores[0].exp(), blank=tokenizer.blank)
    space = tokenizer.index[" "]
    words, chars = [], []
    for span in spans + [None]:
        if span is not None and span.token != space:
            chars.append(span)
            continue
        if chars:
            words.append(Word(tokenizer.decode(s.token for s in chars), round(chars[0].start * frame_seconds, 3),
                              round(chars[-1].end * frame_seconds, 3),
                              round(sum(s.score for s in chars) / len(chars), 3)))
        chars = []
    return words


@contextlib.contextmanager
def _native_output_silenced():
    """Point file descriptors 1 and 2 at /dev/null, so C++ libraries' prints go nowhere."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


class BeamSearchDecoder:
    """CTC prefix beam search with a word n-gram LM over a lexicon.

    torchaudio's `ctc_decoder` (flashlight-text) rather than pyctcdecode: it is torchaudio's own
    maintained API, runs in C++, and reads the ARPA file `asr lm build` writes (KenLM is built
    into flashlight-text), so nothing needs compiling. The lexicon is the LM's vocabulary spelled
    in our characters as the text normaliser writes it (OpenSLR's LibriSpeech LMs are in capitals:
    "HELLO" is spelled h e l l o, queried as HELLO and printed as hello); words it cannot spell as
    one word of those characters are left out.
    """

    def __init__(self, tokenizer: CharTokenizer, lm_path, beam_size: int = 50, lm_weight: float = 1.0,
                 word_score: float = 0.0):
        import tempfile

        from torchaudio.models.decoder import ctc_decoder

        from asr.lm import arpa_vocabulary
        self.settings = {"method": "beam", "lm": str(lm_path), "beam_size": beam_size, "lm_weight": lm_weight,
                         "word_score": word_score}
        self.spelled = {word: spelled for word in arpa_vocabulary(lm_path) if (spelled := normalize_text(word))
                        and " " not in spelled and not tokenizer.unknown_chars(spelled)}
        if not self.spelled:
            raise ValueError(f"{lm_path}: no word of the LM can be spelled with the model's characters")
        with tempfile.NamedTemporaryFile("w", suffix=".lexicon", delete=False) as f:
            f.writelines(f"{word}\t{' '.join(spelled)} |\n" for word, spelled in self.spelled.items())
            self._lexicon = f.name
        tokens = ["-"] + ["|" if ch == " " else ch for ch in tokenizer.vocab]
        try:
            with _native_output_silenced():  # KenLM prints a banner and a progress bar while loading
                self.decoder = ctc_decoder(lexicon=self._lexicon, tokens=tokens, lm=str(lm_path), beam_size=beam_size,
                                           lm_weight=lm_weight, word_score=word_score, blank_token="-", sil_token="|")
        except RuntimeError as error:  # KenLM's message ends with the reason, after a line of C++ source
            raise ValueError(f"{lm_path}: KenLM cannot load it ({str(error).strip().splitlines()[-1]})") from None

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        hypotheses = self.decoder(log_probs.float().cpu().contiguous(), lengths.cpu().to(torch.int32))
        return [" ".join(self.spelled[word] for word in h[0].words) if h else "" for h in hypotheses]

    def __del__(self):
        if getattr(self, "_lexicon", None):
            os.unlink(self._lexicon)
