"""Streaming video decode and encode through the ffmpeg binary.

Frames are HxWx3 uint8 RGB numpy arrays. Decoding is a generator (one frame in memory at a time);
encoding is a context manager that pipes raw frames into ffmpeg and renames the finished file into
place. Colour: RGB↔YUV uses BT.709 (limited range) and the output is tagged so, which is what players
assume for video; a decoded file is converted with the matrix it is tagged with.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

import ffmpeg
import numpy as np

from s2l_model.errors import InputError, ProcessingError
from s2l_model.media.atomic import atomic_output
from s2l_model.media.audio import Speech, write_wav
from s2l_model.media.ffmpeg import GLOBAL_ARGS, ffmpeg_exe, last_error_line
from s2l_model.media.probe import MediaInfo, probe, probe_video

Codec = Literal["h264", "prores", "ffv1"]
CODECS: tuple[Codec, ...] = ("h264", "prores", "ffv1")

#: Container, file suffix and encoder settings per codec. ffv1 is lossless (planar RGB), for tests.
_CONTAINER = {"h264": ("mp4", ".mp4"), "prores": ("mov", ".mov"), "ffv1": ("matroska", ".mkv")}
_AUDIO_CODEC = {
    "h264": {"c:a": "aac", "b:a": "192k"},
    "prores": {"c:a": "pcm_s16le"},
    "ffv1": {"c:a": "flac"},
}
_BT709 = {"colorspace": "bt709", "color_primaries": "bt709", "color_trc": "bt709", "color_range": "tv"}


def suffix_for(codec: Codec) -> str:
    """The file suffix that goes with a codec ('.mp4', '.mov', '.mkv')."""
    return _CONTAINER[codec][1]


def _fps_str(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _stderr_text(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


# ----------------------------------------------------------------------------------------------- decode


def iter_frames(
    path: str | os.PathLike[str],
    *,
    fps: Fraction | None = None,
    start: float = 0.0,
    max_frames: int | None = None,
    info: MediaInfo | None = None,
    width: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of ``path`` as HxWx3 uint8 RGB arrays, rotated for display.

    Without ``fps`` every decoded frame is yielded once (no duplication or dropping, also for variable
    frame rate). With ``fps`` the stream is resampled to that constant rate. ``start`` seeks (seconds,
    frame-accurate; ``seek_seconds`` gives the time to start at a frame). ``width`` scales the frames down
    to that width (aspect kept, even height), for thumbnails. Memory stays flat: one frame at a time.
    """
    info = info or probe_video(path)
    assert info.video is not None
    source = ffmpeg.input(str(info.path), **({"ss": f"{start:.6f}"} if start > 0 else {}))
    video = source[str(info.video.index)]
    if width is None:
        width, height = info.video.width, info.video.height
    else:
        height = max(2, 2 * round(info.video.height * width / info.video.width / 2))
        video = video.filter("scale", width, height, flags="area")
    out_args: dict[str, object] = {"format": "rawvideo", "pix_fmt": "rgb24"}
    if fps is not None:
        video = video.filter("fps", fps=_fps_str(fps))
    else:
        out_args["fps_mode"] = "passthrough"
    if max_frames is not None:
        out_args["frames:v"] = max_frames
    cmd = ffmpeg.output(video, "pipe:", **out_args).global_args(*GLOBAL_ARGS).compile(cmd=ffmpeg_exe())

    frame_bytes = width * height * 3
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        try:
            while True:
                frame = np.empty((height, width, 3), dtype=np.uint8)
                view = memoryview(frame).cast("B")
                got = 0
                while got < frame_bytes:
                    n = proc.stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got == 0:
                    break
                if got < frame_bytes:
                    raise ProcessingError(f"decoding {info.path} failed: truncated frame from ffmpeg")
                yield frame
            if proc.wait() != 0:
                raise ProcessingError(
                    f"decoding {info.path} failed: ffmpeg: {last_error_line(_stderr_text(err))}"
                )
        finally:
            if proc.poll() is None:  # the consumer stopped early
                proc.kill()
            proc.stdout.close()
            proc.wait()


def seek_seconds(frame: int, fps: Fraction) -> float:
    """The ``start`` that makes ``iter_frames`` begin at ``frame`` of a constant-rate video: half a frame
    early, so that rounding the time can never skip the frame itself (ffmpeg drops frames before the seek
    point, and frame k's time k/fps is rarely exact in decimals)."""
    return float((frame - Fraction(1, 2)) / fps) if frame > 0 else 0.0


# ----------------------------------------------------------------------------------------------- encode

AudioSource = str | os.PathLike[str] | Speech


class VideoWriter:
    """Encode RGB frames (+ optional audio) to ``path`` atomically.

    ``audio`` is a media file (its first audio track is used) or a ``Speech``. With ``n_frames`` the
    output is checked to hold exactly that many frames and the audio is cut or padded with silence to
    exactly ``n_frames / fps`` seconds; without it, the audio is padded/cut to the video's length.

        with VideoWriter("out.mp4", fps=Fraction(25), size=(512, 512), audio="speech.wav") as w:
            for frame in frames:
                w.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: Fraction,
        size: tuple[int, int],
        codec: Codec = "h264",
        crf: int | None = None,
        preset: str = "medium",
        audio: AudioSource | None = None,
        n_frames: int | None = None,
        overwrite: bool = True,
    ) -> None:
        if codec not in CODECS:
            raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
        if crf is not None and not 0 <= crf <= 51:
            raise InputError(f"--crf must be between 0 and 51, got {crf}")
        width, height = size
        if width <= 0 or height <= 0:
            raise InputError(f"bad frame size {width}x{height}")
        self.path = Path(path)
        self.fps = Fraction(fps)
        self.size = (int(width), int(height))
        self.codec = codec
        self.crf = 18 if crf is None else crf
        self.preset = preset
        self.audio = audio
        self.n_frames = n_frames
        self.overwrite = overwrite
        self.frames_written = 0
        self._stack = contextlib.ExitStack()
        self._proc: subprocess.Popen[bytes] | None = None
        self._err: IO[bytes] | None = None

    # -- command line
    def _video_args(self) -> dict[str, object]:
        width, height = self.size
        if self.codec == "h264":
            # yuv420p needs even sizes: pad odd ones by one replicated pixel rather than resample.
            pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2," if width % 2 or height % 2 else ""
            return {
                "vf": f"{pad}scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
                "c:v": "libx264",
                "preset": self.preset,
                "crf": self.crf,
                "movflags": "+faststart",
                **_BT709,
            }
        if self.codec == "prores":  # ProRes 422 (standard), 10-bit, what editors expect in a .mov
            return {
                "vf": "scale=out_color_matrix=bt709:out_range=tv,format=yuv422p10le",
                "c:v": "prores_ks",
                "profile:v": 2,
                "vendor": "apl0",
                **_BT709,
            }
        return {"c:v": "ffv1", "level": 3, "pix_fmt": "gbrp", "g": 1}  # RGB planes: bit-exact round trip

    def _command(self, target: Path, audio_path: Path | None) -> list[str]:
        width, height = self.size
        streams = [
            ffmpeg.input(
                "pipe:",
                format="rawvideo",
                pix_fmt="rgb24",
                s=f"{width}x{height}",
                framerate=_fps_str(self.fps),
            )
        ]
        out_args: dict[str, object] = {"format": _CONTAINER[self.codec][0], **self._video_args()}
        if self.n_frames is not None:
            out_args["frames:v"] = self.n_frames
        if audio_path is not None:
            streams.append(ffmpeg.input(str(audio_path))["a:0"])
            out_args.update(_AUDIO_CODEC[self.codec])
            if self.n_frames is not None:
                # Exact length: pad the audio with silence, then cut it at the video's last frame.
                out_args["af"] = "apad"
                out_args["t"] = f"{float(self.n_frames / self.fps):.6f}"
            else:
                out_args["af"] = "apad"
                out_args["shortest"] = None
        return (
            ffmpeg.output(*streams, str(target), **out_args)
            .global_args(*GLOBAL_ARGS)
            .compile(cmd=ffmpeg_exe(), overwrite_output=True)
        )

    # -- lifecycle
    def __enter__(self) -> VideoWriter:
        try:
            target = self._stack.enter_context(atomic_output(self.path, overwrite=self.overwrite))
            audio_path: Path | None = None
            if isinstance(self.audio, Speech):
                tmpdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="s2l-audio-")))
                audio_path = write_wav(tmpdir / "speech.wav", self.audio)
            elif self.audio is not None:
                audio_path = Path(self.audio)
                if not audio_path.is_file():
                    raise InputError(f"no such audio file: {audio_path}")
            self._err = self._stack.enter_context(tempfile.TemporaryFile())
            self._proc = subprocess.Popen(
                self._command(target, audio_path),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._err,
            )
        except BaseException:
            self._stack.__exit__(None, None, None)
            raise
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame."""
        assert self._proc is not None and self._proc.stdin is not None, "use VideoWriter as a context manager"
        width, height = self.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ProcessingError(
                f"frame {self.frames_written} is {frame.shape} {frame.dtype}, "
                f"expected ({height}, {width}, 3) uint8"
            )
        if self.n_frames is not None and self.frames_written >= self.n_frames:
            raise ProcessingError(f"more frames than the {self.n_frames} announced for {self.path}")
        try:
            self._proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
        except BrokenPipeError:
            self._proc.wait()
            raise ProcessingError(self._failure_message()) from None
        self.frames_written += 1

    def _failure_message(self) -> str:
        detail = last_error_line(_stderr_text(self._err)) if self._err else "unknown error"
        return f"encoding {self.path} failed: ffmpeg: {detail}"

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        if exc_type is not None:
            proc.kill()
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            proc.wait()
            self._stack.__exit__(exc_type, exc, tb)  # removes the temporary file
            return
        try:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            if proc.wait() != 0:
                raise ProcessingError(self._failure_message())
            if self.frames_written == 0:
                raise ProcessingError(f"no frames to write to {self.path}")
            if self.n_frames is not None and self.frames_written != self.n_frames:
                raise ProcessingError(
                    f"{self.path}: got {self.frames_written} frames, {self.n_frames} were announced"
                )
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        self._stack.__exit__(None, None, None)  # renames into place


# ----------------------------------------------------------------------------------------------- re-encode


def reencode(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    codec: Codec = "h264",
    crf: int | None = None,
    preset: str = "medium",
    fps: Fraction | None = None,
    speech: str | os.PathLike[str] | None = None,
    require_audio: bool = True,
    overwrite: bool = True,
    on_frame: Callable[[int, int], None] | None = None,
) -> Path:
    """Decode ``src`` frame by frame and encode it to ``dst`` with its own audio, or with ``speech``.

    Keeps the frame count (or resamples to ``fps``), the size and the audio timing. Fails up front,
    before anything is written, if the audio that is needed is missing.
    """
    info = probe_video(src)
    assert info.video is not None
    if require_audio and speech is None and not info.has_audio:
        raise InputError(
            f"{info.path} has no audio track: give speech to put on it (--speech) or allow "
            "a silent output (--no-audio)"
        )
    if speech is not None and not probe(speech).has_audio:  # an audio file, or a video with sound
        raise InputError(f"no audio track in {speech}")
    audio: AudioSource | None = speech if speech is not None else (info.path if info.has_audio else None)
    n_frames = info.video.n_frames if fps is None else None
    total = n_frames or round(info.video.duration * float(fps or info.video.fps))
    out_fps = fps or info.video.fps
    with VideoWriter(
        dst,
        fps=out_fps,
        size=(info.video.width, info.video.height),
        codec=codec,
        crf=crf,
        preset=preset,
        audio=audio,
        n_frames=n_frames,
        overwrite=overwrite,
    ) as writer:
        for i, frame in enumerate(iter_frames(info.path, fps=fps, info=info)):
            writer.write(frame)
            if on_frame is not None:
                on_frame(i + 1, total)
    return Path(dst)


def codec_for_path(path: str | os.PathLike[str], codec: Codec | None) -> Codec:
    """The codec to use for an output path: the one asked for (checked against the suffix) or the suffix's."""
    suffix = Path(path).suffix.lower()
    by_suffix = {ext: name for name, (_, ext) in _CONTAINER.items()}
    if codec is None:
        if suffix not in by_suffix:
            raise InputError(
                f"cannot tell the format from {Path(path).name!r}: "
                "use .mp4 (h264), .mov (prores) or .mkv (ffv1)"
            )
        return by_suffix[suffix]
    if codec not in CODECS:
        raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if suffix != suffix_for(codec):
        raise InputError(
            f"--codec {codec} writes {suffix_for(codec)} files, but the output is {Path(path).name!r}"
        )
    return codec
