"""Scoring through Spark Connect against the classic session, side by side in one run (issue 17: Connect at >= 0.8x
the classic session's table path).

Both sessions run ``local[2]`` on this machine: the classic one in this process, the Connect one a standalone server
(``scripts/local_connect.py``) with this process as its client. Each scores the registered LightGBM champion from
parquet to parquet with ``score_table``, interleaved, ``--repeats`` times after one warm-up each:

* ``files``: the default path (one DataFrame job, each task reading its row groups with pyarrow, scoring and writing
  its own part file; on Connect the model rides inside the job);
* ``arrow``: ``udf="arrow"`` (Spark reads and writes the parquet, sparksweep's Arrow UDF scores).

Every output is checked against the classic session's, row for row.

Measured 2026-12-03 (2 cores, shared machine): 1M rows, files 1.48 s classic vs 1.76 s Connect (0.84x), arrow 3.36 s vs
3.69 s (0.91x); 200k rows, files 0.42 s vs 0.63 s (0.67x: each Connect job costs ~0.2-0.3 s more, a fixed cost).

Run: ``python benchmarks/bench_connect_scoring.py [--rows 1000000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sparksweep._spark import get_spark
from sparksweep.datasets import generate_churn
from sparksweep.scoring import Udf, score_table

ROOT = Path(__file__).resolve().parents[1]
KEEP = ["user_id", "feature_date"]


def _module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    local_connect = _module(ROOT / "scripts" / "local_connect.py", "local_connect")
    bench_scoring = _module(ROOT / "benchmarks" / "bench_scoring.py", "bench_scoring")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-connect-scoring-") as tmp_dir:
        tmp = Path(tmp_dir)
        uri = f"sqlite:///{tmp / 'mlflow.db'}"
        bench_scoring._train_and_register(uri, tmp)
        champion = f"models:/{bench_scoring.NAME}@champion"
        data = tmp / "users.parquet"
        users = generate_churn(args.rows, seed=2).drop(columns=["label"])
        pq.write_table(pa.Table.from_pandas(users), data, row_group_size=128 * 1024)
        classic = get_spark("local[2]", {"spark.sql.shuffle.partitions": "2"})
        server = local_connect.start(tmp / "connect", "local[2]", {"spark.sql.shuffle.partitions": "2"})
        try:
            remote = local_connect.remote_session(server.url)
            times = _measure(local_connect, classic, remote, champion, uri, data, tmp, args.repeats)
            with local_connect.connect_mode():
                remote.stop()
        finally:
            local_connect.stop(tmp / "connect")
            classic.stop()
    print(f"\nScoring {args.rows:,} rows parquet to parquet, LightGBM champion, local[2] both, {os.cpu_count()} cores,")
    print(f"{args.repeats} runs after a warm-up (median), every output equal to the classic session's row for row:\n")
    print(f"  {'way':<16} {'median s':>8} {'rows/s':>10} {'vs classic':>10}")
    for way in ("files", "arrow"):
        base = statistics.median(times[f"classic {way}"])
        for name in (f"classic {way}", f"connect {way}"):
            median = statistics.median(times[name])
            print(f"  {name:<16} {median:>8.2f} {args.rows / median:>10,.0f} {base / median:>9.2f}x")
    load = ", ".join(f"{v:.1f}" for v in load_before + os.getloadavg())
    print(f"\n  load average (1/5/15 min) before, after: {load} (other work on the machine skews absolute figures)")


def _measure(
    local_connect: ModuleType, classic: Any, remote: Any, champion: str, uri: str, data: Path, tmp: Path, repeats: int
) -> dict[str, list[float]]:
    """Each way on each session, interleaved; outputs checked against the classic session's."""
    ways: dict[str, Udf | None] = {"files": None, "arrow": "arrow"}
    times: dict[str, list[float]] = {f"{s} {w}": [] for w in ways for s in ("classic", "connect")}
    for rep in range(repeats + 1):
        for way, udf in ways.items():
            for side, session in (("classic", classic), ("connect", remote)):
                out = str(tmp / f"out-{side}-{way}")
                with local_connect.connect_mode() if side == "connect" else contextlib.nullcontext():
                    t0 = time.perf_counter()
                    report = score_table(
                        champion, input_path=str(data), output_path=out, keep=KEEP, tracking_uri=uri,
                        spark=session, udf=udf,
                    )  # fmt: skip
                    seconds = time.perf_counter() - t0
                if report.method != (udf or "files"):
                    raise SystemExit(f"{side} {way}: score_table scored by {report.method}")
                if rep > 0:
                    times[f"{side} {way}"].append(seconds)
    for way in ways:
        got, expected = (pd.read_parquet(tmp / f"out-{s}-{way}").sort_values("user_id") for s in ("connect", "classic"))
        pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True)
    return times


if __name__ == "__main__":
    main()
