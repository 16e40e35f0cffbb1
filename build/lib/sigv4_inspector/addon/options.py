"""The sigv4_* options: declared in ``load``, parsed and validated in ``configure``.

Booleans are declared as strings and parsed here: with a ``bool`` option, a typo such as
``--set sigv4_quiet=ture`` fails inside mitmproxy while the script loads, so the script
silently never loads. Parsed here, the typo stops mitmproxy with a sentence naming the
option. A misspelt option name (``--set sigv4_stream_verfy=false``) is refused too, with
the list of real ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions
from mitmproxy.utils import human

from sigv4_inspector.addon.state import Settings, State

log = logging.getLogger("sigv4")

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")

# name, type, default, help
OPTIONS: tuple[tuple[str, Any, Any, str], ...] = (
    ("sigv4_report", str, "", "Append one JSON line per AWS flow to this file (created 0600)."),
    (
        "sigv4_profiles",
        Sequence[str],
        [],
        "Only use these AWS profiles' credentials (default: the default chain and every profile).",
    ),
    (
        "sigv4_credentials",
        Sequence[str],
        [],
        "Extra credentials files (shared-credentials INI format) to verify with.",
    ),
    (
        "sigv4_credential_timeout",
        str,
        "10",
        "Seconds to wait for credentials that need a process or the network "
        "(credential_process, SSO, assume-role); flows that need them are then unverified.",
    ),
    (
        "sigv4_learn",
        str,
        "true",
        "Learn temporary credentials from STS, IMDS, container and SSO responses (true/false).",
    ),
    (
        "sigv4_quiet",
        str,
        "false",
        "Do not print a line per AWS flow; the report and annotations stay (true/false).",
    ),
    (
        "sigv4_stream_threshold",
        str,
        "16m",
        "Verify AWS uploads larger than this (aws-chunked, or any when stream_large_bodies is "
        "set) while they stream, without buffering them.",
    ),
    (
        "sigv4_stream_verify",
        str,
        "true",
        "Verify the bodies of streamed uploads as they pass (true/false); false streams them "
        "through at full speed and checks only their seed signature.",
    ),
)


def parse_bool(name: str, value: str) -> bool:
    v = str(value).strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise exceptions.OptionsError(f"{name}: {value!r} is not true or false")


def parse_seconds(name: str, value: str) -> float:
    try:
        v = float(str(value).strip().rstrip("s"))
    except ValueError:
        raise exceptions.OptionsError(f"{name}: {value!r} is not a number of seconds") from None
    if not 0 < v <= 3600:
        raise exceptions.OptionsError(f"{name}: {value!r} must be between 0 and 3600 seconds")
    return v


class Options:
    """Declares and checks the sigv4_* options; the other addons read ``state.settings``.

    A bad value at start-up is logged as one error line (mitmdump then exits: it stops on
    any error logged while starting) rather than raised: mitmproxy prints an exception
    raised in a script with its traceback. Once running, a bad value is refused with
    OptionsError, which mitmproxy shows and undoes."""

    name = "sigv4_options"

    def __init__(self, state: State) -> None:
        self.state = state
        self.started = False

    def load(self, loader: Any) -> None:
        for name, typ, default, text in OPTIONS:
            loader.add_option(name, typ, default, text)

    def running(self) -> None:
        self.started = True

    def configure(self, updated: set[str]) -> None:
        try:
            self._configure(updated)
        except exceptions.OptionsError as exc:
            if self.started:
                raise
            log.error("sigv4: %s", exc)
            self.state.settings.report = ""  # nothing half-configured is used

    def _configure(self, updated: set[str]) -> None:
        opts = ctx.options
        # mitmproxy keeps --set values for options nobody registered: a misspelt sigv4
        # option would otherwise be ignored silently
        misspelt = sorted(k for k in getattr(opts, "deferred", {}) if k.startswith("sigv4"))
        if misspelt:
            known = ", ".join(name for name, *_ in OPTIONS)
            raise exceptions.OptionsError(
                f"unknown option(s) {', '.join(misspelt)}; sigv4 options are: {known}"
            )
        if not any(name in updated for name, *_ in OPTIONS) and updated:
            return
        try:
            threshold = human.parse_size(opts.sigv4_stream_threshold) or 0
        except ValueError as exc:
            raise exceptions.OptionsError(f"sigv4_stream_threshold: {exc}") from exc
        for path in opts.sigv4_credentials:
            if not Path(path).expanduser().is_file():
                raise exceptions.OptionsError(f"sigv4_credentials: no such file: {path}")
        if opts.sigv4_report:
            from sigv4_inspector.runtime.reportfile import ReportPathError, check_path

            try:
                check_path(opts.sigv4_report)
            except ReportPathError as exc:
                raise exceptions.OptionsError(f"sigv4_report: {exc}") from None
        self.state.settings = Settings(
            report=opts.sigv4_report,
            profiles=tuple(opts.sigv4_profiles),
            credential_files=tuple(opts.sigv4_credentials),
            credential_timeout=parse_seconds(
                "sigv4_credential_timeout", opts.sigv4_credential_timeout
            ),
            learn=parse_bool("sigv4_learn", opts.sigv4_learn),
            quiet=parse_bool("sigv4_quiet", opts.sigv4_quiet),
            stream_threshold=threshold,
            stream_verify=parse_bool("sigv4_stream_verify", opts.sigv4_stream_verify),
        )
