"""Running batch jobs as Ray tasks, for users who outgrow one machine (``pip install 's2l[ray]'``).

The same job functions as the local pool (``jobs.JobFn``: a timeline's dub, a subtitle re-voicing) run as
Ray tasks, so a job gives the same output wherever it runs. Each task asks for one GPU where the cluster has
GPUs (and the device allows), or an equal share of the CPUs otherwise; ``workers`` caps the jobs in flight
(None: every job at once, Ray queues what does not fit). Ray reuses its worker processes, so a profile is
loaded once per worker there too. Progress events come back through a Ray queue.

On a cluster every node must have s2l installed and see the same paths (inputs and the output folder on
shared storage): the jobs read and write files by path, exactly as on one machine.
"""

from __future__ import annotations

import collections
import logging
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from s2l_model.batch.jobs import EventFn, EventQueue, J, JobFn, Outcome, R, drain, error_line, set_threads
from s2l_model.errors import InputError

INSTALL_HINT = "pip install 's2l[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """InputError unless ``address`` (``host:port`` or ``ray://host:port``; ``auto`` is not checked) accepts
    a connection: Ray itself retries an unreachable cluster for minutes, printing warnings."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise InputError(f"--address {address!r}: expected host:port, ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def task_resources(resources: dict[str, float], node_cpus: float, device: str, in_flight: int) -> dict:
    """What one job asks of the cluster: ``{"num_cpus": c, "num_gpus": g}``.

    ``resources`` is the cluster's total, ``node_cpus`` the most CPUs of any one node (a task must fit on
    one node). A GPU per task where the cluster has any and ``device`` is not "cpu"; otherwise the CPUs
    shared equally among the jobs in flight (at least one, at most a node's)."""
    gpus = resources.get("GPU", 0.0)
    if device == "cuda" and gpus < 1:
        raise InputError("--device cuda: the Ray cluster has no GPU")
    if device != "cpu" and gpus >= 1:
        return {"num_cpus": 1, "num_gpus": 1}
    share = int(resources.get("CPU", 1.0) // max(1, in_flight))
    return {"num_cpus": max(1, min(share, int(node_cpus))), "num_gpus": 0}


def _task(run: JobFn[J, R], job: J, device: str, events: EventQueue, threads: int) -> R:
    """One job inside a Ray worker: the job function with the task's CPU share as torch threads."""
    set_threads(threads)
    return run(job, device, events)


@dataclass(frozen=True)
class RayCluster:
    """An executor (``jobs.Executor``): Ray tasks on the cluster at ``address`` (None: ``RAY_ADDRESS`` if
    set, else a new local Ray instance, stopped at the end), at most ``workers`` in flight (None: all)."""

    workers: int | None = None
    address: str | None = None

    def __call__(
        self, jobs: Sequence[J], run: JobFn[J, R], device: str, emit: EventFn
    ) -> Iterator[tuple[J, Outcome[R]]]:
        """Run ``run`` on each of ``jobs`` as a Ray task; yield each job with its outcome as it finishes."""
        ray = _import_ray()
        from ray.util.queue import Queue

        started_here = not ray.is_initialized()
        if started_here:
            _init(ray, self.address)
        try:
            in_flight = max(1, min(self.workers or len(jobs), len(jobs)))
            node_cpus = max(
                (n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=1.0
            )
            resources = task_resources(ray.cluster_resources(), node_cpus, device, in_flight)
            task_device = "cuda" if resources["num_gpus"] else "cpu"
            remote = ray.remote(_task).options(max_retries=0, **resources)
            events = Queue()
            waiting = collections.deque(jobs)
            running: dict[Any, J] = {}

            def submit() -> None:
                job = waiting.popleft()
                running[remote.remote(run, job, task_device, events, resources["num_cpus"])] = job

            while waiting and len(running) < in_flight:
                submit()
            while running:
                drain(events, emit)
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
                for ref in ready:
                    job = running.pop(ref)
                    outcome: Outcome[R]
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # the job's own failure, raised in the task
                        outcome = error_line(getattr(exc, "cause", None) or exc)
                    except ray.exceptions.RayError as exc:  # the worker or its node died
                        outcome = f"the Ray worker died: {error_line(exc)}"
                    drain(events, emit)
                    yield job, outcome
                    if waiting:
                        submit()
            drain(events, emit)
        finally:
            if started_here:
                ray.shutdown()


def _init(ray: Any, address: str | None) -> None:
    """Connect to the cluster at ``address``, or start a local Ray instance (None); InputError if neither."""
    if address:
        check_reachable(address)
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,  # stdout belongs to --json events
            logging_level=logging.ERROR,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "Ray"
        raise InputError(f"cannot start or reach {where}: {error_line(exc)}") from None
