"""LibriSpeech and Mini LibriSpeech: <subset>/<speaker>/<chapter>/<spk>-<chapter>-<utt>.flac with
<spk>-<chapter>.trans.txt beside them. Each subset folder found becomes one split."""

from pathlib import Path

from tqdm import tqdm

from asr.corpora.report import Report
from asr.fileio import read_utf8

SUBSETS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean",
           "test-other", "train-clean-5", "dev-clean-2")


def find_subsets(root: Path) -> list[Path]:
    """Subset folders under root, root/LibriSpeech, or root itself when it is one subset."""
    for base in (root, root / "LibriSpeech"):
        found = [base / s for s in SUBSETS if (base / s).is_dir()]
        if found:
            return found
    return [root] if root.name in SUBSETS else []


def prepare(root: Path, report: Report, **_) -> None:
    subsets = find_subsets(root)
    if not subsets:
        raise FileNotFoundError(f"{root}: no LibriSpeech subset folder ({', '.join(SUBSETS[:3])}, ...) found")
    for subset in subsets:
        for trans in tqdm(sorted(subset.glob("*/*/*.trans.txt")), desc=subset.name, unit="chapter"):
            for number, line in enumerate(read_utf8(trans).splitlines(), start=1):
                where = f"{trans}:{number}"
                utt_id, _, text = line.strip().partition(" ")
                if not utt_id or not text:
                    report.skip("malformed transcript line", where)
                    continue
                speaker = utt_id.split("-")[0]
                report.add(subset.name, where, trans.parent / f"{utt_id}.flac", text, id=utt_id, speaker=speaker)
