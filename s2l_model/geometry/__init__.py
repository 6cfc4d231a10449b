"""Head geometry: camera, rigid poses, and the GAMEM mappings between canonical and observed views."""

from s2l_model.geometry.camera import PinholeCamera, pixel_grid
from s2l_model.geometry.pose import Pose, relative_pose, relative_poses, rotation_from_euler, umeyama
from s2l_model.geometry.warp import (
    backward_warp,
    c2o_grid,
    correspondence_grid,
    forward_splat,
    o2c_grid,
    render_depth,
)

__all__ = [
    "PinholeCamera",
    "Pose",
    "backward_warp",
    "c2o_grid",
    "correspondence_grid",
    "forward_splat",
    "o2c_grid",
    "pixel_grid",
    "relative_pose",
    "relative_poses",
    "render_depth",
    "rotation_from_euler",
    "umeyama",
]
