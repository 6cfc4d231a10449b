"""s2l model library: everything except the command line.

Stages, each a subpackage with a small typed interface that knows nothing of the stages after it:

    media     probe, decode, encode, speech loading (video in, video out)
    sample    the built-in synthetic talking head (known ground truth for demos and tests)
    geometry  camera, head poses, GAMEM mappings between canonical and observed views
    tracking  face mesh per frame, head pose, zero-lag filtering (video → tracks)
    prepare   tracking + canonical geometry into a work folder
    features  per-frame log-mel speech windows at any frame rate
    metrics   the paper's metrics as functions (PSNR, SSIM, ST-LPIPS, CPBD, LMD, sync)
    evaluate  a prediction against its truth, the held-out protocol, reports
"""

__version__ = "0.1.0"
