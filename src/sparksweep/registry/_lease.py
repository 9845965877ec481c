"""A lease on a registered model's aliases, so two sweeps that finish together cannot both crown a champion.

MLflow has no compare-and-set on aliases: setting ``@champion`` is a blind upsert, so two sweeps that each read the
same champion, each beat it and each set the alias would leave whichever wrote last, gated against a champion that
was no longer current. The one atomic operation every MLflow registry (SQL store or REST server) offers is
*creating a registered model*: a second create of the same name fails with ``RESOURCE_ALREADY_EXISTS``. The lease is
therefore a marker model ``<name>.sparksweep-lease``: whoever creates it holds the lease, reads the current champion,
gates, registers and moves the aliases, then deletes it. The others wait and then gate against the new champion.
In Unity Catalog (``databricks-uc``), where a name has exactly three levels, the marker is
``<catalog>.<schema>.<model>_sparksweep_lease`` beside the model.

A holder that dies leaves the marker behind; a marker older than ``stale_after`` seconds is taken to be abandoned and
deleted (its creation time is re-checked just before the delete, so a fresh lease is not broken by mistake), and the
error after ``wait`` seconds names the marker so a person can delete it.
"""

from __future__ import annotations

import os
import random
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sparksweep.errors import RegistryError
from sparksweep.spec import UC_LEASE_SUFFIX
from sparksweep.tracking import is_unity_catalog

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["LEASE_SUFFIX", "lease_name", "registry_lease"]

LEASE_SUFFIX = ".sparksweep-lease"
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")
"""The error codes of a registered model that does not exist (Unity Catalog's REST API may answer NOT_FOUND)."""


def lease_name(name: str, registry_uri: str | None = None) -> str:
    """The registered model that marks the lease on ``name`` in the registry ``registry_uri`` (None: one that is
    not Unity Catalog).

    Example:
        >>> lease_name("churn"), lease_name("main.ml.churn", "databricks-uc")
        ('churn.sparksweep-lease', 'main.ml.churn_sparksweep_lease')
    """
    return f"{name}{UC_LEASE_SUFFIX if is_unity_catalog(registry_uri) else LEASE_SUFFIX}"


def _created_at(client: MlflowClient, marker: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        return int(client.get_registered_model(marker).creation_timestamp or 0)
    except MlflowException as exc:
        if exc.error_code in _MISSING:
            return None
        raise


def _try_acquire(client: MlflowClient, marker: str, owner: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            marker,
            tags={"sparksweep.lease_owner": owner},
            description="sparksweep holds this while it moves the champion alias; delete it if it is left behind.",
        )
    except MlflowException as exc:
        # RESOURCE_DOES_NOT_EXIST: MLflow's SQL store answers a duplicate create by reading the existing model back,
        # and the holder released it in between; the lease was taken and freed, so this is a lost turn, not a fault.
        if exc.error_code in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS", *_MISSING):
            return False
        raise
    return True


def _break_if_stale(client: MlflowClient, marker: str, stale_after: float) -> None:
    from mlflow.exceptions import MlflowException

    created = _created_at(client, marker)
    if created is None or time.time() * 1000 - created < stale_after * 1000:
        return
    if _created_at(client, marker) != created:  # a new holder took it meanwhile
        return
    try:
        client.delete_registered_model(marker)
    except MlflowException as exc:
        if exc.error_code not in _MISSING:
            raise


@contextmanager
def registry_lease(
    client: MlflowClient,
    name: str,
    *,
    registry_uri: str | None = None,
    wait: float = 300.0,
    stale_after: float = 600.0,
) -> Iterator[str]:
    """Hold the lease on ``name``'s aliases for the duration of the block; ``registry_uri`` is ``client``'s registry
    (it decides the marker's name, :func:`lease_name`).

    Example:
        >>> with registry_lease(client, "churn-model", registry_uri=uri):  # doctest: +SKIP
        ...     ...  # read @champion, gate, set aliases
    """
    marker = lease_name(name, registry_uri)
    owner = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    deadline = time.monotonic() + wait
    delay = 0.05
    while not _try_acquire(client, marker, owner):
        _break_if_stale(client, marker, stale_after)
        if time.monotonic() > deadline:
            raise RegistryError(
                f"another process has held the registry lease of {name!r} for over {wait:.0f}s (the registered "
                f"model {marker!r}); if no sweep is registering {name!r} now, delete {marker!r} and retry"
            )
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 1.0)
    try:
        yield owner
    finally:
        _release(client, marker, name, stale_after)


def _release(client: MlflowClient, marker: str, name: str, stale_after: float) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model(marker)
    except MlflowException as exc:
        if exc.error_code not in _MISSING:
            raise
        warnings.warn(
            f"the registry lease of {name!r} was held for over {stale_after:.0f}s and another process took it as "
            f"abandoned; check `sparksweep champion history {name}` for overlapping changes",
            RuntimeWarning,
            stacklevel=3,
        )
