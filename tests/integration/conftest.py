"""A local Spark standalone cluster and an MLflow server, started with the user-facing script and always stopped.

Package-scoped: started for the first test here that needs it and stopped after the last one (also when tests fail);
the stop is followed by a check that no process of the cluster is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "local_cluster.py"


@dataclass(frozen=True)
class LocalCluster:
    dir: Path
    spark_master: str
    tracking_uri: str
    artifacts: Path


def cluster_processes(directory: Path) -> list[str]:
    """Processes (pid and command) that still run from ``directory``: its daemons, executors and Python workers."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    mine = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if str(directory) in args:
            mine.append(line.strip())
            continue
        try:
            cwd = str(Path(f"/proc/{pid}/cwd").readlink())
        except OSError:
            continue
        if (cwd + "/").startswith(f"{directory}/"):
            mine.append(line.strip())
    return mine


def _down(directory: Path) -> None:
    subprocess.run([sys.executable, str(SCRIPT), "down", "--dir", str(directory)], capture_output=True, timeout=120)


@pytest.fixture(scope="package")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    directory = tmp_path_factory.mktemp("cluster")
    started = time.perf_counter()
    try:
        up = subprocess.run(
            [sys.executable, str(SCRIPT), "up", "--dir", str(directory), "--workers", "2", "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, f"the cluster did not start:\n{up.stdout}\n{up.stderr}"
        state = json.loads(up.stdout)
        print(f"local cluster up in {time.perf_counter() - started:.1f}s: {state['spark_master']}")
        yield LocalCluster(
            dir=directory,
            spark_master=state["spark_master"],
            tracking_uri=state["tracking_uri"],
            artifacts=Path(state["artifacts_destination"]),
        )
    finally:
        _down(directory)
    left = cluster_processes(directory)
    assert not left, f"processes left behind after stopping the cluster: {left}"
