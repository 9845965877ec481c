"""The sweep's progress on the terminal: a live bar on a TTY, plain lines otherwise (logs, CI, pipes).

Example:
    >>> import io
    >>> display = ProgressDisplay("auc_roc", stream=io.StringIO())
    >>> display.bar(SweepProgress(n_trials=4, finished=1))
    '[#####...............]   1/4 done  0 running  0 failed  0 pruned  best -  elapsed 0s'
"""

from __future__ import annotations

import sys
from typing import TextIO

from sparksweep.sweep import SweepProgress
from sparksweep.trial import TrialResult

__all__ = ["ProgressDisplay"]

_WIDTH = 20


class ProgressDisplay:
    """An ``on_trial`` callback: one line per finished trial, and on a terminal a status bar under them.

    Args:
        metric: The metric's name, shown with each value (None: the first metric a trial reports).
        stream: Where to write (default: standard output).
        live: Draw the bar; default: when ``stream`` is a terminal.
    """

    def __init__(self, metric: str | None, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.metric = metric
        self.stream = stream if stream is not None else sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._drawn = False

    def bar(self, p: SweepProgress) -> str:
        filled = min(_WIDTH, round(_WIDTH * p.finished / max(1, p.n_trials)))
        best = "-" if p.best is None or p.best.value is None else f"{self.metric}={p.best.value:.5f}"
        text = (
            f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {p.finished:>3}/{p.n_trials} done  {p.running} running  "
            f"{p.failed} failed  {p.pruned} pruned  best {best}  elapsed {p.elapsed:.0f}s"
        )
        if p.killed:
            text += f"  {p.killed} killed"
        remaining = p.remaining_time
        if remaining is not None:
            text += f"  {remaining:.0f}s left"
        return text

    def line(self, result: TrialResult, p: SweepProgress) -> str:
        if self.metric is None and result.metrics:
            self.metric = next(iter(result.metrics))
        head = f"[{p.finished:>3}/{p.n_trials}] trial {result.number:<3} {result.family:<30}"
        best = "-" if p.best is None or p.best.value is None else f"{p.best.value:.5f}"
        tail = f"best={best}  {result.duration:5.1f}s  elapsed {p.elapsed:6.1f}s  running {p.running}"
        if result.value is not None:
            return f"{head} {self.metric}={result.value:.5f}  {tail}"
        if result.step is not None and result.state.value == "pruned":
            return f"{head} PRUNED at step {result.step}  {tail}"
        reason = (result.error or "").strip().splitlines()[-1:] or [""]
        return f"{head} {result.state.value.upper()}: {reason[0][:120]}  {tail}"

    def __call__(self, result: TrialResult, progress: SweepProgress) -> None:
        out = self.stream
        if self.live and self._drawn:
            out.write("\r\x1b[K")  # erase the bar, print the trial's line where it was, draw the bar again below
        out.write(self.line(result, progress) + "\n")
        if self.live:
            out.write(self.bar(progress))
            self._drawn = True
        out.flush()

    def close(self) -> None:
        """End the bar's line (call once the sweep is over)."""
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
