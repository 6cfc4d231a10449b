"""The s2l command line: parsing, printing and exit codes only (the work is in s2l_model)."""

import os

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. The ffmpeg decoder and encoder
# (and mediapipe) share the cores with torch; spinning threads starve them, and torch's own threads then
# wait on descheduled peers at every operation: `s2l dub` ran 6x slower on 2 cores with the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
