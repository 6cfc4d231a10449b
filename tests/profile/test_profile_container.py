"""The `.prof` container: round trip, and refusal of pickles, damage, tampering and unknown formats."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from s2l_model import __version__
from s2l_model.errors import InputError
from s2l_model.profile import container
from s2l_model.profile.container import (
    FORMAT_VERSION,
    MANIFEST,
    ProfileContents,
    extract_file,
    read_manifest,
    read_profile,
    write_profile,
)


class PlantsMarker:
    """Unpickling this creates a file: proof, if the file appears, that a profile ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def assert_refused(path: Path, call: Callable[[], object], *words: str) -> str:
    """``call`` raises InputError with a one-line message naming ``path`` and containing ``words``."""
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, message
    assert path.name in message, message
    for word in words:
        assert word in message, message
    return message


def sample_contents(tmp_path: Path) -> ProfileContents:
    footage = tmp_path / "footage.mp4"
    footage.write_bytes(bytes(range(256)) * 4097)  # > 1 MiB: crosses the copy chunk size
    gen = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)
    return ProfileContents(
        manifest={"fps": [30000, 1001], "size": [256, 256], "preset": "fast", "metrics": {"psnr": 31.5}},
        weights={
            "lip": {
                "conv.weight": torch.randn(4, 3, 3, 3, generator=gen).half(),
                "conv.bias": torch.tensor([float("nan"), -0.0, 1e-8, 65504.0], dtype=torch.float16),
                "steps": torch.tensor([2**40 + 1, -7], dtype=torch.int64),
            },
            "head": {"w": torch.randn(5, 7, generator=gen).t(), "flag": torch.tensor([True, False])},
        },
        arrays={
            "landmarks": rng.standard_normal((10, 478, 3)).astype(np.float32),
            "frames": np.arange(12, dtype=np.int64).reshape(3, 4),
            "mask": np.array([True, False, True]),
        },
        images={
            "face": rng.integers(0, 256, (17, 23, 3), dtype=np.uint8),
            "grey": rng.integers(0, 256, (9, 11), dtype=np.uint8),
        },
        files={"footage.mp4": footage},
    )


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return write_profile(tmp_path / "speaker.prof", sample_contents(tmp_path))


def rebuild(
    src: Path,
    dst: Path,
    *,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
    rehash: bool = True,
    edit_manifest: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Copy a profile's zip with members replaced/added/dropped; by default the manifest hashes follow."""
    with zipfile.ZipFile(src) as zf:
        data = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(data.pop(MANIFEST))
    for name in drop:
        data.pop(name)
    data.update(replace or {})
    data.update(add or {})
    if rehash:
        manifest["members"] = {
            name: {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
            for name, blob in data.items()
        }
    if edit_manifest is not None:
        edit_manifest(manifest)
    with zipfile.ZipFile(dst, "w") as zf:
        for name, blob in data.items():
            zf.writestr(name, blob)
        zf.writestr(MANIFEST, json.dumps(manifest))
    return dst


def pickled_npy(marker: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([PlantsMarker(marker)], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_round_trip_is_exact(tmp_path: Path, profile: Path) -> None:
    original = sample_contents(tmp_path)
    back = read_profile(profile, load_files=True)

    assert back.weights.keys() == original.weights.keys()
    for group, state in original.weights.items():
        assert back.weights[group].keys() == state.keys()
        for key, tensor in state.items():
            got = back.weights[group][key]
            assert got.dtype == tensor.dtype and got.shape == tensor.shape
            # Bitwise, NaN included: compare the raw bytes as well as the values.
            assert torch.equal(got.view(-1).view(torch.uint8), tensor.contiguous().view(-1).view(torch.uint8))
            if not tensor.is_floating_point():
                assert torch.equal(got, tensor)
    assert back.weights["lip"]["steps"].dtype == torch.int64
    assert back.weights["lip"]["conv.weight"].dtype == torch.float16

    assert back.arrays.keys() == original.arrays.keys()
    for name, array in original.arrays.items():
        assert back.arrays[name].dtype == array.dtype
        assert np.array_equal(back.arrays[name], array)
    assert back.images.keys() == original.images.keys()
    for name, image in original.images.items():
        assert back.images[name].dtype == np.uint8
        assert np.array_equal(back.images[name], image)

    for key, value in original.manifest.items():
        assert back.manifest[key] == value
    assert back.manifest["format_version"] == FORMAT_VERSION
    assert back.manifest["s2l_version"] == __version__
    assert back.files == {}

    manifest = read_manifest(profile)
    footage = original.files["footage.mp4"].read_bytes()
    assert manifest["members"]["files/footage.mp4"] == {
        "sha256": hashlib.sha256(footage).hexdigest(),
        "bytes": len(footage),
    }
    with zipfile.ZipFile(profile) as zf:
        assert zf.namelist()[-1] == MANIFEST
        assert zf.getinfo("files/footage.mp4").compress_type == zipfile.ZIP_STORED
    out = extract_file(profile, "footage.mp4", tmp_path / "out.mp4")
    assert out == tmp_path / "out.mp4" and out.read_bytes() == footage


def test_pickle_payload_is_live(tmp_path: Path) -> None:
    """Control for the pickle tests: the payload really does create its marker when unpickled."""
    marker = tmp_path / "control-marker"
    np.load(io.BytesIO(pickled_npy(marker)), allow_pickle=True)
    assert marker.exists()


def test_pickled_npy_is_refused_without_running_it(tmp_path: Path, profile: Path) -> None:
    marker = tmp_path / "pwned"
    evil = rebuild(profile, tmp_path / "evil.prof", replace={"arrays/landmarks.npy": pickled_npy(marker)})
    assert_refused(evil, lambda: read_profile(evil), "arrays/landmarks.npy", "pickle")
    assert not marker.exists()


def test_pickle_member_is_refused_without_running_it(tmp_path: Path, profile: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"w": PlantsMarker(marker)})
    evil = rebuild(profile, tmp_path / "evil.prof", add={"weights/evil.pkl": payload})
    for call in (lambda: read_profile(evil), lambda: read_manifest(evil)):
        assert_refused(evil, call, "weights/evil.pkl", "pickle")
    assert not marker.exists()


def test_truncated_profile_is_refused(tmp_path: Path, profile: Path) -> None:
    raw = profile.read_bytes()
    cut = tmp_path / "cut.prof"
    cut.write_bytes(raw[: len(raw) // 2])
    assert_refused(cut, lambda: read_profile(cut), "truncated")
    assert_refused(cut, lambda: read_manifest(cut), "truncated")
    junk = tmp_path / "junk.prof"
    junk.write_text("hello\n")
    assert_refused(junk, lambda: read_profile(junk), "not a speaker profile")


def _flip_byte_in_member(path: Path, member: str) -> None:
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    assert info.compress_type == zipfile.ZIP_STORED
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_flipped_byte_is_reported_by_member(tmp_path: Path, profile: Path) -> None:
    _flip_byte_in_member(profile, "images/face.png")
    assert_refused(profile, lambda: read_profile(profile), "images/face.png", "altered or damaged")


def test_altered_member_fails_its_hash(tmp_path: Path, profile: Path) -> None:
    with zipfile.ZipFile(profile) as zf:
        blob = bytearray(zf.read("weights/lip.safetensors"))
    blob[-1] ^= 0x01  # still valid safetensors: only the hash can tell
    bad = rebuild(
        profile, tmp_path / "bad.prof", replace={"weights/lip.safetensors": bytes(blob)}, rehash=False
    )
    assert_refused(bad, lambda: read_profile(bad), "weights/lip.safetensors", "does not match its hash")


def test_altered_file_is_not_extracted(tmp_path: Path, profile: Path) -> None:
    with zipfile.ZipFile(profile) as zf:
        blob = bytearray(zf.read("files/footage.mp4"))
    blob[12345] ^= 0x01
    bad = rebuild(profile, tmp_path / "bad.prof", replace={"files/footage.mp4": bytes(blob)}, rehash=False)
    dest = tmp_path / "out.mp4"
    assert_refused(bad, lambda: extract_file(bad, "footage.mp4", dest), "files/footage.mp4", "hash")
    assert not dest.exists()
    assert_refused(bad, lambda: read_profile(bad, load_files=True), "files/footage.mp4")
    read_profile(bad)  # files are not read unless asked for


def test_format_version_is_checked(tmp_path: Path, profile: Path) -> None:
    def set_version(value: object) -> Callable[[dict[str, Any]], None]:
        return lambda manifest: manifest.__setitem__("format_version", value)

    newer = rebuild(profile, tmp_path / "newer.prof", edit_manifest=set_version(FORMAT_VERSION + 1))
    for call in (lambda: read_profile(newer), lambda: read_manifest(newer)):
        assert_refused(newer, call, "newer", str(FORMAT_VERSION + 1), "update s2l")
    missing = rebuild(profile, tmp_path / "missing.prof", edit_manifest=lambda m: m.pop("format_version"))
    assert_refused(missing, lambda: read_profile(missing), "format_version")
    for value in (0, "1", 1.0, True):
        odd = rebuild(profile, tmp_path / "odd.prof", edit_manifest=set_version(value))
        assert_refused(odd, lambda: read_profile(odd), "format")  # noqa: B023 (called at once)


def test_a_profile_of_the_old_format_is_refused_with_rebuild_it(tmp_path: Path, profile: Path) -> None:
    """Format 1 profiles hold a speech-driven lip field without a mouth stage: one line says to rebuild."""
    old = rebuild(profile, tmp_path / "old.prof", edit_manifest=lambda m: m.__setitem__("format_version", 1))
    for call in (lambda: read_profile(old), lambda: read_manifest(old)):
        assert_refused(old, call, "format version 1", "rebuild it", "s2l profile build")


def test_bad_manifest_is_refused(tmp_path: Path, profile: Path) -> None:
    control = rebuild(profile, tmp_path / "control.prof")
    read_profile(control)  # the rebuilt zip itself is fine: the failures below come from the edits
    with zipfile.ZipFile(profile) as zf:
        data = {n: zf.read(n) for n in zf.namelist() if n != MANIFEST}
    for name, manifest_bytes, word in (
        ("nomanifest.prof", None, MANIFEST),
        ("notjson.prof", b"{not json", "JSON"),
        ("notobject.prof", b"[1, 2]", "object"),
    ):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, blob in data.items():
                zf.writestr(member, blob)
            if manifest_bytes is not None:
                zf.writestr(MANIFEST, manifest_bytes)
        assert_refused(path, lambda: read_manifest(path), word)  # noqa: B023 (called at once)
    gone = rebuild(profile, tmp_path / "gone.prof", rehash=False, drop=("arrays/mask.npy",))
    assert_refused(gone, lambda: read_profile(gone), "arrays/mask.npy", "missing")


def test_unexpected_member_is_refused(tmp_path: Path, profile: Path) -> None:
    extra = rebuild(profile, tmp_path / "extra.prof", add={"arrays/extra.npy": b"x"}, rehash=False)
    assert_refused(extra, lambda: read_profile(extra), "unexpected member arrays/extra.npy")
    assert_refused(extra, lambda: read_manifest(extra), "unexpected member arrays/extra.npy")
    # Listed with a correct hash but outside the layout: still refused.
    odd = rebuild(profile, tmp_path / "odd.prof", add={"notes/readme.txt": b"hi"})
    assert_refused(odd, lambda: read_profile(odd), "unexpected member notes/readme.txt")


@pytest.mark.parametrize("name", ["../escape.npy", "/abs/arrays/x.npy", "arrays\\x.npy", "arrays/a..b.npy"])
def test_unsafe_member_names_are_refused(tmp_path: Path, profile: Path, name: str) -> None:
    bad = rebuild(profile, tmp_path / "bad.prof", add={name: b"x"})
    assert_refused(bad, lambda: read_profile(bad), "unsafe")


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "speaker.prof"

    contents = sample_contents(tmp_path)
    contents.files["missing.mp4"] = tmp_path / "does-not-exist.mp4"
    with pytest.raises(InputError, match=r"does-not-exist\.mp4"):
        write_profile(target, contents)
    assert list(out_dir.iterdir()) == []

    # Failing midway (after weights and arrays went in) over an existing profile: the old one stays.
    target.write_bytes(b"previous profile")

    def broken_imencode(*args: object, **kwargs: object) -> object:
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(container.cv2, "imencode", broken_imencode)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_profile(target, sample_contents(tmp_path))
    assert list(out_dir.iterdir()) == [target]
    assert target.read_bytes() == b"previous profile"


def test_write_refuses_object_arrays(tmp_path: Path) -> None:
    contents = ProfileContents(arrays={"bad": np.array([{"a": 1}], dtype=object)})
    target = tmp_path / "speaker.prof"
    with pytest.raises(ValueError, match="numeric"):
        write_profile(target, contents)
    assert list(tmp_path.iterdir()) == []


def speaker_manifest_json() -> dict[str, Any]:
    """A speaker profile's manifest as ``s2l profile build`` stores it (key order included)."""
    return {
        "kind": "s2l speaker profile",
        "source": {"name": "anchor.mp4", "bytes": 3772890},
        "fps": "30000/1001",
        "width": 512,
        "height": 384,
        "frames": 1779,
        "canonical_frame": 1056,
        "split": {
            "test_split": 0.1,
            "train_frames": [0, 1601],
            "heldout_frames": [1601, 1779],
            "trained_on": 1590,
        },
        "preset": {"name": "fast", "model": {"lip_width": 64}, "train": {"steps": 300}},
        "model": {"lip_width": 64},
        "layout": {"width": 512, "height": 384},
        "training": {
            "device": "cpu",
            "seed": 0,
            "steps": 300,
            "sync_expert_steps": 300,
            "seconds": 170.9,
            "stopped_by": "steps",
            "blend_net": True,
            "heldout_lip_psnr": 26.4,
            "expert_heldout_accuracy": None,
            "final_losses": {"lip": 0.0033, "total": 0.0188},
            "mouth_steps": 1500,
            "mouth_check": {"frames": 161.0, "opening_r": 0.587},
        },
        "footage": "footage.mp4",
        "metrics": {"frames": 178, "psnr_mouth": 27.19, "sync/truth/phones": None},
    }


def test_speaker_manifest_reads_and_writes_the_stored_json(tmp_path: Path) -> None:
    from fractions import Fraction

    from s2l_model.profile.manifest import ProfileManifest, read_speaker_manifest

    stored = speaker_manifest_json()
    m = ProfileManifest.from_dict(stored)
    assert m.fps == Fraction(30000, 1001) and (m.width, m.height, m.frames) == (512, 384, 1779)
    assert m.split.train == range(0, 1601) and m.split.heldout == range(1601, 1779)
    assert m.training.steps == 300 and m.training.expert_heldout_accuracy is None
    assert m.preset_name == "fast" and m.metrics["psnr_mouth"] == 27.19
    assert json.dumps(m.to_dict()) == json.dumps(stored)  # same keys, same order, same values
    footage = tmp_path / "footage.mp4"
    footage.write_bytes(b"video")
    path = write_profile(
        tmp_path / "s.prof", ProfileContents(manifest=stored, files={"footage.mp4": footage})
    )
    back = read_speaker_manifest(path)
    assert back.format_version == FORMAT_VERSION and back.s2l_version == __version__
    assert back.footage_bytes == 5 and back.stored_bytes == 5
    assert back.to_dict() == m.to_dict()


def test_foreign_or_malformed_speaker_manifest_is_one_line(tmp_path: Path) -> None:
    from s2l_model.profile.manifest import ProfileManifest

    label = tmp_path / "odd.prof"
    for change, word in (
        ({"kind": "something else"}, "not an s2l speaker profile"),
        ({"split": {"test_split": 0.1}}, "malformed"),
        ({"fps": "fast"}, "malformed"),
    ):
        data = {**speaker_manifest_json(), **change}
        assert_refused(label, lambda: ProfileManifest.from_dict(data, label=label.name), word)  # noqa: B023
