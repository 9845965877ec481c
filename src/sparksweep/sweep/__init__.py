"""The sweep: plan it from the spec, run the trials, choose the finalists and the champion, register it.

Example:
    >>> from sparksweep.spec import load_spec
    >>> result = run_sweep(load_spec("examples/churn.yaml"))  # doctest: +SKIP
    >>> result.best.value  # doctest: +SKIP
"""

from __future__ import annotations

from sparksweep.sweep._api import OBJECTIVE_FAMILY, optimize, resume_sweep, run_sweep
from sparksweep.sweep._ensemble import Ensemble
from sparksweep.sweep._finalists import Finalist
from sparksweep.sweep._promote import gate_inputs, promote_champion
from sparksweep.sweep._refit_trial import Refit, refit_trial
from sparksweep.sweep._result import SweepProgress, SweepResult
from sparksweep.sweep._space import build_space

__all__ = [
    "OBJECTIVE_FAMILY",
    "Ensemble",
    "Finalist",
    "Refit",
    "SweepProgress",
    "SweepResult",
    "build_space",
    "gate_inputs",
    "optimize",
    "promote_champion",
    "refit_trial",
    "resume_sweep",
    "run_sweep",
]
