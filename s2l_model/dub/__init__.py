"""`dub`: make a profile's speaker say any speech (speech stream → background → composition → video).

The pipeline (and torch with it) loads on first use of ``dub``, ``DubOptions`` or ``DubResult``: the light
modules of this package (``clock``, ``background``) serve a timeline's validation without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s2l_model.dub.pipeline import DubOptions, DubResult, dub

__all__ = ["DubOptions", "DubResult", "dub"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from s2l_model.dub import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
