"""Real servers a fault test starts and always stops: an ``mlflow server`` (SQLite or PostgreSQL behind it) on
127.0.0.1, and a throwaway PostgreSQL cluster (initdb + pg_ctl in a temporary folder, as the ``postgres`` user when
this process is root, since PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def needed(reason: str) -> None:
    """Skip for a missing prerequisite, or fail when CI=true (the suite's rule)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def mlflow_server(backend_uri: str, directory: Path, workers: int = 1) -> Iterator[str]:
    """``mlflow server`` with ``--serve-artifacts`` on a free port; yields its URI, stops it (and its workers)."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    log = (directory / "mlflow-server.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            backend_uri,
            "--serve-artifacts",
            "--artifacts-destination",
            str(directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mlflow server did not start: {(directory / 'mlflow-server.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(30)
        log.close()


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres(directory: Path) -> Iterator[str]:
    """A PostgreSQL cluster in ``directory`` on a free port with a database ``mlflow``; yields its SQLAlchemy URI."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        needed("PostgreSQL binaries are not installed (apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        needed("psycopg2 is not installed (pip install psycopg2-binary)")
    assert bin_dir is not None
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses root; pytest's tmp folders are root's alone (0700)
        directory = Path(tempfile.mkdtemp(prefix="sparksweep-pg-"))
        directory.chmod(0o755)
        shutil.chown(directory, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sock = directory / "pgdata", directory / "pgsock"
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    run("mkdir", "-p", str(sock))
    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(directory / "pg.log"),
        "-w",
        "-o",
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=200",
        "start",
    )
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        if as_user:
            shutil.rmtree(directory, ignore_errors=True)
