"""What every command shares: the error handling of the command group, quieting the libraries' terminal output,
and the ``--tracking-uri`` and ``--registry-uri`` options with the registry client they open."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

import click

from sparksweep.errors import SparkSweepError

__all__ = [
    "REGISTRY_HELP",
    "REGISTRY_OPTION",
    "TRACKING_OPTION",
    "SparkSweepGroup",
    "quiet_libraries",
    "registry_client",
]


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self.fragments)


def quiet_libraries() -> None:
    """The CLI owns the terminal: keep the libraries' per-trial INFO lines and known, understood warnings out."""
    import optuna

    # pyspark 4.3 warns on every pandas UDF that it does not fully support pandas 3; the paths we use are tested.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    # sparksweep scores with env_manager="local" on purpose (the executors share the driver's environment).
    logging.getLogger("mlflow.pyfunc").addFilter(_DropMessages('env_manager="local"'))
    logging.getLogger("mlflow.models.flavor_backend_registry").setLevel(logging.WARNING)

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # the summary names the server's UI
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("hyperopt", "py4j", "mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


class SparkSweepGroup(click.Group):
    """A command group that prints a :class:`SparkSweepError` as one ``error:`` line and exits with status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SparkSweepError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


def registry_client(uri: str | None, registry: str | None = None) -> tuple[Any, str, str]:
    """An MLflow client of the tracking store ``uri`` and the registry ``registry`` (defaults: from the environment,
    the registry the tracking store; :func:`sparksweep.tracking.registry_uri`), and both URIs."""
    from mlflow import MlflowClient

    from sparksweep.tracking import registry_uri, tracking_uri

    resolved = tracking_uri(uri)
    models = registry_uri(registry, resolved)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return MlflowClient(tracking_uri=resolved, registry_uri=models), resolved, models


TRACKING_OPTION = click.option(
    "--tracking-uri", help="Tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)."
)
REGISTRY_HELP = (
    "Model registry URI when it is not the tracking store, e.g. databricks-uc for Unity Catalog "
    "(default: MLFLOW_REGISTRY_URI, else the tracking URI)."
)
REGISTRY_OPTION = click.option("--registry-uri", help=REGISTRY_HELP)
