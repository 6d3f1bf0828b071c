import stat

import pytest

from matt.core.files import atomic_path, write_bytes_atomic, write_text_atomic


def test_written_whole_and_readable(tmp_path):
    target = write_text_atomic(tmp_path / "sub" / "a.json", "{}")
    assert target.read_text() == "{}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "sub"]


def test_failure_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "plot.png"
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".png") as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path
        temporary.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_file(tmp_path):
    target = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(OSError), atomic_path(target) as temporary:
        temporary.write_text("new, half")
        raise OSError("disk full")
    assert target.read_text() == "old"
