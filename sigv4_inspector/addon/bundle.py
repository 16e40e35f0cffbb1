"""Bug-report bundles: turn saved flows into something safe to attach to an issue.

    sigv4-inspector bundle flows.mitm -o bundle/ [--no-bodies]
    (or scripts/bugreport, or inside mitmproxy:  :sigv4.bundle @all bundle/)

Writes ``bundle/flows.redacted.mitm`` (mitmproxy's format, with comments, markers and the
sigv4 records kept), ``bundle/flows.har`` (mitmproxy's own HAR export of the redacted
flows) and ``bundle/SUMMARY.md``: the versions (sigv4-inspector, mitmproxy, botocore,
awscrt, Python), every flow's full URL (signatures and tokens fingerprinted), status,
verdict, findings and client User-Agent, and for each failing flow its findings and its
canonical request beside the one it is compared with (the AWS Signature view's diff).
Signatures become fingerprints; session tokens, cookies and credential values in
STS/IMDS/ECS/SSO bodies are removed. Bodies are kept, redacted, unless ``--no-bodies``;
SUMMARY.md says which. Every file is created mode 0600.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import flow as mflow
from mitmproxy import http, io

from sigv4_inspector.core.redact import (
    Scrubber,
    redact_body,
    redact_headers,
    redact_target,
    redact_text,
)


def _set_headers(msg: http.Message, headers: list[tuple[str, str]]) -> None:
    msg.headers.clear()
    for k, v in headers:
        msg.headers.add(k, v)


def _hdrs(msg: http.Message) -> list[tuple[str, str]]:
    return [
        (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
        for k, v in msg.headers.fields
    ]


def redact_flow(
    f: http.HTTPFlow,
    *,
    bodies: bool = True,
    secrets: Sequence[str] = (),
    scrubber: Scrubber | None = None,
) -> http.HTTPFlow:
    """A redacted copy of one flow (the original is not touched): signatures fingerprinted,
    tokens, cookies and credential values removed, then every field passes the scrubber
    (the sink's last word: it knows every secret and token shape)."""
    scrub = scrubber or Scrubber(secrets)
    g: http.HTTPFlow = f.copy()
    g.request.path = scrub.text(redact_target(g.request.path))
    _set_headers(g.request, _scrubbed(scrub, redact_headers(_hdrs(g.request))))
    g.request.raw_content = (
        scrub.bytes(redact_body(g.request.raw_content or b"", secrets))
        if bodies and g.request.raw_content is not None
        else (None if g.request.raw_content is None else b"")
    )
    if g.response is not None:
        _set_headers(g.response, _scrubbed(scrub, redact_headers(_hdrs(g.response))))
        raw = g.response.raw_content
        if raw is not None and bodies:
            # decode so that credential values inside gzip'd bodies are found too
            try:
                content = g.response.get_content(strict=False) or b""
                g.response.headers.pop("content-encoding", None)
                g.response.raw_content = scrub.bytes(redact_body(content, secrets))
            except Exception:
                g.response.raw_content = b""
        elif raw is not None:
            g.response.raw_content = b""
    g.comment = scrub.text(redact_text(g.comment, secrets))
    if "sigv4" in g.metadata:
        text = redact_text(json.dumps(g.metadata["sigv4"]), secrets)
        g.metadata["sigv4"] = json.loads(scrub.text(text))
    return g


def _scrubbed(scrub: Scrubber, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(scrub.text(k), scrub.text(v)) for k, v in headers]


BODY_CHOICES = {
    True: "Bodies are kept, with credentials, session tokens and signatures removed from them "
    "(`--no-bodies`, or `:sigv4.bundle FLOWS DIR none`, drops them).",
    False: "Bodies were dropped (`--no-bodies`): only headers, URLs and the diagnosis are here.",
}
MAX_UA = 300  # characters of a User-Agent shown


def versions() -> list[tuple[str, str]]:
    """The versions a bug report needs: the tool, mitmproxy, botocore, awscrt, Python."""
    import platform
    from importlib import metadata

    from sigv4_inspector import __version__

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("sigv4-inspector", __version__),
        ("mitmproxy", dist("mitmproxy")),
        ("botocore", dist("botocore")),
        ("awscrt", dist("awscrt")),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("platform", platform.platform(terse=True)),
    ]


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    return " ".join(text.split()).replace("|", "\\|")


def _user_agent(f: http.HTTPFlow) -> str:
    ua = str(f.request.headers.get("user-agent", ""))
    return ua if len(ua) <= MAX_UA else ua[:MAX_UA] + f"... [{len(ua)} characters]"


def _failing(rec: dict[str, Any]) -> bool:
    return rec.get("verdict") == "invalid" or any(
        x.get("severity") == "error" for x in rec.get("findings") or []
    )


def _summary(flows: Sequence[http.HTTPFlow], *, bodies: bool = True) -> str:
    from sigv4_inspector.core.explain import comparison, side_by_side

    lines = [
        "# sigv4-inspector bug report",
        "",
        "Signatures are shown as fingerprints; session tokens, cookies and credentials were "
        "removed. " + BODY_CHOICES[bodies],
        "",
        "| software | version |",
        "|---|---|",
        *(f"| {name} | {_cell(ver)} |" for name, ver in versions()),
        "",
        "| # | request (signatures and tokens fingerprinted) | status | verdict | findings | client User-Agent |",
        "|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for i, f in enumerate(flows, 1):
        rec: dict[str, Any] = f.metadata.get("sigv4") or {}
        codes = ", ".join(x["code"] for x in rec.get("findings", [])) or "-"
        url = rec.get("url") or redact_target(f.request.pretty_url)
        method = rec.get("method", f.request.method)
        status = str(f.response.status_code) if f.response is not None else "-"
        ua = _user_agent(f)
        lines.append(
            f"| {i} | `{_cell(method)} {_cell(url)}` | {status} | {rec.get('verdict', 'not AWS')}"
            f" | {codes} | {_cell(ua) or '-'} |"
        )
        if not rec.get("findings"):
            continue
        details += [f"## {i}. {method} {url}", "", f"- status: {status}"]
        details.append(f"- client User-Agent: `{ua}`" if ua else "- client User-Agent: (none)")
        details.append("")
        for x in rec["findings"]:
            details.append(f"- **{x['code']}** ({x['severity']}): {x['message']}")
            if x.get("fix"):
                details.append(f"  - fix: {x['fix']}")
        details.append("")
        if _failing(rec):
            comp = comparison(rec)
            if comp is not None:
                details += [
                    "Canonical request compared (rows marked \u2260 differ):",
                    "",
                    "```",
                    *side_by_side(comp, 100),
                    "```",
                    "",
                ]
            elif rec.get("canonical_request"):
                details += [
                    "Canonical request as computed here (nothing to compare it with):",
                    "",
                    "```",
                    str(rec["canonical_request"]),
                    "```",
                    "",
                ]
    return "\n".join(lines + [""] + details)


def make_bundle(
    flows: Iterable[mflow.Flow], out_dir: Path, *, bodies: bool = True, secrets: Sequence[str] = ()
) -> dict[str, Path]:
    """Write the redacted .mitm, the HAR and the Markdown summary, each created mode 0600
    in a folder made 0700; returns their paths. One scrubber, knowing ``secrets`` and every
    secret and token the flows themselves carry (credential answers, token headers), is the
    last step of every byte written."""
    import os

    from mitmproxy.addons.savehar import SaveHar

    from sigv4_inspector.addon.learner import flow_secrets
    from sigv4_inspector.runtime.reportfile import open_private, write_private

    http_flows = [f for f in flows if isinstance(f, http.HTTPFlow)]
    known = [*secrets]
    for f in http_flows:
        known += flow_secrets(f)
    scrub = Scrubber(known)
    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    red = [redact_flow(f, bodies=bodies, secrets=known, scrubber=scrub) for f in http_flows]
    paths = {
        "mitm": out_dir / "flows.redacted.mitm",
        "har": out_dir / "flows.har",
        "summary": out_dir / "SUMMARY.md",
    }
    with os.fdopen(open_private(paths["mitm"], append=False), "wb") as fh:
        w = io.FlowWriter(fh)
        for f in red:
            w.add(f)
    har = SaveHar().make_har(red)
    write_private(paths["har"], scrub.text(json.dumps(har, indent=1)).encode())
    summary = scrub.text(_summary(red, bodies=bodies))
    write_private(paths["summary"], summary.encode("utf-8", "replace"))
    return paths


def user_secrets(timeout: float = 10.0) -> tuple[list[str], str]:
    """The secret keys and session tokens of the user's AWS configuration (the default
    credential chain, loaded off this thread with a timeout), so the bundle's scrubber knows
    them too; and a line saying what was used."""
    import threading

    from sigv4_inspector.runtime.credentials import CredentialLoader, LoadResult, import_botocore

    try:
        import_botocore()
    except ImportError:
        return [], "botocore is not installed: your AWS credentials were not read"
    done = threading.Event()
    got: list[LoadResult] = []

    def on_done(result: LoadResult) -> None:
        got.append(result)
        done.set()

    try:
        CredentialLoader(timeout).start(None, [], on_done)
    except Exception as exc:  # botocore missing: token shapes and flow secrets still work
        return [], f"your AWS credentials were not read ({type(exc).__name__})"
    if not done.wait(timeout) or not got:
        return [], f"your AWS credentials did not load within {timeout:.0f} s"
    creds = got[0].credentials
    out = [x for c in creds for x in (c.secret_access_key, c.session_token or "") if x]
    return out, f"{len(creds)} credential(s) of your AWS configuration are known to the scrubber"


def read_flows(path: Path) -> list[mflow.Flow]:
    with open(path, "rb") as fh:
        return list(io.FlowReader(fh).stream())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Make a shareable, redacted bug-report bundle from saved flows."
    )
    ap.add_argument("flows", type=Path, help="a .mitm file saved with mitmdump -w")
    ap.add_argument("-o", "--out", type=Path, default=Path("sigv4-bugreport"), help="output folder")
    ap.add_argument(
        "--no-credentials",
        action="store_true",
        help="do not read your AWS credentials (by default their secrets are removed too)",
    )
    ap.add_argument(
        "--no-bodies",
        action="store_true",
        help="drop request and response bodies (by default they are kept, redacted)",
    )
    args = ap.parse_args(argv)
    if not args.flows.is_file():
        print(f"bugreport: no such file: {args.flows}", file=sys.stderr)
        return 2
    try:
        flows = read_flows(args.flows)
    except Exception as exc:
        print(f"bugreport: {args.flows} is not a mitmproxy flow file ({exc})", file=sys.stderr)
        return 2
    secrets: list[str] = []
    if not args.no_credentials:
        secrets, note = user_secrets()
        print(f"bugreport: {note}")
    paths = make_bundle(flows, args.out, bodies=not args.no_bodies, secrets=secrets)
    print(f"bugreport: {len(flows)} flow(s) -> {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
