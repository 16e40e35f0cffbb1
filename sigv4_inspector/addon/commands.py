"""The sigv4.* commands: summary, explain, export, bundle and reverify."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from mitmproxy import command, ctx, flow, http, types
from mitmproxy.hooks import UpdateHook

from sigv4_inspector.addon.inspector import Inspector
from sigv4_inspector.addon.state import META_KEY, State
from sigv4_inspector.core.explain import explain_record

log = logging.getLogger("sigv4")


def summary_text(state: State, color: bool = False) -> str:
    """The verdict counts and, per finding code, how many flows and which (method, URL,
    status) as a table."""
    total = sum(state.counts.values())
    head = f"sigv4 summary: {total} AWS flow(s): " + ", ".join(
        f"{k} {n}" for k, n in sorted(state.counts.items())
    )
    if not state.codes:
        return head
    rows = []
    for code, n in state.codes.most_common():
        refs = list(state.flows_by_code.get(code, {}).values())
        shown = "; ".join(
            f"{r.method} {r.url[:100]}" + (f" -> {r.status}" if r.status else "") for r in refs[-3:]
        )
        rows.append((code, str(n), shown + (f" (+{n - 3} more)" if n > 3 else "")))
    try:
        from rich.table import Table
    except ImportError:  # rich is optional: a plain table
        width = max(len(c) for c, _, _ in rows)
        return "\n".join([head, *(f"  {c:<{width}}  {n:>5}  {s}" for c, n, s in rows)])
    import io

    from rich.console import Console

    table = Table()
    table.add_column("finding code")
    table.add_column("flows", justify="right")
    table.add_column("last flows (method, URL, status)")
    for row in rows:
        table.add_row(*row)
    buf = io.StringIO()
    Console(
        file=buf, force_terminal=color, width=200, color_system="standard" if color else None
    ).print(table)
    return head + "\n" + buf.getvalue().rstrip("\n")


class Commands:
    name = "sigv4_commands"

    def __init__(self, state: State, inspector: Inspector) -> None:
        self.state = state
        self.inspector = inspector

    def done(self) -> None:
        if sum(self.state.counts.values()):
            log.info(
                "%s", self.state.scrubber.text(summary_text(self.state, self.inspector.colored()))
            )

    @command.command("sigv4.summary")
    def summary(self) -> None:
        "Print the verdict counts and the flows behind each finding code."
        log.info("%s", self.state.scrubber.text(summary_text(self.state, self.inspector.colored())))

    @command.command("sigv4.explain")
    def explain(self, flows: Sequence[flow.Flow]) -> None:
        "Print the full SigV4 breakdown (auth, canonical request, string to sign, findings) of flows."
        for fl in flows:
            rec = fl.metadata.get(META_KEY)
            text = explain_record(rec) if rec else f"{fl.id}: no AWS signature record"
            log.info("%s", self.state.scrubber.text(text))

    @command.command("sigv4.export")
    def export(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        "Write the SigV4 records of flows to a file as JSON lines."
        from sigv4_inspector.runtime.reportfile import write_private

        scrub = self.state.scrubber.text  # records of older saved flows pass it too
        lines = [
            scrub(json.dumps(fl.metadata[META_KEY], ensure_ascii=True)) + "\n"
            for fl in flows
            if fl.metadata.get(META_KEY)
        ]
        write_private(Path(os.path.expanduser(path)), "".join(lines).encode())
        log.info("sigv4: wrote %d record(s) to %s", len(lines), path)

    @command.command("sigv4.bundle")
    def bundle(
        self, flows: Sequence[flow.Flow], path: types.Path, bodies: str = "redacted"
    ) -> None:
        "Write a redacted bug-report bundle (.mitm, HAR, SUMMARY.md) of flows into a folder; bodies: redacted (default) or none."
        from mitmproxy import exceptions

        from sigv4_inspector.addon.bundle import make_bundle

        if bodies not in ("redacted", "none"):
            raise exceptions.CommandError(
                f"sigv4.bundle: bodies must be 'redacted' (the default) or 'none', not {bodies!r}"
            )

        secrets = [
            x
            for c in self.state.store.all_credentials()
            for x in (c.secret_access_key, c.session_token or "")
        ] + list(self.state.seen_secrets)
        paths = make_bundle(
            flows, Path(os.path.expanduser(path)), bodies=bodies == "redacted", secrets=secrets
        )
        log.info("sigv4: bug-report bundle written: %s", ", ".join(str(p) for p in paths.values()))

    @command.command("sigv4.reverify")
    def reverify(self, flows: Sequence[flow.Flow]) -> None:
        "Verify flows again (e.g. after loading more credentials)."
        http_flows = [fl for fl in flows if isinstance(fl, http.HTTPFlow)]
        self.inspector.reinspect(http_flows)
        ctx.master.addons.trigger(UpdateHook(http_flows))
