"""Atomic writes: whole file or the old one, never a half-written one, with the usual permissions."""

import os
import re
import stat

import pytest

from asr.fileio import atomic_write, atomic_write_text, check_writable, read_utf8, writable_folder


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


def test_unwritable_places_are_named_not_their_temporaries(tmp_path):
    """mkdir and mkstemp name a parent, or the temporary file (/proc/.x.arpa.tdioi01s.tmp), where the
    user asked for another path."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder is asked for\n")
    with pytest.raises(OSError, match=re.escape(f"{blocker}: is a file, not a folder")):
        atomic_write_text(blocker / "a.txt", "x")
    in_the_way = f"{blocker / 'deeper'}: cannot write files in this folder (a file on its path is in the way)"
    with pytest.raises(OSError, match=re.escape(in_the_way)):
        check_writable(blocker / "deeper" / "a.txt")
    with pytest.raises(IsADirectoryError, match=re.escape(f"{tmp_path}: is a folder; name a file")):
        atomic_write_text(tmp_path, "x")
    with pytest.raises(OSError, match="^/proc: cannot write files in this folder"):
        check_writable("/proc/a.txt")  # a folder no one, root included, can create files in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_writable_folder_makes_the_missing_path_and_leaves_nothing_in_it(tmp_path):
    folder = writable_folder(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_text_that_is_not_utf8_is_named_with_the_line_of_its_first_bad_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("ok\nfine\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: not UTF-8 text (byte 0xe9)")):
        read_utf8(path)
    path.write_text("caf\u00e9\n", encoding="utf-8")
    assert read_utf8(path) == "caf\u00e9\n"
