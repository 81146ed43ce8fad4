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
    last = run(load_config(args.config, args.overrides))
    print(f"last checkpoint: {last}")
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
    p.set_defaults(func=cmd_train)

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
    from asr.data import ManifestError
    try:
        return args.func(args)
    except (CheckpointError, ConfigError, ManifestError, AudioError, ValueError) as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":
    sys.exit(main())
