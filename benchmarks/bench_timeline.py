"""Where a trial's time goes on the pool executor: the per-trial timeline of ``optimize`` with tracking on.

One ``optimize`` run of a trivial objective (and one of a short sleep) on a local[2] Spark session, the pool
executor and a SQLite store. The driver's calls and the pool's messages are wrapped with timers (nothing in
sparksweep is changed for this):

* dispatch: the sweep loop proposes a trial (``ask``), describes its child run (``trial_run``) and hands it to a
  slot (the worker creates the run: no store write in the loop);
* slot busy: from the trial sent to its slot to the worker's "computed" (the objective, the transport, the worker's
  set-up); the child run is created in the background meanwhile (sent -> "started");
* recording: from "computed" to the result back: the worker writes the run's metrics and end in a thread of its own
  while the slot computes its next trial (it costs the slot nothing);
* result: the loop takes the result (``tell``, counts, the progress metrics queued for the background writer);
* slot idle: a slot's wait between "computed" and its next trial (what the loop's dispatch costs the slot).

``--models N`` adds the profile of N real model trials (LightGBM), phase by phase, in this process with
``tracking.log_models`` all and improving (see ``_model_phases.py``).

Run: ``python benchmarks/bench_timeline.py [--n 60] [--sleep 0.2] [--models 30 --rows 2000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _Probe:
    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}
        self.sent: dict[int, float] = {}
        self.back: dict[int, float] = {}
        self.started: dict[int, float] = {}
        self.computed: dict[int, float] = {}
        self.objective: dict[int, float] = {}
        self.idle: list[float] = []
        self._last_back: dict[int, float] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        for part in (self.calls, self.sent, self.back, self.started, self.computed, self.objective, self._last_back):
            part.clear()
        self.idle.clear()

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.calls.setdefault(name, []).append(time.perf_counter() - t0)

        return wrapped

    def install(self) -> None:
        import sparksweep.sweep._loop as engine
        from sparksweep.executors._pool._wire import Channel
        from sparksweep.search._optuna import OptunaSearcher
        from sparksweep.tracking import SweepTracker

        engine.Loop._dispatch = self.timed("dispatch", engine.Loop._dispatch)  # type: ignore[method-assign]
        engine.Loop._finish = self.timed("result", engine.Loop._finish)  # type: ignore[method-assign]
        SweepTracker.trial_run = self.timed("trial_run", SweepTracker.trial_run)  # type: ignore[method-assign]
        SweepTracker.log_progress = self.timed("log_progress", SweepTracker.log_progress)  # type: ignore[method-assign]
        OptunaSearcher.ask = self.timed("ask", OptunaSearcher.ask)  # type: ignore[method-assign]
        OptunaSearcher.tell = self.timed("tell", OptunaSearcher.tell)  # type: ignore[method-assign]
        send, recv = Channel.send, Channel.recv

        def timed_send(sock: Channel, message: Any) -> None:
            if message[0] == "trial":
                now = time.perf_counter()
                key = id(sock)
                with self._lock:
                    self.sent[message[1].number] = now
                    if key in self._last_back:
                        self.idle.append(now - self._last_back.pop(key))
            send(sock, message)

        def timed_recv(sock: Channel) -> Any:
            message = recv(sock)
            if not (isinstance(message, tuple) and len(message) > 1):
                return message
            now = time.perf_counter()
            with self._lock:
                if message[0] == "started":
                    self.started[message[1]] = now
                elif message[0] == "computed":
                    self.computed[message[1]] = now
                    self._last_back[id(sock)] = now  # the slot is free from here
                elif message[0] == "result":
                    self.back[message[1]] = now
                    self.objective[message[1]] = message[2].duration
                    self.computed.setdefault(message[1], now)
                    self._last_back.setdefault(id(sock), now)
            return message

        Channel.send = timed_send  # type: ignore[method-assign]
        Channel.recv = timed_recv  # type: ignore[method-assign]


def main() -> None:
    from sparksweep import Float, optimize
    from sparksweep._spark import get_spark
    from sparksweep.executors import SparkPoolExecutor
    from sparksweep.tracking import prepare_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="Trials per run.")
    parser.add_argument("--sleep", type=float, default=0.2, help="Seconds of the sleeping objective.")
    parser.add_argument("--models", type=int, default=30, help="Model trials in the phase profile (0: none).")
    parser.add_argument("--rows", type=int, default=2000, help="Rows of the phase profile's data.")
    args = parser.parse_args()

    probe = _Probe()
    probe.install()
    space = {"x": Float(0.0, 1.0)}
    results = []
    with tempfile.TemporaryDirectory(prefix="sparksweep-timeline-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        prepare_store(uri)
        spark = get_spark("local[2]")
        spark.sparkContext.parallelize(range(2), 2).map(lambda x: x).collect()
        for label, seconds in [("warm-up", 0.0), ("trivial", 0.0), (f"sleep {args.sleep}s", args.sleep)]:
            probe.clear()

            def objective(params: dict[str, float], _: Any, seconds: float = seconds) -> float:
                if seconds:
                    time.sleep(seconds)
                return params["x"]

            executor = SparkPoolExecutor(spark, 2)
            t0 = time.perf_counter()
            try:
                optimize(
                    objective,
                    space,
                    n_trials=args.n,
                    algorithm="optuna.random",
                    seed=0,
                    executor=executor,
                    tracking_uri=uri,
                    experiment=label,
                )
            finally:
                executor.shutdown()
            wall = time.perf_counter() - t0
            if label == "warm-up":
                continue
            busy = [probe.computed[k] - probe.sent[k] for k in probe.computed if k in probe.sent]
            recording = [probe.back[k] - probe.computed[k] for k in probe.back if k in probe.computed]
            create = [probe.started[k] - probe.sent[k] for k in probe.started if k in probe.sent]
            calls = dict(probe.calls)
            calls["create"] = create
            calls["recording"] = recording
            results.append((label, wall, calls, busy, list(probe.objective.values()), list(probe.idle)))
        spark.stop()
        if args.models:
            from _model_phases import profile

            phases = profile(Path(tmp), args.models, args.rows)

    def ms(values: list[float]) -> str:
        return f"{1000 * statistics.median(values):8.1f}" if values else f"{'-':>8}"

    print(f"Per-trial timeline on the pool executor (local[2], SQLite, {args.n} trials), median ms per trial")
    parts = [
        ("dispatch (loop)", lambda r: r[2].get("dispatch", [])),
        ("  ask", lambda r: r[2].get("ask", [])),
        ("  trial_run: describe the child run", lambda r: r[2].get("trial_run", [])),
        ("slot busy: sent -> computed", lambda r: r[3]),
        ("  objective", lambda r: r[4]),
        ("  run created (sent -> started; overlapped)", lambda r: r[2].get("create", [])),
        ("recording: computed -> result (overlapped)", lambda r: r[2].get("recording", [])),
        ("result (loop)", lambda r: r[2].get("result", [])),
        ("  tell", lambda r: r[2].get("tell", [])),
        ("  progress queued", lambda r: r[2].get("log_progress", [])),
        ("slot idle between trials", lambda r: r[5]),
    ]
    print(f"{'phase':<46}" + "".join(f"{r[0]:>16}" for r in results))
    for name, pick in parts:
        print(f"{name:<46}" + "".join(f"{ms(pick(r)):>16}" for r in results))
    print(f"{'wall s':<46}" + "".join(f"{r[1]:>16.2f}" for r in results))
    trivial = results[0]
    busy_ms = 1000 * (statistics.median(trivial[3]) - statistics.median(trivial[4]))
    idle_ms = 1000 * statistics.median(trivial[5]) if trivial[5] else 0.0
    recording_ms = 1000 * statistics.median(trivial[2]["recording"]) if trivial[2]["recording"] else 0.0
    share = recording_ms / max(busy_ms + idle_ms, 1e-9)
    print(
        f"ratio (trivial): per trial a slot spends {busy_ms:.1f} ms beyond the objective and {idle_ms:.1f} ms idle; "
        f"the {recording_ms:.1f} ms of recording overlap the next trial ({share:.2f}x the slot's own overhead)"
    )

    if args.models:
        from _model_phases import print_profile

        print_profile(phases, args.models, args.rows)


if __name__ == "__main__":
    main()
