"""Writing files so that a reader never sees half of one: temporary file beside it, then rename."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def writable_folder(folder) -> Path:
    """Make folder (and its parents) if missing and prove a file can be created in it. Called before a
    long run whose results go there, it fails in a second, naming the folder, not after the run."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        # mkdir's own words ("File exists: 'a'" for a/b/c) name a path, not what the user asked for.
        in_the_way = isinstance(error, (FileExistsError, NotADirectoryError))
        reason = "a file on its path is in the way" if in_the_way else error.strerror or error
        raise OSError(f"{folder}: cannot write files in this folder ({reason})") from None
    return folder


def check_writable(path) -> None:
    """Fail now, naming path, where atomic_write(path) would fail: for results written after long work."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; name a file")
    writable_folder(path.parent)


def refuse_overwriting_an_input(path, inputs, flag: str = "--out") -> None:
    """Fail, naming flag, where path is one of the files the command reads: writing it would replace
    the user's corpus text, manifest or checkpoint with the result (`asr lm build corpus.txt --out
    corpus.txt`)."""
    target = Path(path).resolve()
    for source in inputs:
        if Path(source).resolve() == target:
            raise ValueError(f"{flag} {path}: is also an input ({source}); name another file")


def atomic_write(path, write: Callable, binary: bool = False) -> None:
    """Call write(file) on a temporary file in path's folder, then rename it over path."""
    path = Path(path)
    check_writable(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; others should read ours as usual
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_utf8(path) -> str:
    """A text file's content. One that is not UTF-8 is named with the line of its first bad byte,
    where Python's own error ("'utf-8' codec can't decode byte 0xff in position 6") names neither."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))
