"""Files written whole or not at all (vta_hw.files): a failure leaves the old file and no
temporary beside it."""

from __future__ import annotations

import pytest

from vta_hw.files import atomic_path, write_atomic


def test_write_atomic_replaces_whole_and_creates_the_directory(tmp_path):
    p = tmp_path / "sub" / "table.json"
    write_atomic(p, "one")
    write_atomic(p, b"two")
    assert p.read_text() == "two"
    assert sorted(x.name for x in p.parent.iterdir()) == ["table.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "plot.png"
    write_atomic(p, "old")
    with pytest.raises(RuntimeError), atomic_path(p, suffix=".png") as tmp:
        assert tmp.parent == p.parent and tmp.suffix == ".png" and tmp != p
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert p.read_text() == "old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["plot.png"]


def test_atomic_outputs_get_the_permissions_of_ordinary_files(tmp_path):
    """tempfile makes owner-only temporaries; what lands must not stay private."""
    from vta_hw.files import atomic_dir

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    (tmp_path / "plain_dir").mkdir()
    p = write_atomic(tmp_path / "module.vtapkg", "x")
    with atomic_dir(tmp_path / "build") as d:
        (d / "f").write_text("x")
    assert p.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    assert ((tmp_path / "build").stat().st_mode & 0o777
            == (tmp_path / "plain_dir").stat().st_mode & 0o777)


def test_atomic_outputs_follow_the_users_umask(tmp_path):
    """Under umask 027 a file lands 0640 and a directory 0750, as open and mkdir make them;
    the umask itself is left as it was."""
    import os

    from vta_hw.files import atomic_dir

    old = os.umask(0o027)
    try:
        p = write_atomic(tmp_path / "table.json", "x")
        with atomic_dir(tmp_path / "build") as d:
            (d / "f").write_text("x")
        with atomic_dir(tmp_path / "build") as d:  # replacing an older entry
            (d / "g").write_text("y")
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "build").stat().st_mode & 0o777 == 0o750
    assert sorted(x.name for x in (tmp_path / "build").iterdir()) == ["g"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["build", "table.json"]
