"""`asr prepare CORPUS --download`: fetch public archives with resume and SHA-256 verification.

Checksums are those torchaudio.datasets publishes for the same archives. Mini LibriSpeech has no
published checksum that we know of: it is downloaded without one, and says so.
"""

import hashlib
import http.client
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from tqdm import tqdm

OPENSLR = "https://www.openslr.org/resources"
ARCHIVES = {
    "librispeech": {
        "dev-clean": (f"{OPENSLR}/12/dev-clean.tar.gz",
                      "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
        "dev-other": (f"{OPENSLR}/12/dev-other.tar.gz",
                      "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
        "test-clean": (f"{OPENSLR}/12/test-clean.tar.gz",
                       "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
        "test-other": (f"{OPENSLR}/12/test-other.tar.gz",
                       "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
        "train-clean-100": (f"{OPENSLR}/12/train-clean-100.tar.gz",
                            "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
        "train-clean-360": (f"{OPENSLR}/12/train-clean-360.tar.gz",
                            "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
        "train-other-500": (f"{OPENSLR}/12/train-other-500.tar.gz",
                            "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
    },
    "mini_librispeech": {
        "dev-clean-2": (f"{OPENSLR}/31/dev-clean-2.tar.gz", None),
        "train-clean-5": (f"{OPENSLR}/31/train-clean-5.tar.gz", None),
    },
    "ljspeech": {
        "LJSpeech-1.1": ("https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
                         "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"),
    },
    "tedlium": {
        "TEDLIUM_release-3": (f"{OPENSLR}/51/TEDLIUM_release-3.tgz",
                              "ad1e454d14d1ad550bc2564c462d87c7a7ec83d4dc2b9210f22ab4973b9eccdb"),
    },
}
NO_DOWNLOAD = {
    "commonvoice": "accept its terms on commonvoice.mozilla.org, fetch it there and pass --root",
    "asterisk": "install it (Debian: apt install asterisk-core-sounds-en-wav) and pass --root",
    "synthetic": "it is synthesised on this machine, into --root",
}
DEFAULT_SUBSETS = {"librispeech": ["dev-clean", "test-clean", "train-clean-100"]}
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, dest: Path, sha256: str | None) -> Path:
    """Download url to dest, resuming a partial dest.part with an HTTP Range request; verify the
    SHA-256 before the final rename, so dest only ever exists complete and checked."""
    if dest.exists():
        return dest
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    total = done
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            if done and response.status != 206:  # the server ignored Range: start over
                done = 0
            total = done + int(response.headers.get("Content-Length", 0))
            with open(part, "ab" if done else "wb") as f, tqdm(total=total, initial=done, unit="B",
                                                              unit_scale=True, desc=dest.name) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    f.write(block)
                    bar.update(len(block))
    except (OSError, http.client.HTTPException) as error:  # no network, HTTP errors, a reset connection
        # 416: nothing after the part's last byte, so it is whole (a run stopped before checking it).
        if not (done and isinstance(error, urllib.error.HTTPError) and error.code == 416):
            # URLError's own text wraps the reason in "<urlopen error ...>"; HTTPError's is the status line.
            reason = error.reason if type(error) is urllib.error.URLError else error
            raise DownloadError(f"{url}: download failed ({reason}){_resume_hint(part)}") from None
    received = part.stat().st_size
    if received < total:  # a connection closed early reads as a short body, not an error
        raise DownloadError(f"{url}: download failed (connection closed after {received} of {total} bytes)"
                            f"{_resume_hint(part)}")
    if sha256 is None:
        print(f"{dest.name}: no published checksum; size {part.stat().st_size} bytes not verified", file=sys.stderr)
    elif (actual := sha256_of(part)) != sha256:
        part.unlink()
        raise DownloadError(f"{url}: SHA-256 mismatch (got {actual[:12]}..., expected {sha256[:12]}...); "
                            "the partial file was removed, run again")
    part.replace(dest)
    return dest


def _resume_hint(part: Path) -> str:
    kept = part.stat().st_size if part.exists() else 0
    return f"; {kept} bytes kept in {part}: run again to resume" if kept else ""


def extract(archive: Path, root: Path) -> None:
    marker = root / f".{archive.name}.extracted"
    if marker.exists():
        return
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
    except (tarfile.TarError, EOFError, zlib.error) as error:  # one without a checksum can be cut short
        reason = str(error).splitlines()[0].rstrip(":")
        raise DownloadError(f"{archive}: not a whole archive ({reason}); delete it and run again") from None
    marker.touch()


def download_corpus(corpus: str, root: Path, subsets: list[str] | None = None) -> Path:
    """Fetch and unpack into root; returns the folder to prepare."""
    if corpus not in ARCHIVES:
        raise DownloadError(f"--download: {corpus} has no public download; {NO_DOWNLOAD[corpus]}")
    archives = ARCHIVES[corpus]
    names = subsets or DEFAULT_SUBSETS.get(corpus, list(archives))
    unknown = [n for n in names if n not in archives]
    if unknown:
        raise DownloadError(f"unknown {corpus} subset(s) {unknown}; choose from {', '.join(archives)}")
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        url, sha256 = archives[name]
        extract(fetch(url, root / url.rsplit("/", 1)[1], sha256), root)
    folders = {"ljspeech": "LJSpeech-1.1", "tedlium": "TEDLIUM_release-3"}
    return root / folders[corpus] if corpus in folders else root
