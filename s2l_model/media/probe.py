"""Probing media files: streams, exact frame rate (as a fraction), frame count, size, rotation, timecode.

PyAV reads the container in-process (imageio-ffmpeg ships no ffprobe). A frame rate stays a
``Fraction``: 30000/1001 is not 29.97, and rounding it drifts the audio by 3.6 s an hour.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from s2l_model.errors import InputError
from s2l_model.media.timecode import parse_timecode


@dataclass(frozen=True)
class VideoStreamInfo:
    index: int
    codec: str
    width: int  # as displayed, i.e. after the rotation is applied
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise from the display matrix (0, 90, 180, 270)
    fps: Fraction
    n_frames: int
    duration: float  # seconds
    timecode: str | None = None  # the source timecode of the first frame (SMPTE label), where tagged

    @property
    def frame_duration(self) -> float:
        return float(1 / self.fps)


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    duration: float  # seconds (0.0 where the container does not say)


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format_name: str
    duration: float  # container duration in seconds
    video: VideoStreamInfo | None
    audio: tuple[AudioStreamInfo, ...]

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (fractions as 'num/den' strings)."""
        out = asdict(self)
        out["path"] = str(self.path)
        if self.video is not None:
            out["video"]["fps"] = f"{self.video.fps.numerator}/{self.video.fps.denominator}"
            out["video"]["fps_float"] = float(self.video.fps)
        return out


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Fail with a clear message for the common ways an input file can be unusable."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.is_dir():
        raise InputError(f"expected a file, got a folder: {p}")
    if not os.access(p, os.R_OK):
        raise InputError(f"file is not readable (permissions): {p}")
    if p.stat().st_size == 0:
        raise InputError(f"file is empty (0 bytes): {p}")
    return p


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    if value is None or time_base is None:
        return 0.0
    return float(value * time_base)


def _video_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> VideoStreamInfo:
    ctx = stream.codec_context
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not fps or fps <= 0:
        raise InputError(f"cannot determine the frame rate of {container.name}")
    fps = Fraction(fps.numerator, fps.denominator)
    n_frames = int(stream.frames or 0)
    if n_frames <= 0:  # e.g. Matroska keeps no frame count: count packets (no decoding)
        n_frames = sum(1 for pkt in container.demux(stream) if pkt.size)
        container.seek(0)
    # Rotation lives in the display-matrix side data; PyAV exposes it on decoded frames.
    rotation = 0
    for frame in container.decode(stream):
        rotation = round(getattr(frame, "rotation", 0) or 0) % 360
        break
    width, height = ctx.width, ctx.height
    if rotation in (90, 270):
        width, height = height, width
    duration = _seconds(stream.duration, stream.time_base) or n_frames / float(fps)
    return VideoStreamInfo(
        index=stream.index,
        codec=ctx.name,
        width=width,
        height=height,
        coded_width=ctx.width,
        coded_height=ctx.height,
        rotation=rotation,
        fps=fps,
        n_frames=n_frames,
        duration=duration,
        timecode=_source_timecode(container, stream),
    )


def _source_timecode(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> str | None:
    """The ``timecode`` tag of the footage's first frame: MOV/MP4 put it on the video stream and on the
    ``tmcd`` data stream, Matroska (``TIMECODE``) and MXF on the container. A tag that is not a SMPTE
    label is ignored (it cannot place a time, and a probe should not fail over metadata)."""
    sources = [stream.metadata, *(s.metadata for s in container.streams.data), container.metadata]
    for metadata in sources:
        for key, value in metadata.items():
            if key.lower() != "timecode":
                continue
            try:
                return str(parse_timecode(value))
            except InputError:
                continue
    return None


def _audio_info(stream: av.audio.stream.AudioStream, container_duration: float) -> AudioStreamInfo:
    ctx = stream.codec_context
    return AudioStreamInfo(
        index=stream.index,
        codec=ctx.name,
        sample_rate=int(ctx.sample_rate),
        channels=len(ctx.layout.channels),
        duration=_seconds(stream.duration, stream.time_base) or container_duration,
    )


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe a media file, or raise InputError if it is not one ffmpeg can read."""
    p = check_input_file(path)
    try:
        container = av.open(str(p), mode="r")
    except av.FFmpegError as exc:
        raise InputError(f"not a video or audio file that ffmpeg can read: {p}") from exc
    try:
        duration = container.duration / av.time_base if container.duration else 0.0
        video_streams = [s for s in container.streams.video if s.codec_context.width > 0]
        # Cover art in audio files shows up as a one-frame video stream; it is not video.
        video_streams = [s for s in video_streams if not (s.disposition & av.stream.Disposition.attached_pic)]
        audio = tuple(_audio_info(s, duration) for s in container.streams.audio)
        try:
            video = _video_info(container, video_streams[0]) if video_streams else None
        except av.FFmpegError as exc:
            raise InputError(f"video stream cannot be decoded: {p} ({exc.strerror or exc})") from exc
        if video is None and not audio:
            raise InputError(f"no video or audio stream in {p}")
        return MediaInfo(
            path=p,
            format_name=container.format.name,
            duration=duration or (video.duration if video else 0.0),
            video=video,
            audio=audio,
        )
    finally:
        container.close()


def probe_video(path: str | os.PathLike[str]) -> MediaInfo:
    """Probe a file that must hold a video stream with at least one frame."""
    info = probe(path)
    if info.video is None:
        raise InputError(f"not a video (no video stream): {info.path}")
    if info.video.n_frames <= 0:
        raise InputError(f"video has no frames: {info.path}")
    return info


_NTSC = {
    "23.976": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "59.94": Fraction(60000, 1001),
    "47.952": Fraction(48000, 1001),
    "119.88": Fraction(120000, 1001),
}


def parse_fps(text: str) -> Fraction:
    """'25' → 25, '30000/1001' → 30000/1001, '29.97' → 30000/1001 (NTSC rates are exact)."""
    value = text.strip()
    try:
        if value in _NTSC:
            fps = _NTSC[value]
        elif "/" in value:
            num, den = value.split("/", 1)
            fps = Fraction(int(num), int(den))
        else:
            fps = Fraction(value).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"not a frame rate: {text!r} (use e.g. 25, 29.97 or 30000/1001)") from None
    if not 1 <= fps <= 240:
        raise InputError(f"frame rate out of range (1..240): {text!r}")
    return fps
