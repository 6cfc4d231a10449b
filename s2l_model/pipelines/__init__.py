"""Pipelines: the library calls that run a whole job (build a profile, evaluate one, re-voice subtitles)."""
