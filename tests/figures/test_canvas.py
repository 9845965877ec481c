"""The figures' matplotlib is imported in the background while the trials run, so drawing after them does not pay it."""

from __future__ import annotations

import subprocess
import sys


def test_preload_imports_matplotlib_in_a_background_thread() -> None:
    code = (
        "import sys, sparksweep.figures as f\n"
        "assert 'matplotlib.figure' not in sys.modules, 'sparksweep imported matplotlib eagerly'\n"
        "t = f.preload_matplotlib(); t.join(60)\n"
        "print(t.daemon, 'matplotlib.figure' in sys.modules, 'matplotlib.backends.backend_agg' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr
