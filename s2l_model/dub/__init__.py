"""`dub`: make a profile's speaker say any speech (speech stream → background → composition → video)."""

from s2l_model.dub.pipeline import DubOptions, DubResult, dub

__all__ = ["DubOptions", "DubResult", "dub"]
