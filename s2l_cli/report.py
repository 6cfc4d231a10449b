"""Talking to the user: rich progress on stderr, or JSON-lines events on stdout with --json."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


def emit(event: str, **fields: Any) -> None:
    """One JSON-lines event on stdout."""
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


class Reporter:
    """Progress and results for one command, in the form the user asked for."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode

    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Any]:
        """A progress bar (or throttled JSON progress events); yields ``update(done, total)``."""
        if self.json_mode:
            last = [0.0]

            def update(done: int, total_now: int | None = total, **extra: Any) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.5 or (total_now and done >= total_now):
                    last[0] = now
                    emit("progress", stage=name, done=done, total=total_now, **extra)

            yield update
            return
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        # The bar appears on the first update, so a job that fails its checks draws no empty bar.
        progress: Progress | None = None
        task = None

        def update(done: int, total_now: int | None = total, **extra: Any) -> None:
            nonlocal progress, task
            if progress is None:
                progress = Progress(*columns, console=stderr, transient=False)
                progress.start()
                task = progress.add_task(name, total=total_now)
            # extra figures (a loss, a held-out PSNR) ride along in the bar's description
            label = " ".join([name, *(f"{k} {v}" for k, v in extra.items())])
            progress.update(task, completed=done, total=total_now, description=label)

        try:
            yield update
        except BaseException:
            if progress is not None:  # a failed stage leaves only its one-line error behind
                progress.live.transient = True
                progress.stop()
            raise
        if progress is not None:
            progress.stop()

    @contextmanager
    def stages(self) -> Iterator[Callable[..., None]]:
        """A library ``on_stage(name, done, total)`` callback: one bar per stage, each closed when the next
        one starts (and all of them when the block ends)."""
        with contextlib.ExitStack() as stack:
            current: dict[str, Any] = {"name": None, "update": None}

            def on_stage(name: str, done: int, total: int, **extra: Any) -> None:
                if current["name"] != name:
                    stack.close()
                    current["name"] = name
                    current["update"] = stack.enter_context(self.stage(name, total))
                current["update"](done, total, **extra)

            yield on_stage

    def result(self, message: str, **fields: Any) -> None:
        if self.json_mode:
            emit("result", **fields)
        else:
            stderr.print(message)
