"""The README's first command works: the demo runs every scenario through a real mitmdump
and each is diagnosed with its expected finding code. Its saved flows then become a
bug-report bundle in which no secret, token or signature survives."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    return out, proc


def test_demo_diagnoses_every_scenario(demo: tuple[Path, Any]) -> None:
    out, proc = demo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "every scenario diagnosed as expected" in proc.stdout
    summary = json.loads((out / "demo-summary.json").read_text())
    assert len(summary) >= 12
    for row in summary:
        if row["expect"]:
            assert set(row["expect"]) & set(row["codes"]), row
        else:
            assert row["verdicts"] == ["valid"], row
    assert (out / "proxy" / "flows.mitm").stat().st_size > 0
    assert (out / "proxy" / "report.jsonl").read_text().count("\n") >= 15


def _secrets_in(flows: list[Any]) -> set[str]:
    """Every secret, token and signature that crossed the proxy in these flows."""
    from sigv4_inspector.core.learn import learn_from_response

    found = {SECRET}
    for f in flows:
        auth = f.request.headers.get("authorization", "")
        found |= set(re.findall(r"Signature=([0-9a-f]{64,})", auth))
        if auth.startswith("AWS "):
            found.add(auth.rpartition(":")[2])
        for key in ("X-Amz-Signature", "Signature", "X-Amz-Security-Token"):
            if f.request.query.get(key):
                found.add(f.request.query[key])
        if f.request.headers.get("x-amz-security-token"):
            found.add(f.request.headers["x-amz-security-token"])
        # an S3 POST upload's signature and token are form fields in the body
        found |= {
            m.group(1).decode()
            for m in re.finditer(
                rb'(?i)name="(?:x-amz-signature|signature|x-amz-security-token)"\r\n\r\n([^\r\n]+)',
                f.request.raw_content or b"",
            )
        }
        if f.response is not None:
            body = f.response.get_content(strict=False) or b""
            for c in learn_from_response(
                f.request.host,
                f.request.path,
                f.request.raw_content,
                f.response.status_code,
                list(f.response.headers.items()),
                body,
                __import__("datetime").datetime.now(),
            ):
                found.add(c.secret_access_key)
                if c.session_token:
                    found.add(c.session_token)
    return {s for s in found if len(s) >= 16}


def test_bug_report_bundle_leaks_nothing(demo: tuple[Path, Any], tmp_path: Path) -> None:
    out, proc = demo
    from sigv4_inspector.addon import bundle as sigv4bundle

    flows = sigv4bundle.read_flows(out / "proxy" / "flows.mitm") + sigv4bundle.read_flows(
        out / "proxy-via-cdn" / "flows.mitm"
    )
    secrets = _secrets_in(flows)
    assert len(secrets) >= 20  # signatures of every request, STS secrets and tokens
    merged = tmp_path / "all.mitm"
    from mitmproxy import io

    with open(merged, "wb") as fh:
        w = io.FlowWriter(fh)
        for f in flows:
            w.add(f)
    for extra in ([], ["--no-bodies"]):
        bundle = tmp_path / ("bundle" + "".join(extra))
        res = subprocess.run(
            [
                str(Path(sys.executable).parent / "sigv4-inspector"),
                "bundle",
                str(merged),
                "-o",
                str(bundle),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        files = {p.name: p.read_bytes() for p in bundle.iterdir()}
        assert set(files) == {"flows.redacted.mitm", "flows.har", "SUMMARY.md"}
        for name, data in files.items():
            for s in secrets:
                assert s.encode() not in data, f"{name} leaks a secret/token/signature ({s[:6]}...)"
        # the diagnosis stays
        summary = files["SUMMARY.md"].decode()
        assert "SIGNED_HEADER_MISSING" in summary and "STS_GLOBAL_TOKEN_SIGV4A" in summary
        assert "POST_POLICY_CONDITION_FAILED" in summary
        red = sigv4bundle.read_flows(bundle / "flows.redacted.mitm")
        assert len(red) == len(flows)
        assert any(f.metadata.get("sigv4") and f.comment for f in red)
        har = json.loads(files["flows.har"])
        assert len(har["log"]["entries"]) == len(flows)


def test_no_secret_token_or_derived_key_in_any_output(demo: tuple[Path, Any]) -> None:
    """Secret hygiene over the whole end-to-end matrix: the demo's stdout/stderr, both
    mitmdump logs, the JSONL reports and every flow's comment and metadata hold no secret,
    session token, signature sent, or key derived from a secret (SigV4 signing keys,
    SigV4a private keys)."""
    from mitmproxy import http
    from mitmproxy import io as mio

    from sigv4_inspector.core import keys

    out, proc = demo
    flows: list[http.HTTPFlow] = []
    for sub in ("proxy", "proxy-via-cdn"):
        with open(out / sub / "flows.mitm", "rb") as fh:
            flows += [f for f in mio.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]
    secrets = _secrets_in(flows)
    # derived keys for every scope seen, for every secret seen
    scopes = set()
    for f in flows:
        m = re.search(
            r"Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request",
            f.request.headers.get("authorization", ""),
        )
        if m:
            scopes.add((m.group(1), m.group(2), m.group(3), m.group(4)))
    derived = set()
    for s in [x for x in secrets if len(x) in (40, 44) or "/" in x]:
        for _akid, date, region, service in scopes:
            derived.add(keys.signing_key(s, date, region, service).hex())
        derived.add(
            f"{keys.sigv4a_private_key('AKIAIOSFODNN7EXAMPLE', s).private_numbers().private_value:064x}"
        )
    assert derived
    haystack = {
        "demo stdout": proc.stdout,
        "demo stderr": proc.stderr,
        **{
            f"{p.parent.name}/{p.name}": p.read_text(errors="replace")
            for p in out.glob("proxy*/mitmdump-*.log")
        },
        **{f"{p.parent.name}/report.jsonl": p.read_text() for p in out.glob("proxy*/report.jsonl")},
        "flow comments and metadata": "".join(f.comment + json.dumps(f.metadata) for f in flows),
    }
    assert len(haystack) >= 7
    for name, text in haystack.items():
        for s in secrets | derived:
            assert s not in text, (
                f"{name} leaks a secret, token, signature or derived key ({s[:6]}...)"
            )
