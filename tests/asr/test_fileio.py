"""Atomic writes: whole file or the old one, never a half-written one, with the usual permissions."""

import os
import stat

import pytest

from asr.fileio import atomic_write, atomic_write_text


def test_new_file_has_the_permissions_of_an_ordinary_file(tmp_path):
    old_mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out" / "a.txt", "hello\n")
    finally:
        os.umask(old_mask)
    path = tmp_path / "out" / "a.txt"
    assert path.read_text() == "hello\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old\n")

    def half_then_fail(f):
        f.write("new, half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
