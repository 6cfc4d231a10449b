"""The executors by name, as ``s2l batch --executor`` names them: ``local`` (a process pool on this
machine) or ``ray`` (Ray tasks on a cluster, or on a Ray instance started here)."""

from __future__ import annotations

from s2l_model.batch.jobs import Executor
from s2l_model.batch.local import LocalPool
from s2l_model.batch.ray_executor import RayCluster


def make_executor(name: str, *, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor called ``name``. ``workers``: the jobs run at once (local default 1; Ray default: as
    many as the cluster fits). ``address``, for Ray only: the cluster (None: ``RAY_ADDRESS`` if set, else
    a local instance)."""
    if name == "local":
        return LocalPool(workers or 1)
    if name == "ray":
        return RayCluster(workers, address)
    raise ValueError(f"unknown executor {name!r}")
