"""Audio in, transcripts out: batching of short files, overlapping windows for long ones, greedy
CTC decoding, and word timestamps with confidences from CTC forced alignment."""

import itertools
import math
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path

import torch

from asr.audio import AudioError, audio_blocks, header_duration, load_audio, mono_at_rate, samples_as_float
from asr.checkpoint import load_model
from asr.data import Utterance, pad_features
from asr.decoding import BeamSearchDecoder, greedy_decode, pause_frames, word_timestamps
from asr.features import LogMel
from asr.formats import Transcript, Word

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"
Window = tuple[float, torch.Tensor, float, float]  # offset (s), samples, keep_from, keep_to: see Transcriber._windows


def pick_device(name: str) -> str:
    """auto: a CUDA GPU where one is visible, else cpu (as training picks); any other name as given."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


class Transcriber:
    """Example:
        >>> for item, result in Transcriber().transcribe(["a.wav", "b.flac"]):
        ...     print(item, result.text)

    Without a checkpoint it loads the bundled default model, and `device="auto"` picks a CUDA GPU
    where one is visible, as `asr transcribe` does.

    Audio longer than `chunk_seconds` is read and decoded one window at a time; windows overlap
    by `overlap_seconds` and each word is kept from the window where its midpoint lies farthest
    from a window edge, so no word is duplicated or dropped at a seam. Memory is bounded by one
    batch of windows: about batch_size × chunk_seconds of audio and its activations, whatever the
    file's length and format (those libsndfile cannot read, m4a, are streamed through ffmpeg).
    """

    def __init__(self, checkpoint=DEFAULT_MODEL, device: str = "auto", batch_size: int = 8, chunk_seconds: float = 30.0,
                 overlap_seconds: float = 4.0, lm=None, beam_size: int = 50, lm_weight: float = 1.0,
                 word_score: float = 0.0):
        device = pick_device(device)
        self.model, self.cfg, self.tokenizer, _ = load_model(checkpoint, device)
        self.name = Path(checkpoint).name
        self.device = torch.device(device)
        self.logmel = LogMel(self.cfg.features)
        self.batch_size = batch_size
        if overlap_seconds < 0:
            raise ValueError(f"overlap_seconds must be zero or more, got {overlap_seconds}")
        if not chunk_seconds > 2 * overlap_seconds:  # named for the command line, where the overlap is fixed
            raise ValueError(f"--chunk-seconds {chunk_seconds:g}: must be more than {2 * overlap_seconds:g}, twice "
                             f"the {overlap_seconds:g} s by which windows overlap")
        self.chunk_seconds, self.overlap_seconds = chunk_seconds, overlap_seconds
        self.frame_seconds = self.cfg.frame_seconds
        self.pause_frames = pause_frames(self.frame_seconds)
        self.beam = BeamSearchDecoder(self.tokenizer, lm, beam_size, lm_weight, word_score) if lm else None
        self.decoding = self.beam.settings if self.beam else {"method": "greedy"}

    def _load(self, item, offset: float = 0.0, duration: float | None = None) -> torch.Tensor:
        """The audio of `item`, or of the window `offset`, `duration` (seconds) inside it; a
        manifest segment's window is relative to the segment's start."""
        if isinstance(item, Utterance):
            if duration is None and item.offset:
                duration = item.duration
            offset += item.offset
            item = item.audio_filepath
        return load_audio(item, self.cfg.features.sample_rate, offset, duration)

    @torch.no_grad()
    def _decode(self, waves: list[torch.Tensor]) -> list[tuple[str, list[Word]]]:
        padded, lengths = pad_features([self.logmel(w) for w in waves])
        log_probs, out_lengths = self.model(padded.to(self.device), lengths.to(self.device))
        log_probs, out_lengths = log_probs.float().cpu(), out_lengths.cpu()
        greedy = partial(greedy_decode, tokenizer=self.tokenizer, pause_frames=self.pause_frames)
        texts = (self.beam or greedy)(log_probs, out_lengths)
        return [(text, word_timestamps(lp[:n], text, self.tokenizer, self.frame_seconds))
                for lp, n, text in zip(log_probs, out_lengths.tolist(), texts)]

    def _windows(self, duration: float) -> list[tuple[float, float, float, float]]:
        """(offset, length, keep_from, keep_to) per window of audio `duration` seconds long: a word
        whose midpoint lies in [keep_from, keep_to) belongs to that window."""
        if duration <= self.chunk_seconds:
            return [(0.0, duration, -math.inf, math.inf)]
        step = self.chunk_seconds - self.overlap_seconds
        count = math.ceil((duration - self.overlap_seconds) / step)
        return [(k * step, min(self.chunk_seconds, duration - k * step), *self._keep(k, k * step, k == count - 1))
                for k in range(count)]

    def _keep(self, k: int, offset: float, last: bool) -> tuple[float, float]:
        step = self.chunk_seconds - self.overlap_seconds
        return (-math.inf if k == 0 else offset + self.overlap_seconds / 2,
                math.inf if last else offset + step + self.overlap_seconds / 2)

    def _read_windows(self, item) -> Iterator[Window]:
        """The windows of `item`, each read when it is asked for. A file with a header is read a
        window at a time by seeking; one without (m4a: only decoding tells its length) is decoded
        once, as a stream, and cut as it comes."""
        if isinstance(item, Utterance):
            duration = item.duration
        elif (duration := header_duration(item)) is None:
            windows = self._cut(audio_blocks(item, self.cfg.features.sample_rate))
            first = next(windows)
            if first[1].numel() == 0:
                raise AudioError(item, "contains no audio samples")
            yield first
            yield from windows
            return
        windows = self._windows(duration)
        if len(windows) == 1:
            yield 0.0, self._load(item), -math.inf, math.inf
            return
        for offset, length, keep_from, keep_to in windows:
            yield offset, self._load(item, offset, length), keep_from, keep_to

    def _cut(self, blocks: Iterable[torch.Tensor]) -> Iterator[Window]:
        """The windows _windows lays out, over audio that arrives in blocks of any size: a window is
        the last one where no sample lies beyond it, so one sample past it is read before it goes."""
        rate = self.cfg.features.sample_rate
        size, step = round(self.chunk_seconds * rate), round((self.chunk_seconds - self.overlap_seconds) * rate)
        blocks, buffer, start = iter(blocks), torch.empty(0), 0
        for k in itertools.count():
            while buffer.numel() <= size and (block := next(blocks, None)) is not None:
                buffer = torch.cat([buffer, block])
            last = buffer.numel() <= size
            yield (start / rate, buffer[:size], *self._keep(k, start / rate, last))
            if last:
                return
            buffer, start = buffer[step:], start + step

    def _transcribe_long(self, item, windows: Iterator[Window]) -> Transcript:
        rate = self.cfg.features.sample_rate
        words, duration = [], 0.0
        while batch := list(itertools.islice(windows, self.batch_size)):
            decoded = self._decode([wave for _, wave, _, _ in batch])
            for (offset, wave, keep_from, keep_to), (_, window_words) in zip(batch, decoded):
                for w in window_words:
                    w.start, w.end = round(w.start + offset, 3), round(w.end + offset, 3)
                    if keep_from <= (w.start + w.end) / 2 < keep_to:
                        words.append(w)
                duration = offset + wave.numel() / rate
        return self._transcript(item, " ".join(w.word for w in words), duration, words)

    def _transcript(self, item, text, duration, words) -> Transcript:
        source = item.audio_filepath if isinstance(item, Utterance) else str(item)
        return Transcript(source, text, round(duration, 3), words, self.name, self.decoding)

    def transcribe(self, items: Iterable) -> Iterator[tuple[object, Transcript | AudioError]]:
        """items: paths, or manifest Utterances (possibly segments of a longer file). Yields
        (item, Transcript) in input order; an item whose audio cannot be read yields its
        AudioError instead, and the others are still transcribed."""
        pending: list[tuple[object, torch.Tensor]] = []
        for item in items:
            try:
                windows = self._read_windows(item)
                first = next(windows)
            except AudioError as error:
                yield from self._flush(pending)
                pending = []
                yield item, error
                continue
            _, wave, keep_from, keep_to = first
            if keep_from == -math.inf and keep_to == math.inf:  # one window: batched with other short files
                pending.append((item, wave))
                if len(pending) >= self.batch_size:
                    yield from self._flush(pending)
                    pending = []
                continue
            yield from self._flush(pending)
            pending = []
            try:  # a long file can break in any window (a corrupt block half an hour in)
                result = self._transcribe_long(item, itertools.chain([first], windows))
            except AudioError as error:
                result = error
            yield item, result
        yield from self._flush(pending)

    def transcribe_waveform(self, wave, sample_rate: int, source: str = "waveform") -> Transcript:
        """Audio already in memory (a microphone's buffer, a dataset's array), numpy or torch, at any
        rate, float or integer PCM (int16 as scipy.io.wavfile reads it, scaled as a file's would be):
        1-D, or 2-D with channels on either axis (the shorter one; soundfile reads [samples,
        channels], torchaudio [channels, samples]). Long audio is cut into the windows a file's
        would be. `source` names it in the Transcript and in an AudioError (no samples, NaN)."""
        audio = samples_as_float(wave, source)
        if audio.dim() == 1:
            audio = audio[:, None]
        elif audio.dim() != 2:
            raise AudioError(source, f"must be [samples] or [channels, samples], got shape {tuple(audio.shape)}")
        elif audio.shape[0] < audio.shape[1]:
            audio = audio.T
        rate = self.cfg.features.sample_rate
        audio = mono_at_rate(audio, sample_rate, rate, source)
        if audio.numel() > round(self.chunk_seconds * rate):
            return self._transcribe_long(source, self._cut([audio]))
        (text, words), = self._decode([audio])
        return self._transcript(source, text, audio.numel() / rate, words)

    def _flush(self, pending):
        if not pending:
            return
        results = self._decode([wave for _, wave in pending])
        for (item, wave), (text, words) in zip(pending, results):
            yield item, self._transcript(item, text, wave.numel() / self.cfg.features.sample_rate, words)
