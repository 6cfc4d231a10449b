"""`s2l profile verify` and `s2l profile info` check every member's hash, and name every damaged member."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from s2l_model.profile.container import verify_profile, write_profile
from tests.profile.test_profile_container import rebuild, sample_contents
from tests.support import assert_one_line_error, run_s2l


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path / "speaker.prof", sample_contents(tmp_path))


def _tamper(profile: Path, out: Path, *members: str) -> Path:
    """A copy of ``profile`` with one bit flipped in each of ``members``, the manifest's hashes kept."""
    replaced = {}
    with zipfile.ZipFile(profile) as zf:
        for name in members:
            blob = bytearray(zf.read(name))
            blob[len(blob) // 2] ^= 0x01
            replaced[name] = bytes(blob)
    return rebuild(profile, out, replace=replaced, rehash=False)


def test_verify_reads_every_byte_and_names_every_damaged_member(tmp_path: Path, profile: Path) -> None:
    seen: list[tuple[int, int]] = []
    check = verify_profile(profile, lambda done, total: seen.append((done, total)))
    assert check.ok and check.damaged == {}
    total = sum(check.members.values())
    assert check.checked_bytes == total and seen[-1] == (total, total)
    assert "files/footage.mp4" in check.members  # the footage is checked too (read_profile skips it)

    bad = _tamper(profile, tmp_path / "bad.prof", "files/footage.mp4", "arrays/landmarks.npy")
    check = verify_profile(bad)
    assert not check.ok
    assert sorted(check.damaged) == ["arrays/landmarks.npy", "files/footage.mp4"]
    assert all("does not match its hash" in why for why in check.damaged.values())


def test_verify_command(tmp_path: Path, profile: Path) -> None:
    good = run_s2l("profile", "verify", str(profile))
    assert good.returncode == 0, good.stderr
    assert "members match their sha256" in good.stderr

    bad = _tamper(profile, tmp_path / "bad.prof", "files/footage.mp4")
    proc = run_s2l("profile", "verify", str(bad))
    # one line: the finished "verifying" bar is erased, not left above the error
    assert_one_line_error(proc, "files/footage.mp4")
    assert "damaged" in proc.stderr


def test_info_refuses_a_damaged_profile(tmp_path: Path, tiny_profile: Path) -> None:
    proc = run_s2l("profile", "info", str(tiny_profile))
    assert proc.returncode == 0, proc.stderr
    assert "members match their sha256" in proc.stdout

    with zipfile.ZipFile(tiny_profile) as zf:
        footage = next(n for n in zf.namelist() if n.startswith("files/"))
    bad = _tamper(tiny_profile, tmp_path / "bad.prof", footage)
    proc = run_s2l("profile", "info", str(bad))
    assert_one_line_error(proc, footage)
    quick = run_s2l("profile", "info", str(bad), "--no-verify")  # the manifest alone still reads
    assert quick.returncode == 0, quick.stderr
    assert "not checked" in quick.stdout
