from __future__ import annotations

import io

from sparksweep.cli._progress import ProgressDisplay
from sparksweep.sweep import SweepProgress
from sparksweep.trial import TrialResult, TrialState


def _results() -> list[tuple[TrialResult, SweepProgress]]:
    p = SweepProgress(n_trials=4, timeout=600)
    done = TrialResult(0, "r0", "lightgbm", {}, TrialState.COMPLETE, value=0.8, metrics={"auc_roc": 0.8})
    p.finished, p.running, p.best = 1, 2, done
    pruned = TrialResult(1, "r1", "xgboost", {}, TrialState.PRUNED, step=40)
    return [(done, p), (pruned, SweepProgress(4, finished=2, pruned=1, running=1, best=done, timeout=600))]


def test_a_terminal_gets_a_live_bar_under_the_trial_lines() -> None:
    out = io.StringIO()
    display = ProgressDisplay("auc_roc", stream=out, live=True)
    for result, progress in _results():
        display(result, progress)
    display.close()
    text = out.getvalue()
    assert "\r\x1b[K" in text  # the bar is redrawn in place
    last_bar = text.rsplit("\r\x1b[K", 1)[1]
    assert "trial 1" in last_bar.splitlines()[0]
    assert "PRUNED at step 40" in last_bar
    bar = last_bar.splitlines()[1]
    assert "2/4 done" in bar
    assert "1 running" in bar
    assert "1 pruned" in bar
    assert "best auc_roc=0.80000" in bar
    assert "s left" in bar


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    display = ProgressDisplay(None, stream=out)  # StringIO is not a TTY
    for result, progress in _results():
        display(result, progress)
    display.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "\x1b" not in out.getvalue()
    assert "auc_roc=0.80000" in lines[0]  # the metric's name taken from the first result
    assert lines[1].startswith("[  2/4] trial 1")
