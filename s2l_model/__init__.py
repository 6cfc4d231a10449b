"""s2l model library: everything except the command line.

Stages, each a subpackage with a small typed interface that knows nothing of the stages after it:

    media     probe, decode, encode, speech loading (video in, video out)
    sample    the built-in synthetic talking head (known ground truth for demos and tests)
    geometry  camera, head poses, GAMEM mappings between canonical and observed views
    features  per-frame log-mel speech windows at any frame rate
"""

__version__ = "0.1.0"
