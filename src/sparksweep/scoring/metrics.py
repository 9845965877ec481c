"""Deprecated: the metric registry moved to :mod:`sparksweep.metrics` (this module goes in the next release)."""

from __future__ import annotations

import warnings

from sparksweep.metrics import *  # noqa: F403
from sparksweep.metrics import __all__ as __all__

warnings.warn(
    "sparksweep.scoring.metrics moved to sparksweep.metrics; import from there (the old path goes in the next release)",
    DeprecationWarning,
    stacklevel=2,
)
