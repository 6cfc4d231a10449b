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
    TaskID,
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


class _Board:
    """The one live progress display of a command: every stage's bar is a task on it.

    Bars stay on screen while the command runs (so a user sees what was done) and are kept when it succeeds
    (``keep``, called when the result is printed), but all of them are erased when it fails (``discard``,
    called by the app before it prints the error): an error is then the one line left, never the last line
    under a stack of finished bars."""

    COLUMNS = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def add(self, name: str, total: int | None) -> TaskID:
        if self.progress is None:
            self.progress = Progress(*self.COLUMNS, console=stderr, transient=False)
            self.progress.start()
        return self.progress.add_task(name, total=total)

    def update(self, task: TaskID, **fields: Any) -> None:
        assert self.progress is not None
        self.progress.update(task, **fields)

    def keep(self) -> None:
        """Stop the display, leaving the bars as they are."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def discard(self) -> None:
        """Stop the display and erase every bar (a file or pipe receives none of them)."""
        if self.progress is not None:
            self.progress.live.transient = True
            self.progress.stop()
            self.progress = None


_board = _Board()


def discard_progress() -> None:
    """Erase every progress bar the command drew: it failed, and its error must be the only line left."""
    _board.discard()


def keep_progress() -> None:
    """Stop the progress display, keeping its finished bars above what comes next."""
    _board.keep()


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
        # The bar appears on the first update, so a job that fails its checks draws no empty bar.
        task: TaskID | None = None

        def update(done: int, total_now: int | None = total, **extra: Any) -> None:
            nonlocal task
            if task is None:
                task = _board.add(name, total_now)
            # extra figures (a loss, a held-out PSNR) ride along in the bar's description
            label = " ".join([name, *(f"{k} {v}" for k, v in extra.items())])
            _board.update(task, completed=done, total=total_now, description=label)

        try:
            yield update
        except BaseException:
            _board.discard()  # a failed stage leaves only its one-line error behind
            raise

    @contextmanager
    def stages(self) -> Iterator[Callable[..., None]]:
        """A library ``on_stage(name, done, total)`` callback: one bar per stage, a new one each time the
        stage changes (the earlier ones stay, finished, until the command ends)."""
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
            keep_progress()
            stderr.print(message)
