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


def test_demo_prints_each_fix_whole(demo: tuple[Path, Any]) -> None:
    """Every fix the demo shows is a fix from the records, printed whole on one line (never
    wrapped or folded mid-word, as a table cell did: ``...=whe`` / ``n_required``), so it
    can be copied."""
    out, proc = demo
    summary = json.loads((out / "demo-summary.json").read_text())
    fixes_in_records = {
        f["fix"]
        for p in out.glob("proxy*/report.jsonl")
        for line in p.read_text().splitlines()
        if line.strip()
        for f in json.loads(line)["findings"]
        if f["fix"]
    }
    lines = proc.stdout.splitlines()
    shown = [row for row in summary if row["expect"]]
    assert len(shown) >= 10
    for row in shown:
        assert row["fix"], row
        assert row["fix"] in fixes_in_records, row
        assert any(row["fix"] in line for line in lines), f"fix cut or missing: {row['fix']!r}"
    # the fix the issue saw cut in two, whole on one line
    assert any("AWS_REQUEST_CHECKSUM_CALCULATION=when_required" in line for line in lines)


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


def _derived(flows: list[Any], secrets: set[str]) -> set[str]:
    """The keys derived from every secret seen for every scope seen (SigV4 signing keys,
    SigV4a private keys), in hex: they must never be shown either."""
    from sigv4_inspector.core import keys

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
    return derived


def _runs(value: str) -> set[bytes]:
    """The runs of a secret that must not appear anywhere, raw, percent-encoded and
    JSON-escaped: every window of 16 characters of a hex signature or key, and of 20 of a
    secret or token. (A token may show its first 8 characters; shorter windows collide by
    chance: session tokens are base64 of structured data, and 10 of their characters
    encode "us-east-1" exactly as the certificates in the .mitm file do.)"""
    from urllib.parse import quote

    n = 16 if re.fullmatch(r"[0-9a-f]+", value) else 20
    out = set()
    for form in {value, quote(value, safe=""), json.dumps(value)[1:-1]}:
        out |= {form[i : i + n].encode() for i in range(0, max(len(form) - n, 0) + 1)}
    return out


def _leaks(data: bytes, secrets: set[str]) -> list[str]:
    grams: dict[int, set[bytes]] = {}
    found = []
    for s in secrets:
        for run in _runs(s):
            have = grams.get(len(run))
            if have is None:
                have = grams[len(run)] = {
                    data[i : i + len(run)] for i in range(max(len(data) - len(run), 0) + 1)
                }
            if run in have:
                found.append(f"{s[:6]}... as {run[:4]!r}...")
                break
    return found


def test_bug_report_bundle_leaks_nothing(demo: tuple[Path, Any], tmp_path: Path) -> None:
    """Every byte of every file of the bundle, with and without bodies, is searched for
    every secret, token and signature that crossed the proxy and every key derived from
    the secrets; SUMMARY.md carries the versions, each flow's full URL (fingerprinted, not
    cut) and User-Agent, the canonical diff of failing flows, and says what became of the
    bodies. Every file is mode 0600."""
    import stat

    out, proc = demo
    from sigv4_inspector.addon import bundle as sigv4bundle

    flows = sigv4bundle.read_flows(out / "proxy" / "flows.mitm") + sigv4bundle.read_flows(
        out / "proxy-via-cdn" / "flows.mitm"
    )
    secrets = _secrets_in(flows)
    assert len(secrets) >= 20  # signatures of every request, STS secrets and tokens
    secrets |= _derived(flows, secrets)
    merged = tmp_path / "all.mitm"
    from mitmproxy import http, io

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
        for p in bundle.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))
        for name, data in files.items():
            leaks = _leaks(data, secrets)
            assert not leaks, f"{name} leaks a secret/token/signature/derived key: {leaks[:3]}"
        # the diagnosis stays, with what a bug report needs
        summary = files["SUMMARY.md"].decode()
        assert "SIGNED_HEADER_MISSING" in summary and "STS_GLOBAL_TOKEN_SIGV4A" in summary
        for name in ("sigv4-inspector", "mitmproxy", "botocore", "Python"):
            assert f"| {name} | " in summary, name
        assert "| botocore | not installed |" not in summary
        assert "Boto3/" in summary and "python-requests/" in summary  # client User-Agents
        assert "\u2260 content-type:text/csv" in summary  # the presigned PUT's canonical diff
        assert "\u2260 transfer-encoding:chunked" in summary  # the CDN hop's, from the echo
        for f in flows:
            rec = f.metadata.get("sigv4")
            if rec:
                assert f"{rec['method']} {rec['url']}`" in summary, rec["url"]  # whole
        if extra:
            assert "Bodies were dropped (`--no-bodies`)" in summary
        else:
            assert (
                "Bodies are kept, with credentials, session tokens and signatures removed"
                in summary
            )
        assert "POST_POLICY_CONDITION_FAILED" in summary
        red = sigv4bundle.read_flows(bundle / "flows.redacted.mitm")
        assert len(red) == len(flows)
        assert any(f.metadata.get("sigv4") and f.comment for f in red)
        with_body = [f for f in red if isinstance(f, http.HTTPFlow) and f.request.raw_content]
        assert bool(with_body) == (not extra)
        har = json.loads(files["flows.har"])
        assert len(har["log"]["entries"]) == len(flows)


def test_demo_records_carry_only_documented_evidence(demo: tuple[Path, Any]) -> None:
    """docs/record.md lists every evidence key the demo's real records carry."""
    from sigv4_inspector.recorddoc import undocumented

    out, _ = demo
    records = [
        json.loads(line)
        for p in out.glob("proxy*/report.jsonl")
        for line in p.read_text().splitlines()
        if line.strip()
    ]
    assert len(records) >= 15
    assert undocumented(records) == []


def test_no_secret_token_or_derived_key_in_any_output(demo: tuple[Path, Any]) -> None:
    """Secret hygiene over the whole end-to-end matrix: the demo's stdout/stderr, both
    mitmdump logs, the JSONL reports and every flow's comment and metadata hold no secret,
    session token, signature sent, or key derived from a secret (SigV4 signing keys,
    SigV4a private keys)."""
    from mitmproxy import http
    from mitmproxy import io as mio

    out, proc = demo
    flows: list[http.HTTPFlow] = []
    for sub in ("proxy", "proxy-via-cdn"):
        with open(out / sub / "flows.mitm", "rb") as fh:
            flows += [f for f in mio.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]
    secrets = _secrets_in(flows)
    derived = _derived(flows, secrets)
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
