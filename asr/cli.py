"""The `asr` command: train, evaluate, transcribe."""

import argparse
import sys
from pathlib import Path

from asr.transcribe import DEFAULT_MODEL


def _fail(message: str, code: int = 2) -> int:
    print(f"asr: error: {message}", file=sys.stderr)
    return code


def cmd_train(args) -> int:
    from asr.config import load_config
    from asr.train import run
    last = run(load_config(args.config, args.overrides), resume=args.resume)
    print(f"last checkpoint: {last}")
    return 0


def cmd_prepare(args) -> int:
    from asr.corpora import prepare_corpus
    from asr.corpora.download import download_corpus
    root = Path(args.root)
    if args.download:
        root = download_corpus(args.corpus, root, args.subsets)
    options = {"transcripts": args.transcripts} if args.corpus == "asterisk" else {}
    if args.corpus == "synthetic":
        options = {"hours": args.hours, "seed": args.seed, "jobs": args.jobs}
    report, manifests = prepare_corpus(args.corpus, root, args.out, **options)
    print(report.summary())
    for path in manifests:
        print(f"wrote {path}")
    return 0


def cmd_evaluate(args) -> int:
    from asr.evaluate import evaluate
    scores = evaluate(args.model, args.manifest, args.device, args.batch_size)
    for line in scores["failed"]:
        print(line, file=sys.stderr)
    print(f"WER {scores['wer']:.2%}  CER {scores['cer']:.2%}  ({scores['utterances']} utterances)")
    return 1 if scores["failed"] else 0


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; directories searched recursively for audio files, in sorted order."""
    from asr.audio import is_audio_path
    out = []
    for p in map(Path, paths):
        out += sorted(f for f in p.rglob("*") if f.is_file() and is_audio_path(f)) if p.is_dir() else [p]
    return out


def cmd_transcribe(args) -> int:
    from asr.audio import AudioError
    from asr.transcribe import Transcriber
    model = Path(args.model) if args.model else DEFAULT_MODEL
    if not args.model and not DEFAULT_MODEL.exists():
        return _fail("no default model is bundled yet; pass --model CHECKPOINT (train one with `asr train`)")
    transcriber = Transcriber(model, args.device, args.batch_size)
    failures = 0
    for path, result in transcriber.transcribe(expand_inputs(args.paths)):
        if isinstance(result, AudioError):
            failures += 1
            print(f"asr: {result}", file=sys.stderr)
        else:
            print(f"{path}\t{result}", flush=True)
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="asr", description="Speech recognition with persistent Triton RNN kernels.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model from a recipe YAML", formatter_class=fmt)
    p.add_argument("config", help="recipe YAML, e.g. recipes/asterisk/config.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.epochs=5")
    p.add_argument("--resume", help="continue from this checkpoint (its own config is used; train.epochs may grow)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prepare", help="write JSON Lines manifests for a corpus", formatter_class=fmt)
    p.add_argument("corpus", choices=["librispeech", "mini_librispeech", "commonvoice", "ljspeech", "tedlium",
                                      "asterisk", "synthetic"])
    p.add_argument("--root", required=True, help="the corpus on disk (for synthetic: where audio is written)")
    p.add_argument("--out", required=True, help="folder for <split>.jsonl manifests")
    p.add_argument("--download", action="store_true", help="fetch the corpus into --root first (public URLs only)")
    p.add_argument("--subsets", nargs="*", help="with --download: which archives, e.g. dev-clean train-clean-100")
    p.add_argument("--transcripts", help="asterisk: core-sounds-en.txt(.gz) (default: Debian's)")
    p.add_argument("--hours", type=float, default=1.0, help="synthetic: hours of training audio")
    p.add_argument("--seed", type=int, default=0, help="synthetic: everything is drawn from this seed")
    p.add_argument("--jobs", type=int, default=2, help="synthetic: parallel TTS processes")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("evaluate", help="WER/CER of a checkpoint on a manifest", formatter_class=fmt)
    p.add_argument("--model", required=True, help="checkpoint file")
    p.add_argument("--manifest", required=True, help="JSON Lines manifest with audio_filepath, duration, text")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transcribe", help="print `path<TAB>text` for each audio file", formatter_class=fmt)
    p.add_argument("paths", nargs="+", help="audio files or directories (searched recursively)")
    p.add_argument("--model", help=f"checkpoint file (default: the bundled model, {DEFAULT_MODEL.name})")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=8, help="files per forward pass")
    p.set_defaults(func=cmd_transcribe)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from asr.audio import AudioError
    from asr.checkpoint import CheckpointError
    from asr.config import ConfigError
    from asr.corpora.download import DownloadError
    from asr.data import ManifestError
    try:
        return args.func(args)
    except (CheckpointError, ConfigError, ManifestError, AudioError, DownloadError, FileNotFoundError,
            ValueError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
