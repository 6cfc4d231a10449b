"""The speaker-profile container: one ``.prof`` zip file that holds everything a speaker needs.

Profiles travel between people, so reading one must be safe on a file from a stranger:

* nothing is ever unpickled: weights are safetensors, arrays are ``.npy`` read with
  ``allow_pickle=False`` (after the header is checked), images are PNG; members whose suffix says
  "pickle" (``.pkl``, ``.pt``, ...) are refused before a byte of them is read;
* ``manifest.json`` lists every other member with its sha256 and size, and the hash is checked while
  the member is read, so a damaged or altered member is reported by name instead of loading garbage;
* a member the manifest does not list, an unsafe member name (absolute, ``..``, backslash) or a
  format version newer than this code understands is refused;
* every failure is an ``InputError`` with one line that names the file and says what is wrong.

Layout inside the zip::

    weights/<group>.safetensors   one state dict per group
    arrays/<name>.npy             numeric arrays
    images/<name>.png             uint8 grey or RGB images (lossless)
    files/<name>                  files copied in as they are (e.g. the footage video), streamed
    manifest.json                 the caller's data + format_version, s2l_version, members (written last)

Writing is atomic (temporary file beside the target, renamed on success) and streams large files in
chunks, hashing them on the way, so a multi-GB video is never held in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from s2l_model import __version__
from s2l_model.errors import InputError
from s2l_model.media.atomic import atomic_output

if TYPE_CHECKING:
    import torch

# torch and safetensors load where weights are encoded or decoded: reading a manifest (`profile info`, a
# timeline's validation, a dub's clock) needs neither, and a CLI start saves the two seconds of torch.

FORMAT_VERSION = 2  # 2 (issue 16): the mouth stage and the mouth-driven lip field
#: Profiles older than this cannot be used: their lip model is another kind of network.
OLDEST_USABLE_VERSION = 2
MANIFEST = "manifest.json"

# Suffixes of formats that are (or usually wrap) pickles: refused by name, never opened.
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib"})

# Section folder -> the suffix its members carry ("" for files, which keep their own name).
_SECTIONS: dict[str, str] = {"weights": ".safetensors", "arrays": ".npy", "images": ".png", "files": ""}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_RESERVED_KEYS = ("format_version", "s2l_version", "members")
_CHUNK = 1 << 20
_MAX_MANIFEST_BYTES = 16 << 20  # a manifest is small JSON; anything bigger is not ours
_ZIP64_FROM = 1 << 30  # force zip64 early so a file that grows while it is copied still fits
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed: the bytes of a profile depend on its contents only
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NUMERIC_KINDS = "biufc"

# What reading a damaged or truncated zip can raise, from zipfile, zlib and the file system.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, struct.error)


@dataclass
class ProfileContents:
    """What goes into a profile and what comes back out of one.

    ``files`` is only used when writing: files can be large, so reading never loads them; take one out
    with ``extract_file`` (the names are the ``files/<name>`` keys of ``manifest["members"]``).
    """

    manifest: dict[str, Any] = field(default_factory=dict)  # free-form JSON data (fps, size, preset, ...)
    weights: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # group -> state dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # name -> numeric array
    images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> uint8 HxW or HxWx3 RGB
    files: dict[str, Path] = field(default_factory=dict)  # name -> file on disk, copied in as it is


@dataclass(frozen=True)
class _Entry:
    """A member as the manifest lists it."""

    sha256: str
    size: int


@dataclass(frozen=True)
class _Opened:
    """An open profile whose manifest, format version and member list have been checked."""

    zf: zipfile.ZipFile
    label: str
    manifest: dict[str, Any]
    members: dict[str, _Entry]
    infos: dict[str, zipfile.ZipInfo]


# ---------------------------------------------------------------------------------------------------
# writing


def write_profile(path: str | os.PathLike[str], contents: ProfileContents, *, overwrite: bool = True) -> Path:
    """Write ``contents`` to ``path`` as a profile, atomically; return the path.

    Everything that can be checked without writing is checked first (names, dtypes, that the files
    exist), so a bad call fails before a multi-GB video is copied. Caller bugs (an object array, a bad
    name) raise ``ValueError``; a missing or unreadable input file raises ``InputError``.
    """
    manifest = _check_contents(contents)
    out = Path(path)
    members: dict[str, dict[str, Any]] = {}
    with atomic_output(out, overwrite=overwrite) as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for group, state in contents.weights.items():
            data = _encode_weights(group, state)
            members[f"weights/{group}.safetensors"] = _write_bytes(zf, f"weights/{group}.safetensors", data)
        for name, array in contents.arrays.items():
            buf = io.BytesIO()
            np.save(buf, array, allow_pickle=False)
            members[f"arrays/{name}.npy"] = _write_bytes(zf, f"arrays/{name}.npy", buf.getvalue())
        for name, image in contents.images.items():
            # PNG is already compressed: stored, not deflated again.
            data = _encode_png(name, image)
            members[f"images/{name}.png"] = _write_bytes(zf, f"images/{name}.png", data, compress=False)
        for name, source in contents.files.items():
            members[f"files/{name}"] = _write_file(zf, f"files/{name}", Path(source))
        stored = {
            "format_version": FORMAT_VERSION,
            "s2l_version": __version__,
            **manifest,
            "members": members,
        }
        # Last, so that every hash is known; readers find it by name, not by position.
        _write_bytes(zf, MANIFEST, _dump_manifest(stored).encode())
    return out


def _check_contents(contents: ProfileContents) -> dict[str, Any]:
    """Validate everything before writing starts; return the caller's manifest without reserved keys."""
    if not isinstance(contents.manifest, Mapping):
        raise ValueError("profile manifest must be a dict")
    manifest = {k: v for k, v in contents.manifest.items() if k not in _RESERVED_KEYS}
    _dump_manifest(manifest)  # not JSON-serialisable: fail now, not after copying the footage
    import torch

    for group, state in contents.weights.items():
        _check_name("weights group", group)
        if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise ValueError(f"weights group {group!r} must map str names to tensors")
    for name, array in contents.arrays.items():
        _check_name("array", name)
        if not isinstance(array, np.ndarray):
            raise ValueError(f"array {name!r} is a {type(array).__name__}, not a numpy array")
        if array.dtype.hasobject or array.dtype.kind not in _NUMERIC_KINDS:
            raise ValueError(
                f"array {name!r} has dtype {array.dtype}: profiles hold numeric arrays only "
                "(anything else would need pickle to read back)"
            )
    for name, image in contents.images.items():
        _check_name("image", name)
        if not (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
            and image.size > 0
        ):
            raise ValueError(f"image {name!r} must be a non-empty uint8 HxW or HxWx3 RGB array")
    for name, source in contents.files.items():
        _check_name("file", name)
        if Path(name).suffix.lower() in PICKLE_SUFFIXES:
            raise ValueError(f"file name {name!r} has a pickle suffix, which profiles never contain")
        if not Path(source).is_file():
            raise InputError(f"file to put in the profile not found: {source}")
    return manifest


def _check_name(kind: str, name: object) -> None:
    """Names become member names: keep them to one safe path component."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{kind} name {name!r} is not allowed: use letters, digits, '_', '-', '.' "
            "(no '..', no slashes, at most 128 characters)"
        )


def _json_default(value: object) -> object:
    # Metrics are often numpy scalars; store them as plain numbers.
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _dump_manifest(manifest: Mapping[str, Any]) -> str:
    try:
        return json.dumps(manifest, indent=2, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"profile manifest is not JSON-serialisable: {exc}") from exc


def _zip_info(name: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def _write_bytes(zf: zipfile.ZipFile, name: str, data: bytes, *, compress: bool = True) -> dict[str, Any]:
    zf.writestr(_zip_info(name, compress), data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _write_file(zf: zipfile.ZipFile, name: str, source: Path) -> dict[str, Any]:
    """Stream a file in, stored (videos do not compress), hashing it on the way."""
    info = _zip_info(name, compress=False)
    try:
        fin = source.open("rb")
        size = os.fstat(fin.fileno()).st_size
    except OSError as exc:
        raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    info.file_size = size
    digest = hashlib.sha256()
    written = 0
    with fin, zf.open(info, "w", force_zip64=size >= _ZIP64_FROM) as fout:
        while True:
            try:
                chunk = fin.read(_CHUNK)
            except OSError as exc:
                raise InputError(f"cannot read {source}: {exc.strerror or exc}") from exc
            if not chunk:
                break
            digest.update(chunk)
            fout.write(chunk)
            written += len(chunk)
    return {"sha256": digest.hexdigest(), "bytes": written}


def _encode_weights(group: str, state: Mapping[str, torch.Tensor]) -> bytes:
    import safetensors.torch
    import torch

    # Private contiguous CPU copies: safetensors refuses tensors that share memory (tied weights).
    tensors = {k: v.detach().to("cpu").clone(memory_format=torch.contiguous_format) for k, v in state.items()}
    try:
        return safetensors.torch.save(tensors)
    except Exception as exc:  # the serializer's own error types vary by tensor kind
        raise ValueError(f"weights group {group!r} cannot be stored as safetensors: {exc}") from exc


def _encode_png(name: str, image: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise ValueError(f"image {name!r} could not be encoded as PNG")
    return buf.tobytes()


# ---------------------------------------------------------------------------------------------------
# reading


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The stored manifest, after the format and member-list checks but without reading any member.

    Cheap whatever the profile's size. Member hashes are not checked here: ``verify_profile`` does that
    (``s2l profile info`` and ``s2l profile verify`` call both).
    """
    with _open_profile(path) as op:
        return op.manifest


def read_profile(path: str | os.PathLike[str], *, load_files: bool = False) -> ProfileContents:
    """Load a profile's manifest, weights, arrays and images, checking every hash as it is read.

    ``files`` members (possibly multi-GB) are not loaded: the returned ``files`` is empty and
    ``extract_file`` takes one out. With ``load_files=True`` their hashes are checked too (streamed,
    nothing kept), for a full verification of the profile.
    """
    with _open_profile(path) as op:
        contents = ProfileContents(manifest=op.manifest)
        for name in sorted(op.members):
            section, item = _split_member(name) or ("", "")
            if section == "files":
                if load_files:
                    for _ in _verified_chunks(op, name):
                        pass
                continue
            data = b"".join(_verified_chunks(op, name))
            if section == "weights":
                contents.weights[item] = _decode_weights(op.label, name, data)
            elif section == "arrays":
                contents.arrays[item] = _decode_npy(op.label, name, data)
            elif section == "images":
                contents.images[item] = _decode_png(op.label, name, data)
        return contents


@dataclass(frozen=True)
class ProfileCheck:
    """What ``verify_profile`` found: every member with its size, and the one-line problem of each damaged
    member (an empty ``damaged`` means every byte matches the manifest's sha256)."""

    path: Path
    members: dict[str, int]  # name -> bytes
    damaged: dict[str, str]  # name -> what is wrong with it

    @property
    def ok(self) -> bool:
        return not self.damaged

    @property
    def checked_bytes(self) -> int:
        return sum(self.members.values())


def verify_profile(
    path: str | os.PathLike[str], on_bytes: Callable[[int, int], None] | None = None
) -> ProfileCheck:
    """Check every member of a profile against its sha256 and size, footage included (streamed).

    Unlike ``read_profile`` it does not stop at the first damaged member: a user checking a profile they
    were sent learns every member that was altered. The container checks that need no member data (zip
    directory, manifest, member list, pickles) still raise ``InputError`` at once. ``on_bytes(done, total)``
    reports progress in bytes."""
    with _open_profile(path) as op:
        total = sum(entry.size for entry in op.members.values())
        done = 0
        damaged: dict[str, str] = {}
        for name in sorted(op.members):
            try:
                for chunk in _verified_chunks(op, name):
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(done, total)
            except InputError as exc:
                damaged[name] = str(exc).removeprefix(f"{op.label}: ")
        if on_bytes is not None:
            on_bytes(total, total)
        return ProfileCheck(
            path=Path(path), members={n: e.size for n, e in op.members.items()}, damaged=damaged
        )


def extract_file(path: str | os.PathLike[str], name: str, dest: str | os.PathLike[str]) -> Path:
    """Copy ``files/<name>`` out of the profile to ``dest``, streaming, verifying its hash; return dest.

    Atomic: on a hash mismatch or any failure nothing is left at ``dest``.
    """
    member = f"files/{name}"
    with _open_profile(path) as op:
        if member not in op.members:
            raise InputError(f"{op.label}: the profile holds no file named {name!r}")
        out = Path(dest)
        with atomic_output(out) as tmp, tmp.open("wb") as fout:
            for chunk in _verified_chunks(op, member):
                fout.write(chunk)
        return out


@contextlib.contextmanager
def _open_profile(path: str | os.PathLike[str]) -> Iterator[_Opened]:
    """Open a profile and check everything that needs no member data; close it afterwards."""
    label = str(path)
    if not Path(path).exists():
        raise InputError(f"{label}: profile not found")
    try:
        zf = zipfile.ZipFile(path)
    except PermissionError as exc:
        raise InputError(f"{label}: cannot read the profile ({exc.strerror})") from exc
    except (*_ZIP_ERRORS, ValueError, NotImplementedError) as exc:
        raise InputError(f"{label}: not a speaker profile (not a zip file, or truncated)") from exc
    with zf:
        infos = _check_zip_entries(label, zf)
        manifest = _load_manifest(label, zf, infos)
        members = _check_members(label, manifest, infos)
        yield _Opened(zf=zf, label=label, manifest=manifest, members=members, infos=infos)


def _check_member_name(label: str, name: str) -> None:
    if not name or name.startswith("/") or "\\" in name or ".." in name or ":" in name or "\0" in name:
        raise InputError(f"{label}: member name {name!r} is unsafe (absolute, '..' or backslash); refused")


def _refuse_pickle_suffix(label: str, name: str) -> None:
    if Path(name).suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(f"{label}: member {name} is a pickle, which profiles never contain; refused")


def _check_zip_entries(label: str, zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Names, duplicates, encryption and compression of the zip's entries, from its directory."""
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        # ZipInfo normalises os.sep, but a raw name with backslashes is kept in orig_filename.
        for name in {info.filename, info.orig_filename}:
            _check_member_name(label, name)
        name = info.filename
        if name in infos:
            raise InputError(f"{label}: member {name} appears twice; refused")
        if info.flag_bits & 0x1:
            raise InputError(f"{label}: member {name} is encrypted; profiles never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InputError(f"{label}: member {name} uses an unsupported compression method")
        infos[name] = info
    return infos


def _load_manifest(label: str, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> dict[str, Any]:
    info = infos.get(MANIFEST)
    if info is None:
        raise InputError(f"{label}: not a speaker profile (no {MANIFEST})")
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise InputError(f"{label}: {MANIFEST} is implausibly large ({info.file_size} bytes); refused")
    try:
        with zf.open(info) as fh:
            raw = fh.read(_MAX_MANIFEST_BYTES + 1)
    except (*_ZIP_ERRORS, NotImplementedError) as exc:
        raise InputError(f"{label}: {MANIFEST} is damaged ({_brief(exc)})") from exc
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{label}: {MANIFEST} is not valid JSON ({_brief(exc)})") from exc
    if not isinstance(manifest, dict):
        raise InputError(f"{label}: {MANIFEST} is not a JSON object")
    version = manifest.get("format_version")
    if version is None:
        raise InputError(f"{label}: {MANIFEST} has no format_version; not a speaker profile")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{label}: profile format_version {version!r} is not an integer")
    if version > FORMAT_VERSION:
        raise InputError(
            f"{label}: profile format version {version} is newer than this s2l understands "
            f"({FORMAT_VERSION}); update s2l"
        )
    if version < 1:
        raise InputError(f"{label}: profile format version {version} is not valid")
    if version < OLDEST_USABLE_VERSION:
        raise InputError(
            f"{label}: profile format version {version} is from an older s2l whose lip model this one no "
            f"longer runs; rebuild it with `s2l profile build`"
        )
    return manifest


def _check_members(
    label: str, manifest: dict[str, Any], infos: dict[str, zipfile.ZipInfo]
) -> dict[str, _Entry]:
    """The manifest's member table must match the zip's entries exactly, with safe, known names."""
    table = manifest.get("members")
    if not isinstance(table, dict):
        raise InputError(f"{label}: {MANIFEST} has no valid 'members' table")
    members: dict[str, _Entry] = {}
    for name, entry in table.items():
        _check_member_name(label, name)
        _refuse_pickle_suffix(label, name)
        if name == MANIFEST or _split_member(name) is None:
            raise InputError(f"{label}: unexpected member {name} (not part of the profile layout)")
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and _SHA256_RE.fullmatch(entry["sha256"])
            and isinstance(entry.get("bytes"), int)
            and not isinstance(entry["bytes"], bool)
            and entry["bytes"] >= 0
        ):
            raise InputError(f"{label}: the manifest entry for member {name} is malformed")
        if name not in infos:
            raise InputError(f"{label}: member {name} is missing (the file is incomplete or was altered)")
        members[name] = _Entry(sha256=entry["sha256"], size=entry["bytes"])
    for name in infos:
        if name == MANIFEST:
            continue
        _refuse_pickle_suffix(label, name)
        if name not in members:
            raise InputError(f"{label}: unexpected member {name} (not listed in the manifest); refused")
    return members


def _split_member(name: str) -> tuple[str, str] | None:
    """``weights/lip.safetensors`` -> ``("weights", "lip")``; None for anything outside the layout."""
    section, sep, rest = name.partition("/")
    if not sep or section not in _SECTIONS:
        return None
    suffix = _SECTIONS[section]
    if not rest.endswith(suffix):
        return None
    item = rest[: len(rest) - len(suffix)]
    if not _NAME_RE.fullmatch(item) or ".." in item:
        return None
    return section, item


def _verified_chunks(op: _Opened, name: str) -> Iterator[bytes]:
    """Yield a member's data in chunks; raise InputError if its size or sha256 differ from the manifest.

    The final check happens after the last chunk: consumers must exhaust the iterator before trusting
    (or, for extract_file, publishing) what they read.
    """
    entry = op.members[name]
    info = op.infos[name]
    altered = f"{op.label}: member {name} does not match its hash (the file was altered or damaged)"
    if info.file_size != entry.size:
        raise InputError(altered)
    digest = hashlib.sha256()
    seen = 0
    try:
        with op.zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                seen += len(chunk)
                if seen > entry.size:
                    raise InputError(altered)
                digest.update(chunk)
                yield chunk
    except (*_ZIP_ERRORS, NotImplementedError) as exc:
        raise InputError(
            f"{op.label}: member {name} is damaged ({_brief(exc)}); the file was altered or damaged"
        ) from exc
    if seen != entry.size or digest.hexdigest() != entry.sha256:
        raise InputError(altered)


def _decode_weights(label: str, name: str, data: bytes) -> dict[str, torch.Tensor]:
    import safetensors.torch

    try:
        return dict(safetensors.torch.load(data))
    except Exception as exc:  # the Rust parser's errors, and whatever torch says about a bad dtype
        raise InputError(f"{label}: member {name} is not valid safetensors ({_brief(exc)})") from exc


def _decode_npy(label: str, name: str, data: bytes) -> np.ndarray:
    """Check the .npy header before loading: an object dtype means pickled data, refused unread."""
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            _shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            _shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, EOFError, OSError) as exc:
        raise InputError(f"{label}: member {name} is not a valid .npy array ({_brief(exc)})") from exc
    if dtype.hasobject:
        raise InputError(f"{label}: member {name} holds a pickle, which profiles never contain; refused")
    if dtype.kind not in _NUMERIC_KINDS:
        raise InputError(f"{label}: member {name} is not a numeric array (dtype {dtype})")
    fh.seek(0)
    try:
        return np.load(fh, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise InputError(
                f"{label}: member {name} holds a pickle, which profiles never contain; refused"
            ) from exc
        raise InputError(f"{label}: member {name} is not a valid .npy array ({_brief(exc)})") from exc
    except (EOFError, OSError) as exc:
        raise InputError(f"{label}: member {name} is not a valid .npy array ({_brief(exc)})") from exc


def _decode_png(label: str, name: str, data: bytes) -> np.ndarray:
    if not data.startswith(_PNG_SIGNATURE):
        raise InputError(f"{label}: member {name} is not a PNG image")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise InputError(f"{label}: member {name} is not a valid PNG image ({_brief(exc)})") from exc
    if image is None:
        raise InputError(f"{label}: member {name} is not a valid PNG image")
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise InputError(f"{label}: member {name} is not an 8-bit grey or RGB image")
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _brief(exc: BaseException) -> str:
    """An exception as a short single line for a user message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
