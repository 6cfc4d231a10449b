"""Shared fixtures: real development data (skipped with a reason where absent) and generated media."""

from __future__ import annotations

import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock  # a dependency of torch

os.environ.setdefault("GLOG_minloglevel", "2")

#: Under pytest-xdist (``make test`` runs two workers) two torch thread pools share the cores: idle threads
#: sleep instead of spinning. The thread counts stay torch's own, so outputs match a serial run's byte for
#: byte (float sums follow the thread count). Set before anything imports torch, which reads it once.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from s2l_model.media import Speech, VideoWriter, write_wav
from s2l_model.sample import SampleConfig, SampleOutputs, make_sample_speaker

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


#: The fixture of the one long training: the first test file that uses it builds it, the others reuse it.
TRAINED_FIXTURE = "trained_sample_profile"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``: ``--dist loadfile``, whole files to a worker, in this order): the
    first file that uses the long-trained profile goes first, so one worker trains it while the other runs
    unrelated files, and the other files that use it go last, when it is long built (``built_once``). Files
    keep their order otherwise. (xdist's ``loadgroup`` would say this directly, but xdist 3.8 cannot tag
    pytest 9's node ids, so its groups are silently ignored.)"""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    files = [item.nodeid.split("::")[0] for item in items]
    users = [f for f, item in zip(files, items, strict=True) if TRAINED_FIXTURE in item.fixturenames]
    if not users:
        return
    rank = {users[0]: 0, **{f: 2 for f in users[1:] if f != users[0]}}
    order = {id(item): rank.get(f, 1) for f, item in zip(files, items, strict=True)}
    items.sort(key=lambda item: order[id(item)])  # stable: within a rank, collection order


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` run once for the whole test run, whatever the number of xdist workers: under a
    lock in the folder all workers share, each later worker finds the result (``build`` returns a path that
    only exists once it is complete, like a profile, which is written atomically)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base
    folder = shared / name
    record = shared / f"{name}.built"
    with FileLock(str(shared / f"{name}.lock")):
        if record.is_file() and Path(record.read_text()).exists():
            return Path(record.read_text())
        folder.mkdir(exist_ok=True)
        result = build(folder)
        record.write_text(str(result))
    return result


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test saying what is missing."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"development data not available: {path} (tests on real footage need ../shared/data)")
    return path


@pytest.fixture(scope="session")
def cnn_anchor() -> Path:
    return shared_file("speakers/cnn_anchor_71s.mp4")


@pytest.fixture(scope="session")
def may_clip() -> Path:
    return shared_file("speakers/may_5s.mp4")


@pytest.fixture(scope="session")
def german_clip() -> Path:
    return shared_file("speech/german_clip.wav")


def pattern_frame(k: int, width: int, height: int) -> np.ndarray:
    """A deterministic, frame-unique test picture (gradients + a moving block + the index in binary)."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)), np.full_like(x, (k * 37) % 256)],
        axis=-1,
    ).astype(np.uint8)
    bx = (k * 7) % max(1, width - 16)
    frame[8:24, bx : bx + 16] = 255
    for bit in range(12):  # frame index as 12 black/white squares along the bottom
        frame[height - 8 : height, bit * 8 : bit * 8 + 8] = 255 if (k >> bit) & 1 else 0
    return frame


@pytest.fixture(scope="session")
def make_video(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Write a synthetic video: make_video(name, n_frames, fps, size=(w, h), codec, audio=Speech|None)."""

    def _make(
        name: str,
        n_frames: int,
        fps: Fraction,
        size: tuple[int, int] = (96, 64),
        codec: str = "h264",
        audio: Speech | None = None,
    ) -> Path:
        path = tmp_path_factory.mktemp("videos") / name
        with VideoWriter(
            path, fps=fps, size=size, codec=codec, audio=audio, n_frames=n_frames, preset="ultrafast"
        ) as w:
            for k in range(n_frames):
                w.write(pattern_frame(k, *size))
        return path

    return _make


@pytest.fixture(scope="session")
def sample_speaker(tmp_path_factory: pytest.TempPathFactory) -> SampleOutputs:
    """A short built-in sample speaker (8 s, 25 fps, still head), made once per session."""
    folder = tmp_path_factory.mktemp("sample")
    return make_sample_speaker(folder, SampleConfig(seconds=8.0, seed=3))


@pytest.fixture(scope="session")
def prepared_sample(sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory):
    """The sample speaker run through `prepare` once per session."""
    from s2l_model.prepare.pipeline import prepare_video

    return prepare_video(sample_speaker.video, tmp_path_factory.mktemp("prepared_sample"))


#: Tests train by steps, never by the clock: ``budget_minutes`` is far beyond what their steps take, so a
#: slow or busy machine trains the same model (same seed, same steps), only later.
NO_TIME_LIMIT = "budget_minutes = 600.0"

#: A preset that trains in seconds: for tests of the pipeline around the model, not of its quality.
TINY_PRESET = f"""extends = "fast"
[model]
lip_width = 32
mlp_depth = 2
mlp_width = 32
blend_channels = 4
sync_dim = 16
sync_width = 24
[train]
steps = 12
batch_frames = 2
sync_expert_steps = 6
sync_expert_batch = 8
sync_start = 0.5
sync_loss = true
sync_batch = 2
mouth_steps = 10
mouth_batch = 4
mouth_augment = false
{NO_TIME_LIMIT}
checkpoint_seconds = 0.0
heldout_every_seconds = 0.0
"""


def build_profile_cli(video: Path, folder: Path, preset: str, *extra: str) -> Path:
    """``s2l profile build`` in a subprocess (``preset``: a preset name or TOML text); the profile's path."""
    from tests.support import run_s2l

    if "\n" in preset:
        (folder / "preset.toml").write_text(preset)
        preset = str(folder / "preset.toml")
    out = folder / "speaker.prof"
    # A fixed number of steps, never a clock: the timeout only catches a hang (the 300-step build takes
    # 3-5 min on 2 cores; twice as slow a machine must still pass).
    proc = run_s2l("profile", "build", str(video), "-o", str(out), "--preset", preset, *extra, timeout=1800)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return out


@pytest.fixture(scope="session")
def tiny_profile(sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny profile of the sample speaker (untrained lips; for geometry, timing and I/O tests)."""
    return built_once(
        tmp_path_factory,
        "tiny_profile",
        lambda folder: build_profile_cli(sample_speaker.video, folder, TINY_PRESET, "--no-eval"),
    )


#: Enough training for the sample speaker's mouth to follow speech (see BENCHMARKS.md "Dub"): a fixed number
#: of steps (about 3.5 min on 2 cores), so every machine gets this same model. Short, because CI has 30
#: minutes: the mouth stage hears no augmented copies (the tests dub the sample's own synthetic voice) and
#: the sync expert, which only scores sync here, trains 100 steps; the perceptual terms come every 4th step
#: (together about 45 s less). 150 lip-field steps were too few: the young Blend-Net smooths the jaw (jaw
#: seam ratio 0.89).
SYNC_PRESET = f"""extends = "fast"
[train]
steps = 300
sync_expert_steps = 100
perceptual_every = 4
mouth_steps = 600
mouth_augment = false
{NO_TIME_LIMIT}
"""


@pytest.fixture(scope="session")
def trained_sample_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile trained long enough on a 16 s sample speaker for its lips to follow new speech."""

    def build(folder: Path) -> Path:
        sample = make_sample_speaker(folder, SampleConfig(seconds=16.0, seed=4))
        return build_profile_cli(sample.video, folder, SYNC_PRESET, "--no-eval")

    return built_once(tmp_path_factory, "trained_profile", build)


@pytest.fixture(scope="module")
def job_folder(tiny_profile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny profile and three short speech files, as a batch timeline references them."""
    folder = tmp_path_factory.mktemp("timeline")
    (folder / "speaker.prof").symlink_to(tiny_profile)
    rng = np.random.default_rng(0)
    for k in range(3):
        samples = (0.1 * rng.standard_normal(int(16000 * (0.6 + 0.2 * k)))).astype(np.float32)
        write_wav(folder / f"line{k}.wav", Speech(samples, 16000))
    return folder
