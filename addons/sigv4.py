"""sigv4-inspector: the mitmproxy addon.

    mitmdump -s addons/sigv4.py [--set sigv4_report=flows.jsonl]

For every AWS-signed request (and every AWS endpoint reached unsigned) it re-verifies the
signature the way AWS's servers do, with your own credentials, names what changed in
transit, and writes the diagnosis onto the flow, the terminal and a JSON report.

From a clone this script needs nothing installed beyond mitmproxy and botocore:
mitmproxy puts this folder on ``sys.path``, and ``addons/sigv4_inspector`` links to the
package. Installed (``pip install .``, ``pipx inject mitmproxy .``), use
``mitmdump -s "$(sigv4-inspector addon-path)"``. A missing module stops mitmproxy with one
line naming it and the command that installs it for this mitmproxy.
"""

try:
    from sigv4_inspector.entry import addons  # noqa: F401
except ModuleNotFoundError as exc:  # say what to install instead of a traceback
    import shlex
    import sys
    from pathlib import Path

    missing = (exc.name or "sigv4_inspector").split(".")[0]
    here = Path(__file__).resolve().parent.parent
    package = str(here) if missing == "sigv4_inspector" else missing
    if getattr(sys, "frozen", False):
        how = (
            "mitmproxy's standalone binary cannot load third-party packages: install "
            f"mitmproxy with pipx (pipx install mitmproxy && pipx inject mitmproxy {package})"
        )
    elif "pipx" in Path(sys.prefix).parts:
        how = f"pipx inject {Path(sys.prefix).name} {shlex.quote(package)}"
    else:
        how = f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(package)}"
    raise SystemExit(
        f"sigv4-inspector needs {missing}, which is not installed for this mitmproxy: {how}"
    ) from None
