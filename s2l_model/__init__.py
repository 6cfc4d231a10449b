"""s2l model library: everything except the command line.

Stages, each a subpackage with a small typed interface that knows nothing of the stages after it, from the
bottom up (a package imports only from the lines above its own; ``tests/test_architecture.py`` checks it):

    errors, device, configs, progress   one-line user errors, the device chooser, the TOML-to-dataclass
                                        builder, progress-callback shapes
    media      probe, decode, encode, speech loading (video in, video out)
    sample     the built-in synthetic talking head (known ground truth for demos and tests)
    geometry   camera, head poses, relative poses, crop placement, GAMEM mappings, mouth box, mesh topology
    tracking   face mesh per frame, the one pose-track fit, zero-lag filtering (video → tracks)
    metrics    the paper's metrics as functions (PSNR, SSIM, ST-LPIPS, CPBD, LMD, sync, SyncNet LSE)
    prepare    tracking + canonical geometry into a work folder (``WorkFolder`` names its paths)
    features   per-frame log-mel speech windows at any frame rate; speech activity
    dataset    prepared video → training set; the held-out split; typed training batches
    fields     the implicit lip field F(x, a, t) and the learned canonical depth
    models     the whole speaker model (composition, Blend-Net, sync expert), its config and its losses
    engine     presets and the training loop (stages, schedule, checkpoints, resume)
    profile    the .prof container, its typed manifest, a loaded profile
    render     generated lips composed into footage frames; the one batched render loop
    evaluate   a prediction against its truth, the held-out protocol, reports
    dub        ``s2l dub``: speech streaming, background schedule, --video footage, re-voicing in events
    tts        offline voices for text-only subtitles (the ``tts`` extra)
    batch      timelines and subtitle events, the job function, local and Ray executors, the runner
    pipelines  whole jobs in one call: build a profile, evaluate it, re-voice subtitles
"""

__version__ = "0.1.0"
