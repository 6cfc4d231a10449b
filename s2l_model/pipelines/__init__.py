"""The top layer: each module is one call that runs a whole job through the stages below it, and returns a
result dataclass (a library user's one line; the CLI commands only parse options, call it and print).

    build      video → profile: prepare, training set, training, the held-out check, the .prof
    evaluate   the held-out protocol on a profile (its footage's last frames, from their own speech)
    subtitles  subtitles + casting + dub track or offline voices → a re-voiced video
"""
