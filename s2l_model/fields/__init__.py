"""The learned functions: the implicit lip generator F(x, a, t) and the canonical depth map."""

from s2l_model.fields.depth import CanonicalDepthField
from s2l_model.fields.lip import LipField, continuous_samples, grid_queries

__all__ = ["CanonicalDepthField", "LipField", "continuous_samples", "grid_queries"]
