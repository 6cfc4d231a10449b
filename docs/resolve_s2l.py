"""Dub the current DaVinci Resolve timeline with s2l and import the result as a new timeline.

NOT RUN HERE: DaVinci Resolve is not available where s2l is developed and tested, so this script has never
been run. The API names follow Blackmagic's scripting README (as quoted in public copies of it): the
``DaVinciResolveScript`` module, ``scriptapp("Resolve")``, ``GetProjectManager()``, ``GetCurrentProject()``,
``GetCurrentTimeline()``, ``Timeline.Export(path, resolve.EXPORT_OTIO, resolve.EXPORT_NONE)`` (OTIO export
since Resolve 18.5; ``resolve.EXPORT_FCP_7_XML`` for older versions), ``GetMediaPool()``,
``MediaPool.ImportTimelineFromFile(path, {"timelineName": ..., "importSourceClips": ...})``,
``Project.SetCurrentTimeline(timeline)``. Not confirmed: the track names and clip metadata Resolve puts in
its OTIO export (the script therefore names the dub tracks and profiles on the command line, which needs
neither), and whether Resolve imports OTIO markers' comments.

Run it from Resolve's console (Workspace > Console, Py3) or from a shell with Resolve running and its
scripting environment set (RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB, PYTHONPATH; see the README). Edit the
settings below first. ``s2l`` must be on PATH (or set S2L to its full path).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

# --------------------------------------------------------------------------------------------- settings
S2L = "s2l"
RENDERS = Path.home() / "s2l_renders"  # every dubbed line goes here (OUTPUT/<clip name>.mp4)
DUB_TRACKS = "A2"  # the audio tracks holding the new lines (A1, A2, ... count from the bottom)
PROFILES = ["A2=/path/to/anna.prof"]  # --profile entries: TRACK=PROFILE, or one PROFILE for every line
USE_OTIO = True  # False: exchange FCP 7 XML instead (Resolve before 18.5)


def main() -> int:
    import DaVinciResolveScript as dvr  # Resolve's own module: only inside Resolve's scripting environment

    resolve = dvr.scriptapp("Resolve")
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project else None
    if timeline is None:
        print("s2l: open a project and a timeline first")
        return 2
    suffix, kind = (".otio", resolve.EXPORT_OTIO) if USE_OTIO else (".xml", resolve.EXPORT_FCP_7_XML)
    folder = Path(tempfile.mkdtemp(prefix="s2l-resolve-"))
    source = folder / f"{timeline.GetName()}{suffix}"
    dubbed = folder / f"{timeline.GetName()} dubbed{suffix}"
    if not timeline.Export(str(source), kind, resolve.EXPORT_NONE):
        print(f"s2l: Resolve could not export the timeline to {source}")
        return 1
    RENDERS.mkdir(parents=True, exist_ok=True)
    command = [S2L, "batch", str(source), "-o", str(RENDERS), "--dub-tracks", DUB_TRACKS,
               "--timeline-out", str(dubbed)]  # fmt: skip
    for entry in PROFILES:
        command += ["--profile", entry]
    print("s2l: running", " ".join(command))
    done = subprocess.run(command)  # s2l prints its progress and problems itself
    if done.returncode == 2 or not dubbed.is_file():  # 2: the timeline has problems; nothing ran
        print("s2l: nothing was dubbed (see the messages above)")
        return 2
    new = project.GetMediaPool().ImportTimelineFromFile(
        str(dubbed), {"timelineName": f"{timeline.GetName()} (s2l)", "importSourceClips": True}
    )
    if not new:
        print(f"s2l: Resolve could not import {dubbed}")
        return 1
    project.SetCurrentTimeline(new)
    print(f"s2l: imported {new.GetName()}" + ("; some lines failed: red markers" if done.returncode else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
