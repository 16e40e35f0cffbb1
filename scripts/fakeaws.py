"""A local AWS-like endpoint for end-to-end tests of the sigv4-inspector addons: the command
line of ``sigv4_testsupport.fakeaws`` (tests/support, installed editable by scripts/setup),
which is also what scripts and tests import (``from sigv4_testsupport import fakeaws``):

    python scripts/fakeaws.py --http-port 0 --https-port 0 --certdir DIR --ready-file F

See ``sigv4_testsupport.fakeaws`` for what it serves and how it verifies signatures.
"""

from __future__ import annotations

import sys

from sigv4_testsupport.fakeaws import main

if __name__ == "__main__":
    sys.exit(main())
