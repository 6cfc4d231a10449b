"""The shapes of the progress callbacks that long stages take (the CLI turns them into bars or JSON lines)."""

from __future__ import annotations

from collections.abc import Callable

#: (stage name, done, total): a job of several stages reports each by name.
StageFn = Callable[[str, int, int], None]

#: (done, total): one stage reports its own count.
CountFn = Callable[[int, int], None]
