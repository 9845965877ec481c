#!/usr/bin/env python
"""A Spark standalone cluster and an MLflow tracking server on this machine, to try (and test) cluster mode.

    python scripts/local_cluster.py up [--dir .sparksweep-cluster] [--workers 2] [--cores 1] [--memory 1g]
                                       [--backend-store-uri sqlite:///... | postgresql://...] [--json]
    python scripts/local_cluster.py status [--dir ...]
    eval "$(python scripts/local_cluster.py env [--dir ...])"     # exports SPARK_MASTER and MLFLOW_TRACKING_URI
    python scripts/local_cluster.py down [--dir ...]

``up`` starts one Spark master and ``--workers`` workers from pyspark's own launch classes (``bin/spark-class``
with ``SPARK_HOME`` = the pip-installed pyspark package, which ships the jars), and an ``mlflow server`` with a SQLite
(default) or PostgreSQL backend store that serves artifacts over HTTP (``--serve-artifacts``), so executors need no
filesystem shared with the driver. Everything binds to 127.0.0.1 on free ports, runs in its own process group, and
logs to ``<dir>/logs``. The addresses go to ``<dir>/state.json`` and to stdout:

    SPARK_MASTER=spark://127.0.0.1:40123
    MLFLOW_TRACKING_URI=http://127.0.0.1:41234

``down`` stops every process ``up`` started (their whole process groups, SIGTERM then SIGKILL) and any process still
running inside ``<dir>`` (executors and Python workers the Spark workers launched), and is safe to run twice. A failed
``up`` stops what it had started before it exits. Needs Java 17 or 21, pyspark and mlflow (the sparksweep venv).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
STATE_FILE = "state.json"
DEFAULT_DIR = ".sparksweep-cluster"


@dataclass
class Proc:
    """One process ``up`` started: the leader of its own process group."""

    role: str
    pid: int
    log: str


@dataclass
class ClusterState:
    """What ``up`` started and where it listens; written after each process starts so ``down`` can always clean up."""

    dir: str
    procs: list[Proc] = field(default_factory=list)
    spark_master: str | None = None
    spark_master_ui: str | None = None
    workers: int = 0
    tracking_uri: str | None = None
    backend_store_uri: str | None = None
    artifacts_destination: str | None = None

    def save(self) -> None:
        path = Path(self.dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        raw["procs"] = [Proc(**p) for p in raw.get("procs", [])]
        return cls(**raw)


class StartError(RuntimeError):
    """A process did not come up; the message carries the tail of its log."""


def free_port() -> int:
    """A port nobody listens on right now (the process that gets it binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_members(pgid: int) -> list[int]:
    """Live processes in process group ``pgid`` (Linux /proc; elsewhere just the leader)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return [pgid] if _alive(pgid) else []
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ancestors() -> set[int]:
    """This process and its parents (a shell that ran `down --dir <dir>` names the dir too, and must live)."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def processes_inside(directory: Path) -> list[int]:
    """Live processes of the cluster in ``directory`` (Linux): daemons that carry its marker or its stores on their
    command line, and executors and Python workers working inside ``<directory>/work``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    root = str(directory.resolve())
    work = os.path.join(root, "work") + os.sep
    markers = (f"-Dsparksweep.cluster.dir={root}", os.path.join(root, "mlartifacts"), os.path.join(root, "mlflow.db"))
    skip = _ancestors()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        pid = int(entry.name)
        try:
            cwd = os.readlink(entry / "cwd") + os.sep
        except OSError:
            cwd = ""
        cmdline = _cmdline(pid)
        if (cwd.startswith(work) or any(m in cmdline for m in markers)) and _alive(pid):
            found.append(pid)
    return found


def _spawn(state: ClusterState, role: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = Path(state.dir) / "logs" / f"{role}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state.dir,
            start_new_session=True,  # its own process group: `down` stops it with everything it started
        )
    state.procs.append(Proc(role=role, pid=popen.pid, log=str(log_path)))
    state.save()
    return popen


def _wait_for_log(popen: subprocess.Popen[bytes], log: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        if log.exists():
            found = regex.search(log.read_text(errors="replace"))
            if found:
                return found
        if popen.poll() is not None:
            raise StartError(f"{log.stem} exited with code {popen.returncode}; its log ends:\n{_log_tail(log)}")
        time.sleep(0.2)
    raise StartError(f"{log.stem} did not report /{pattern}/ within {timeout:.0f}s; its log ends:\n{_log_tail(log)}")


def _spark_env(directory: Path) -> dict[str, str]:
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    if not (spark_home / "bin" / "spark-class").exists() or not (spark_home / "jars").is_dir():
        raise StartError(
            f"pyspark at {spark_home} ships no bin/spark-class or jars/; install it from PyPI: pip install pyspark"
        )
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home),
        SPARK_LOCAL_IP=HOST,
        SPARK_LOG_DIR=str(directory / "logs"),
        # A marker on the daemons' command lines, so `down` and `status` recognise them; no REST submission server
        # (it would take the fixed port 6066).
        SPARK_DAEMON_JAVA_OPTS=f"-Dsparksweep.cluster.dir={directory} -Dspark.master.rest.enabled=false",
        # Executors start Python workers with the driver's PYSPARK_PYTHON; this is the fallback for tools that don't.
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", sys.executable),
    )
    env.pop("SPARK_CONF_DIR", None)
    return env


def start_spark(state: ClusterState, workers: int, cores: int, memory: str, timeout: float) -> None:
    directory = Path(state.dir)
    env = _spark_env(directory)
    spark_class = str(Path(env["SPARK_HOME"]) / "bin" / "spark-class")
    master = _spawn(
        state,
        "spark-master",
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", "0", "--webui-port", "0"],
        env,
    )
    log = directory / "logs" / "spark-master.log"
    url = _wait_for_log(master, log, r"Starting Spark master at (spark://[\d.]+:\d+)", timeout).group(1)
    ui = _wait_for_log(master, log, r"MasterWebUI.* started at (http://\S+:\d+)", timeout).group(1)
    state.spark_master, state.spark_master_ui = url, ui
    state.save()
    started = []
    for n in range(1, workers + 1):
        work_dir = directory / "work" / f"worker-{n}"
        work_dir.mkdir(parents=True, exist_ok=True)
        argv = [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", HOST, "--port", "0"]
        argv += ["--webui-port", "0", "--cores", str(cores), "--memory", memory, "--work-dir", str(work_dir)]
        started.append((_spawn(state, f"spark-worker-{n}", argv, env), directory / "logs" / f"spark-worker-{n}.log"))
    for popen, worker_log in started:
        _wait_for_log(popen, worker_log, r"Successfully registered with master", timeout)
    state.workers = workers
    state.save()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def launch_mlflow(state: ClusterState, backend_store_uri: str | None) -> subprocess.Popen[bytes]:
    """Start ``mlflow server`` (it comes up while Spark starts; :func:`await_mlflow` waits for it)."""
    directory = Path(state.dir)
    backend = backend_store_uri or f"sqlite:///{directory / 'mlflow.db'}"
    artifacts = directory / "mlartifacts"
    artifacts.mkdir(exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--serve-artifacts"]
    argv += ["--artifacts-destination", str(artifacts), "--host", HOST, "--port", str(port), "--workers", "1"]
    # No server-side job runner (a pool of huey consumers): sparksweep needs none, and they cost CPU and memory.
    popen = _spawn(state, "mlflow-server", argv, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    state.tracking_uri = f"http://{HOST}:{port}"
    state.backend_store_uri, state.artifacts_destination = backend, str(artifacts)
    state.save()
    return popen


def await_mlflow(state: ClusterState, popen: subprocess.Popen[bytes], timeout: float) -> None:
    url = state.tracking_uri or ""
    log = Path(state.dir) / "logs" / "mlflow-server.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _healthy(url):
            return
        if popen.poll() is not None:
            raise StartError(f"mlflow server exited with code {popen.returncode}; its log ends:\n{_log_tail(log)}")
        time.sleep(0.3)
    raise StartError(f"mlflow server at {url} was not healthy within {timeout:.0f}s; its log ends:\n{_log_tail(log)}")


def stop(directory: Path, grace: float = 10.0) -> list[str]:
    """Stop every process ``up`` started in ``directory`` and anything still running inside it; return what was
    stopped. Only processes that carry the directory on their command line or work inside it are signalled."""
    state = ClusterState.load(directory)
    stopped: list[str] = []
    groups: list[tuple[str, int]] = []
    marker = str(directory.resolve())
    for proc in reversed(state.procs if state else []):
        members = _group_members(proc.pid)
        if members and (not _alive(proc.pid) or marker in _cmdline(proc.pid)):
            groups.append((proc.role, proc.pid))
    for _role, pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_group_members(pgid) for _, pgid in groups):
        time.sleep(0.2)
    for role, pgid in groups:
        if _group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        stopped.append(f"{role} (process group {pgid})")
    # Executors and their Python workers (pyspark's daemon makes its own process group) run inside the work dir.
    for _ in range(2):
        strays = processes_inside(directory)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                stopped.append(f"pid {pid} ({_cmdline(pid)[:60]})")
        if strays:
            time.sleep(0.5)
    if state is not None:
        (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped


def up(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    existing = ClusterState.load(directory)
    if existing is not None and any(_alive(p.pid) for p in existing.procs):
        print(f"a cluster from {directory} is still running; stop it first: {sys.argv[0]} down --dir {args.dir}")
        return 1
    state = ClusterState(dir=str(directory))
    state.save()
    try:
        server = None if args.no_mlflow else launch_mlflow(state, args.backend_store_uri)
        if not args.no_spark:
            start_spark(state, args.workers, args.cores, args.memory, args.timeout)
        if server is not None:
            await_mlflow(state, server, args.timeout)
    except (StartError, OSError, ImportError) as exc:
        stop(directory)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(state)))
        return 0
    if state.spark_master:
        print(f"SPARK_MASTER={state.spark_master}")
        print(f"# {state.workers} workers x {args.cores} core(s), {args.memory}; master UI {state.spark_master_ui}")
    if state.tracking_uri:
        print(f"MLFLOW_TRACKING_URI={state.tracking_uri}")
        print(f"# backend {state.backend_store_uri}; artifacts served from {state.artifacts_destination}")
    print(f"# logs in {directory / 'logs'}; stop with: python {sys.argv[0]} down --dir {args.dir}")
    return 0


def status(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    state = ClusterState.load(directory)
    running = processes_inside(directory)
    if state is None and not running:
        print(f"nothing running from {directory}")
        return 1
    if state is not None:
        for proc in state.procs:
            print(f"{proc.role:<16} pid {proc.pid:<8} {'running' if _alive(proc.pid) else 'stopped'}  log {proc.log}")
        print(f"SPARK_MASTER={state.spark_master or ''}\nMLFLOW_TRACKING_URI={state.tracking_uri or ''}")
    print(f"{len(running)} process(es) running from {directory}: {running}")
    return 0


def env(args: argparse.Namespace) -> int:
    """Print shell exports of the running cluster's addresses: ``eval "$(python scripts/local_cluster.py env)"``."""
    state = ClusterState.load(Path(args.dir).resolve())
    if state is None:
        print(f"echo 'no cluster state in {args.dir}; start one with: python {sys.argv[0]} up' >&2; false")
        return 1
    if state.spark_master:
        print(f"export SPARK_MASTER={state.spark_master}")
    if state.tracking_uri:
        print(f"export MLFLOW_TRACKING_URI={state.tracking_uri}")
    return 0


def down(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    for line in stop(directory):
        print(f"stopped {line}")
    left = processes_inside(directory)
    if left:
        print(f"error: processes still running from {directory}: {left}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "status", "env", "down"):
        sub = commands.add_parser(name)
        sub.add_argument("--dir", default=DEFAULT_DIR, help=f"state, logs, stores and work dirs ({DEFAULT_DIR})")
        if name == "up":
            sub.add_argument("--workers", type=int, default=2)
            sub.add_argument("--cores", type=int, default=1, help="cores per worker")
            sub.add_argument("--memory", default="1g", help="memory per worker (its executors' budget)")
            sub.add_argument("--backend-store-uri", help="MLflow backend store (default: sqlite:///<dir>/mlflow.db)")
            sub.add_argument("--no-spark", action="store_true", help="start only the MLflow server")
            sub.add_argument("--no-mlflow", action="store_true", help="start only the Spark cluster")
            sub.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each process")
            sub.add_argument("--json", action="store_true", help="print the state as JSON")
    args = parser.parse_args(argv)
    return {"up": up, "status": status, "env": env, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
