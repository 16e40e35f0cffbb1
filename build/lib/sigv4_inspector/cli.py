"""The ``sigv4-inspector`` command.

sigv4-inspector addon-path            the script to give mitmproxy: mitmdump -s "$(sigv4-inspector addon-path)"
sigv4-inspector bundle FLOWS -o DIR   a redacted bug-report bundle of saved flows
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "addon-path":
        print(Path(__file__).resolve().parent / "entry.py")
        return 0
    if cmd in ("bundle", "bugreport"):
        from sigv4_inspector.addon.bundle import main as bundle_main

        return bundle_main(rest)
    print(f"sigv4-inspector: unknown command {cmd!r}\n\n{__doc__.strip()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
