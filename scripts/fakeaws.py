"""A local AWS-like endpoint for end-to-end tests of the sigv4-inspector addons.

The implementation lives in the test-support package ``sigv4_testsupport.fakeaws``
(tests/support, installed editable by scripts/setup); this wrapper keeps the command line
and the ``import fakeaws`` that scripts and tests use (with scripts/ on sys.path):

    python scripts/fakeaws.py --http-port 0 --https-port 0 --certdir DIR --ready-file F

See ``sigv4_testsupport.fakeaws`` for what it serves and how it verifies signatures.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import sigv4_testsupport.fakeaws as _impl
except ImportError:  # not installed (scripts/setup not run): use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))
    import sigv4_testsupport.fakeaws as _impl

from sigv4_testsupport.fakeaws import *  # noqa: E402,F403
from sigv4_testsupport.fakeaws import _Handler, _Server  # noqa: E402,F401

__all__ = list(_impl.__all__)

if __name__ == "__main__":
    sys.exit(_impl.main())
