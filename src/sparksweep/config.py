"""Deprecated: the sweep file's models moved to :mod:`sparksweep.spec` (this module goes in the next release)."""

from __future__ import annotations

import warnings

from sparksweep.spec import *  # noqa: F403
from sparksweep.spec import __all__ as __all__

warnings.warn(
    "sparksweep.config moved to sparksweep.spec; import from there (sparksweep.config goes in the next release)",
    DeprecationWarning,
    stacklevel=2,
)
