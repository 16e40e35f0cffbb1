"""Shared test set-up: make the core package importable and locate ../shared."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDONS = ROOT / "addons"
if str(ADDONS) not in sys.path:
    sys.path.insert(0, str(ADDONS))

SHARED = Path(__import__("os").environ.get("SIGV4_SHARED", ROOT.parent / "shared"))
VECTORS = SHARED / "vectors"
