"""Where things are: the checkout this test-support package sits in (it is installed
editable by scripts/setup, so its files stay in tests/support/) and AWS's public test
vectors beside it (../shared/vectors, or ``$SIGV4_SHARED/vectors``)."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root: tests/support/sigv4_testsupport/paths.py -> the checkout.
ROOT = Path(__file__).resolve().parents[3]
if not (ROOT / "sigv4_inspector").is_dir() or not (ROOT / "tests").is_dir():
    raise ImportError(
        f"sigv4_testsupport must be used from a checkout (installed editable by "
        f"scripts/setup); {ROOT} is not one"
    )
ADDON = ROOT / "addons" / "sigv4.py"
SCRIPTS = ROOT / "scripts"
BENCH = ROOT / "bench"
NOOP_ADDON = BENCH / "noop_addon.py"  # the benchmarks' baseline: a script addon doing nothing
TESTS = ROOT / "tests"
SHARED = Path(os.environ.get("SIGV4_SHARED", ROOT.parent / "shared"))
VECTORS = SHARED / "vectors"
