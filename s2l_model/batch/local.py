"""Running jobs in a pool of local processes.

- Each job runs in a worker process (one failing, or crashing, never stops the others); a worker keeps
  what its job function caches (the timeline's dub job keeps the profiles it has loaded).
- Workers share the cores: each gets ``cores // workers`` torch threads.
- Events reach ``emit`` in the calling process, from a queue the workers write to.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from s2l_model.batch.jobs import EventFn, J, JobFn, Outcome, R, drain, error_line, set_threads


@dataclass(frozen=True)
class LocalPool:
    """An executor (``jobs.Executor``): ``workers`` local processes, at most one per job."""

    workers: int = 1

    def __call__(
        self, jobs: Sequence[J], run: JobFn[J, R], device: str, emit: EventFn
    ) -> Iterator[tuple[J, Outcome[R]]]:
        """Run ``run`` on each of ``jobs`` in the pool; yield each job with its outcome as it finishes."""
        workers = max(1, min(self.workers, len(jobs)))
        threads = max(1, (os.cpu_count() or 1) // workers)
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
        with context.Manager() as manager:
            events = manager.Queue()
            with cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=set_threads, initargs=(threads,)
            ) as pool:
                futures = {pool.submit(run, job, device, events): job for job in jobs}
                remaining = set(futures)
                while remaining:
                    drain(events, emit)
                    finished, remaining = cf.wait(remaining, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                    for future in finished:
                        drain(events, emit)
                        outcome: Outcome[R]
                        try:
                            outcome = future.result()
                        except cf.process.BrokenProcessPool:
                            outcome = "the worker process died (out of memory or killed)"
                        except Exception as exc:  # the job's own failure
                            outcome = error_line(exc)
                        yield futures[future], outcome
                drain(events, emit)
