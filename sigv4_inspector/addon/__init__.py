"""The mitmproxy addons, one class per concern, the way mitmproxy's own are cut:

- :class:`~sigv4_inspector.addon.options.Options`: the sigv4_* options, checked;
- :class:`~sigv4_inspector.addon.credentials.Credentials`: the user's credentials, loaded
  off the event loop;
- :class:`~sigv4_inspector.addon.capture.Capture`: the request as the client sent it, and
  what the proxy changed;
- :class:`~sigv4_inspector.addon.tap.StreamTap`: streamed uploads verified as they pass;
- :class:`~sigv4_inspector.addon.learner.Learner`: temporary credentials from responses;
- :class:`~sigv4_inspector.addon.inspector.Inspector`: inspect and annotate each flow;
- :class:`~sigv4_inspector.addon.report.Report`: the JSON report;
- :class:`~sigv4_inspector.addon.prove.Prove`: sigv4.prove (replay with only the change
  the diagnosis names);
- :class:`~sigv4_inspector.addon.commands.Commands`: sigv4.summary, explain, export,
  bundle, reverify;
- :class:`~sigv4_inspector.addon.view.View`: the "AWS Signature" content view.

``mitmdump -s addons/sigv4.py`` (or ``-s "$(sigv4-inspector addon-path)"``) loads
:func:`make_addons`'s list.
"""

from __future__ import annotations

from typing import Any

from sigv4_inspector.addon.capture import Capture
from sigv4_inspector.addon.commands import Commands
from sigv4_inspector.addon.credentials import Credentials
from sigv4_inspector.addon.inspector import Inspector
from sigv4_inspector.addon.learner import Learner
from sigv4_inspector.addon.options import Options
from sigv4_inspector.addon.prove import Prove
from sigv4_inspector.addon.report import Report
from sigv4_inspector.addon.state import State
from sigv4_inspector.addon.tap import StreamTap
from sigv4_inspector.addon.view import View


def make_addons(state: State | None = None) -> list[Any]:
    """The addons in the order their hooks must run (options first, capture before any
    hook that reads the request, the learner before the inspector, the report after it)."""
    state = state or State()
    capture = Capture()
    tap = StreamTap(state)
    report = Report(state)
    credentials = Credentials(state)
    inspector = Inspector(state, capture, tap, report, credentials)
    return [
        Options(state),
        credentials,
        capture,
        tap,
        Learner(state),
        inspector,
        Prove(state),  # after the inspector: a proof's replay is annotated last
        Commands(state, inspector),
        report,  # last: at exit it closes the report after the last records are written
        View(state),
    ]
