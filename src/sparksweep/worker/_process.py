"""What a worker process keeps from one trial to the next: its MLflow client of each store, and its logging settings.

The client cache lives here, below the task types and the run creation that both use it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

__all__ = ["quiet_worker", "tracking_client"]

_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def tracking_client(uri: str) -> Any:
    """This process's ``MlflowClient`` of ``uri``, made once and shared by its threads.

    The first client of a process opens the store (~0.5 s for SQLite: the engine, the schema check); a thread that
    asks meanwhile waits for that one instead of opening the store a second time.
    """
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(uri)
        if client is None:
            from mlflow import MlflowClient

            client = _CLIENTS[uri] = MlflowClient(uri)
        return client


def quiet_worker() -> None:
    """Keep MLflow's per-model INFO lines and download progress bars out of the executors' logs."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # With a tracking server MLflow prints a "View run" link per ended run (and reads the run again to build it).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("optuna").setLevel(logging.WARNING)  # the pruner's local study would announce itself
