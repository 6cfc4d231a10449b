"""The loop's dissolve: aligned for two framings of one shot (one head, not two), plain otherwise."""

from __future__ import annotations

import cv2
import numpy as np

from s2l_model.dub.dissolve import align, dissolve

SIZE = (320, 240)  # width, height


def _scene(seed: int = 0) -> np.ndarray:
    """A textured picture with a bright disc (a "head") off centre: something a misaligned mix doubles."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (30, 40, 3)).astype(np.float32)
    noise = cv2.resize(coarse, SIZE, interpolation=cv2.INTER_CUBIC)
    picture = np.clip(0.6 * noise + 40, 0, 255).astype(np.uint8)
    cv2.circle(picture, (190, 110), 45, (235, 200, 170), -1)
    return cv2.GaussianBlur(picture, (3, 3), 0)


def _zoomed(image: np.ndarray, scale: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """``image`` punched in by ``scale`` about its centre and moved by ``shift``, and the (3, 3) map of its
    pixels into the result."""
    width, height = SIZE
    forward = np.array(
        [
            [scale, 0, (1 - scale) * width / 2 + shift[0]],
            [0, scale, (1 - scale) * height / 2 + shift[1]],
            [0, 0, 1],
        ]
    )
    moved = cv2.warpAffine(image, forward[:2], SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return moved, forward


def _error(a: np.ndarray, b: np.ndarray) -> float:
    margin = 30  # the replicated borders differ by construction
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[margin:-margin, margin:-margin].mean())


def test_a_reframe_is_found_and_mixed_as_one_picture() -> None:
    frame = _scene()
    other, forward = _zoomed(frame, 1.08, (6.0, -4.0))
    warp = align(frame, other)
    assert warp is not None
    # other(W x) = frame(x): W is the reframe's own map, to a fraction of a pixel over the picture
    points = np.array([[60.0, 50.0, 1.0], [260.0, 50.0, 1.0], [160.0, 200.0, 1.0]])
    assert np.abs(points @ warp.T - points @ forward[:2].T).max() < 0.5

    halfway, _ = _zoomed(frame, 1.04, (3.0, -2.0))  # the framing halfway between the two
    aligned = dissolve(frame, other, 0.5, warp)
    plain = dissolve(frame, other, 0.5)
    assert _error(aligned, halfway) < 0.4 * _error(plain, halfway)  # one disc, where a plain mix has two
    # at the ends the dissolve is each run's own frame, untouched: no step into or out of it
    assert np.array_equal(dissolve(frame, other, 1.0, warp), other)
    assert np.array_equal(dissolve(frame, other, 0.0, warp), frame)


def test_other_shots_and_aligned_frames_stay_a_plain_mix() -> None:
    frame = _scene(0)
    assert align(frame, _scene(1)) is None  # another picture: no warp may pretend to join them
    brighter = np.clip(frame.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    assert align(frame, brighter) is None  # the same framing: nothing to move, nothing resampled
    far, _ = _zoomed(frame, 1.6, (0.0, 0.0))
    assert align(frame, far) is None  # no reframe: a different shot


def test_a_pair_the_alignment_misses_keeps_its_neighbours_map() -> None:
    """Inside an aligned wrap a pair ECC cannot fit (here: another picture) keeps the map of the pair
    before it, so no frame of the wrap flips between warped and plain; without a neighbour it stays plain."""
    frame = _scene()
    other, _ = _zoomed(frame, 1.08, (6.0, -4.0))
    previous = align(frame, other)
    assert previous is not None
    again = align(frame, other, initial=previous)  # a warm start finds the same map
    assert again is not None and np.abs(again - previous).max() < 0.05
    assert align(frame, _scene(1), initial=previous) is previous
    assert align(frame, _scene(1)) is None
