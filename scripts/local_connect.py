#!/usr/bin/env python
"""A standalone Spark Connect server on this machine, started with pyspark's own script, to try (and test) sweeps on
Spark Connect (what Databricks Standard access mode and serverless give a notebook).

    python scripts/local_connect.py up [--dir .sparksweep-connect] [--master local[2]] [--conf key=value ...]
    python scripts/local_connect.py down [--dir .sparksweep-connect]

``up`` runs ``$SPARK_HOME/sbin/start-connect-server.sh`` with ``SPARK_HOME`` = the pip-installed pyspark package
(which ships the Connect server's jar), bound to 127.0.0.1 on a free port, its logs and pid file in ``<dir>``; it
waits for the port and prints the client's URL (``sc://127.0.0.1:<port>``). Python workers of the server run this
interpreter (``PYSPARK_PYTHON``). ``down`` runs ``stop-connect-server.sh`` with the same directory, and is safe to
run twice. Tests and benchmarks import :func:`start` and :func:`stop`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DEFAULT_DIR = ".sparksweep-connect"
_CONNECT_ENV = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE", "SPARK_API_MODE")
"""Set in a process once it opened a Connect client; a child that must start a classic session drops them."""


@dataclass(frozen=True)
class ConnectServer:
    """A running server: where clients connect, and the directory holding its logs and pid file."""

    url: str
    port: int
    dir: Path


def classic_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without the variables that make pyspark open a Connect client."""
    base = dict(os.environ if env is None else env)
    for key in _CONNECT_ENV:
        base.pop(key, None)
    return base


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _env(directory: Path) -> dict[str, str]:
    env = classic_env()
    env.update(
        SPARK_HOME=str(_spark_home()),
        PYSPARK_PYTHON=sys.executable,
        SPARK_LOCAL_IP=HOST,
        SPARK_LOG_DIR=str(directory / "logs"),
        SPARK_PID_DIR=str(directory),
        SPARK_IDENT_STRING="sparksweep",
    )
    return env


def _log_tail(directory: Path, lines: int = 30) -> str:
    logs = sorted((directory / "logs").glob("*.out"))
    if not logs:
        return "(no log written)"
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:])


def _wait_for_port(port: int, directory: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pid_files = list(directory.glob("*.pid"))
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                return
        for pid_file in pid_files or directory.glob("*.pid"):
            pid = int(pid_file.read_text().strip() or 0)
            if pid and not Path(f"/proc/{pid}").exists():
                raise RuntimeError(f"the Spark Connect server exited before it listened:\n{_log_tail(directory)}")
        time.sleep(0.25)
    raise RuntimeError(
        f"the Spark Connect server did not listen on {HOST}:{port} within {timeout:.0f}s:\n{_log_tail(directory)}"
    )


def start(
    directory: Path, master: str = "local[2]", conf: dict[str, str] | None = None, timeout: float = 180.0
) -> ConnectServer:
    """Start a Connect server on ``master`` with its state in ``directory``, and wait until it listens."""
    directory = Path(directory).resolve()
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    port = _free_port()
    settings = {
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": HOST,
        "spark.ui.enabled": "false",
        "spark.python.task.killTimeout": "200ms",  # a cancelled trial's Python worker goes within 200 ms
        **(conf or {}),
    }
    command = [str(_spark_home() / "sbin" / "start-connect-server.sh"), "--master", master]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    started = subprocess.run(command, env=_env(directory), capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        raise RuntimeError(f"start-connect-server.sh failed:\n{started.stdout}\n{started.stderr}")
    try:
        _wait_for_port(port, directory, timeout)
    except BaseException:
        stop(directory)
        raise
    return ConnectServer(url=f"sc://{HOST}:{port}", port=port, dir=directory)


def stop(directory: Path) -> None:
    """Stop the server started with ``directory`` (nothing happens if none runs)."""
    directory = Path(directory).resolve()
    script = _spark_home() / "sbin" / "stop-connect-server.sh"
    subprocess.run([str(script)], env=_env(directory), capture_output=True, text=True, timeout=120, check=False)


@contextlib.contextmanager
def connect_mode() -> Iterator[None]:
    """Within this block pyspark builds Columns, functions and UDFs for Spark Connect.

    pyspark decides between its classic and Connect implementations of ``pyspark.sql.functions`` (and ``udf``) from
    the process's environment (``SPARK_CONNECT_MODE_ENABLED``), not from the session. A user's process has one kind of
    session; a test run holds both, so calls on the Connect session run inside this block and the classic session's
    outside it.
    """
    saved = {key: os.environ[key] for key in _CONNECT_ENV if key in os.environ}
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    try:
        yield
    finally:
        for key in _CONNECT_ENV:
            os.environ.pop(key, None)
        os.environ.update(saved)


def remote_session(url: str) -> Any:
    """A Spark Connect client session to ``url``, with this process's environment left as it was (classic mode).

    pyspark's own builder refuses a remote session while a classic one runs in the process
    (``SESSION_ALREADY_EXIST``); the Connect builder does not.
    """
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    saved = {key: os.environ[key] for key in _CONNECT_ENV if key in os.environ}
    try:
        return RemoteSparkSession.builder.remote(url).getOrCreate()
    finally:
        for key in _CONNECT_ENV:
            os.environ.pop(key, None)
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--dir", default=DEFAULT_DIR)
    up.add_argument("--master", default="local[2]")
    up.add_argument("--conf", action="append", default=[], help="key=value, repeatable")
    down = sub.add_parser("down")
    down.add_argument("--dir", default=DEFAULT_DIR)
    args = parser.parse_args()
    if args.command == "up":
        conf = dict(item.split("=", 1) for item in args.conf)
        server = start(Path(args.dir), args.master, conf)
        print(f"SPARK_REMOTE={server.url}")
    else:
        stop(Path(args.dir))


if __name__ == "__main__":
    main()
