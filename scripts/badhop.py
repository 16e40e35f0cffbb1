"""A misbehaving HTTP(S) hop for demos and tests: the command line of
``sigv4_testsupport.badhop`` (tests/support, installed editable by scripts/setup).

    python scripts/badhop.py --port 0 --certdir DIR [switches]   (see --help)
"""

from __future__ import annotations

import sys

from sigv4_testsupport.badhop import main

if __name__ == "__main__":
    sys.exit(main())
