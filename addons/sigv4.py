"""sigv4-inspector: the mitmproxy addon.

    mitmdump -s addons/sigv4.py [--set sigv4_report=flows.jsonl]

For every AWS-signed request (and every AWS endpoint reached unsigned) it re-verifies the
signature the way AWS's servers do, with your own credentials, names what changed in
transit, and writes the diagnosis onto the flow, the terminal and a JSON report. The code
is the installed ``sigv4_inspector`` package (``bash scripts/setup`` installs it into
.venv; elsewhere ``pip install .`` or ``pipx inject mitmproxy .``).
"""

try:
    from sigv4_inspector.entry import addons  # noqa: F401
except ModuleNotFoundError as exc:  # say what to install instead of a traceback
    missing = exc.name or "sigv4_inspector"
    raise SystemExit(
        f"sigv4-inspector: the module {missing!r} is not installed for this mitmproxy. "
        "From a clone: bash scripts/setup, then run .venv/bin/mitmdump; with pip: "
        "pip install <this folder>; with pipx: pipx inject mitmproxy <this folder>."
    ) from None
