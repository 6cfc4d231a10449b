"""Named landmark sets of mediapipe's 478-point face mesh (canonical topology + 10 iris points).

Index sets come from the connection tables that mediapipe ships, so they follow the model's own
definition of lips, eyes and face oval rather than numbers typed by hand.
"""

from __future__ import annotations

import functools

import numpy as np

N_LANDMARKS = 478

# Single points used for measurements (mediapipe canonical-face indices).
UPPER_LIP_INNER_MID, LOWER_LIP_INNER_MID = 13, 14
MOUTH_LEFT, MOUTH_RIGHT = 61, 291  # outer lip corners
CHIN, FOREHEAD, NOSE_TIP, SUBNASALE = 152, 10, 1, 2
EYE_CORNERS = (33, 133, 362, 263)  # right-outer, right-inner, left-inner, left-outer (subject's sides)
NOSE_POINTS = (1, 4, 5, 6, 168, 197, 195)  # tip and bridge: rigid with the skull


def _points(connections: frozenset[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(sorted({i for edge in connections for i in edge}))


@functools.cache
def _tables() -> dict[str, tuple[int, ...]]:
    from mediapipe.python.solutions import face_mesh_connections as fmc

    return {
        "lips": _points(fmc.FACEMESH_LIPS),
        "left_eye": _points(fmc.FACEMESH_LEFT_EYE),
        "right_eye": _points(fmc.FACEMESH_RIGHT_EYE),
        "left_eyebrow": _points(fmc.FACEMESH_LEFT_EYEBROW),
        "right_eyebrow": _points(fmc.FACEMESH_RIGHT_EYEBROW),
        "irises": _points(fmc.FACEMESH_IRISES),
        "face_oval": _points(fmc.FACEMESH_FACE_OVAL),
    }


def landmark_set(name: str) -> tuple[int, ...]:
    """Indices of a named part: lips, left_eye, right_eye, left_eyebrow, right_eyebrow, irises, face_oval."""
    return _tables()[name]


@functools.cache
def mesh_triangles() -> np.ndarray:
    """(T, 3) triangles of the face mesh: the 3-cliques of mediapipe's tessellation edges.

    mediapipe ships the tessellation as edges only; in a triangulated surface every face is a 3-cycle,
    so the cliques give the triangles back (a few extra cycles, if any, lie on the surface as well).
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = {
        tuple(sorted((a, b, c)))
        for a, near in neighbours.items()
        for b in near
        if b > a
        for c in near & neighbours[b]
        if c > b
    }
    return np.array(sorted(triangles), dtype=np.int64)


def stable_indices(reference: np.ndarray) -> np.ndarray:
    """Landmarks that move with the skull but not with speech, blinks or brows.

    A geometric rule on one reference shape (478x2 or x3 pixels, any head roll): points above the base
    of the nose once the eye line is levelled, minus eyelids, irises and eyebrows, plus the eye corners.
    Lips and jaw never qualify, so a rigid fit on these points ignores the mouth.
    """
    ref = np.asarray(reference, dtype=np.float64)[:, :2]
    right_eye, left_eye = ref[[33, 133]].mean(axis=0), ref[[362, 263]].mean(axis=0)
    dx, dy = left_eye - right_eye
    angle = np.arctan2(dy, dx)
    c, s = np.cos(-angle), np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    levelled = (ref - right_eye) @ rot.T
    above_nose_base = levelled[:, 1] < levelled[SUBNASALE, 1]
    excluded = set(landmark_set("left_eye")) | set(landmark_set("right_eye")) | set(landmark_set("irises"))
    excluded |= set(landmark_set("left_eyebrow")) | set(landmark_set("right_eyebrow"))
    excluded |= set(range(468, N_LANDMARKS))
    excluded |= set(landmark_set("lips"))  # below the nose on any real face; excluded by name as well
    keep = [i for i in range(N_LANDMARKS) if above_nose_base[i] and i not in excluded]
    return np.array(sorted(set(keep) | set(EYE_CORNERS)), dtype=np.int64)
