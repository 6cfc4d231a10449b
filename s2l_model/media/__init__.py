"""Media I/O: probe, stream-decode and encode video; load speech.

Decoding and encoding run the ffmpeg binary in a child process (imageio-ffmpeg's, or ``S2L_FFMPEG``),
so decode, model and encode use separate cores; probing uses PyAV in-process. ``timecode`` turns the times
a user writes (seconds, clock times, SMPTE timecode) into footage frames.
"""

from s2l_model.media.atomic import atomic_output, check_output_path
from s2l_model.media.audio import (
    SPEECH_SAMPLE_RATE,
    Speech,
    decode_speech,
    estimate_offset,
    load_speech,
    write_wav,
)
from s2l_model.media.ffmpeg import ffmpeg_exe
from s2l_model.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, parse_fps, probe, probe_video
from s2l_model.media.timecode import (
    Timecode,
    TimeSpec,
    format_timecode,
    nominal_rate,
    parse_time,
    parse_timecode,
    timecode_frames,
)
from s2l_model.media.video import (
    CODECS,
    Codec,
    VideoWriter,
    codec_for_path,
    iter_frames,
    reencode,
    seek_seconds,
    suffix_for,
)

__all__ = [
    "CODECS",
    "SPEECH_SAMPLE_RATE",
    "AudioStreamInfo",
    "Codec",
    "MediaInfo",
    "Speech",
    "TimeSpec",
    "Timecode",
    "VideoStreamInfo",
    "VideoWriter",
    "atomic_output",
    "check_output_path",
    "codec_for_path",
    "decode_speech",
    "estimate_offset",
    "ffmpeg_exe",
    "format_timecode",
    "iter_frames",
    "load_speech",
    "nominal_rate",
    "parse_fps",
    "parse_time",
    "parse_timecode",
    "probe",
    "probe_video",
    "reencode",
    "seek_seconds",
    "suffix_for",
    "timecode_frames",
    "write_wav",
]
