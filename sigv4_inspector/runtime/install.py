"""How mitmproxy was installed here, and the exact command that installs a missing module
beside it: what the addon prints when botocore (required) or awscrt (optional) is missing.

mitmproxy runs from a venv or the system Python (``python -m pip install``), from pipx
(``pipx inject mitmproxy``), or as a standalone binary, which cannot import third-party
packages at all (then the only route is to install mitmproxy with pip or pipx).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path


def route() -> str:
    """``standalone``, ``pipx`` or ``pip``."""
    if getattr(sys, "frozen", False):
        return "standalone"
    parts = Path(sys.prefix).resolve().parts
    if "pipx" in parts and "venvs" in parts:
        return "pipx"
    return "pip"


def install_command(*packages: str) -> str:
    """The command that installs ``packages`` where this mitmproxy imports from."""
    names = " ".join(shlex.quote(p) for p in packages)
    kind = route()
    if kind == "pipx":
        venv = Path(sys.prefix).name
        return f"pipx inject {shlex.quote(venv)} {names}"
    if kind == "standalone":
        return f"pipx install mitmproxy && pipx inject mitmproxy {names}"
    return f"{shlex.quote(sys.executable)} -m pip install {names}"


def missing_module_line(module: str, package: str | None = None) -> str:
    """One line: what is missing and the command for the route in use."""
    package = package or module
    if route() == "standalone":
        return (
            f"sigv4-inspector needs the Python package {package}, and mitmproxy's standalone "
            "binary cannot load third-party packages: install mitmproxy with pipx or pip "
            f"instead ({install_command(package)})"
        )
    return (
        f"sigv4-inspector needs {package}, which is not installed for this mitmproxy "
        f"({sys.executable}): {install_command(package)}"
    )
