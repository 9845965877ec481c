"""``python -m sparksweep.cli``: the same command line as the ``sparksweep`` console script."""

from __future__ import annotations

from sparksweep.cli import main

main()
