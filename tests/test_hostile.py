"""Hostile input (issue 18): secrets never leak from any output, whatever the server echoes;
work and output stay bounded whatever the request; a broken report file never breaks
traffic. Each case asserts counts, sizes and order, never times (the costs are in
bench/hostile.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.test import taddons, tflow, tutils

from sigv4_inspector.addon import make_addons
from sigv4_inspector.addon.view import VIEW
from sigv4_inspector.core import keys
from sigv4_inspector.core.model import Credential
from sigv4_testsupport.addonharness import flow_for as harness_flow_for
from sigv4_testsupport.signing import capture

AKID = "ASIAQWERTYUIOPEXAMPL"
SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token+with=="
    "/slashes+and+plus=" + "Zm9vYmFy" * 40
)
OTHER_TOKEN = "AgoGb3JpZ2luEHoaCXVzLWVhc3QtMSJGMEQCIBqExampleOtherToken/+/+abcdefgh0123456789" * 3
GRAM = 9


def forms(secret: str) -> list[str]:
    """A secret as outputs could carry it: raw, percent-encoded, JSON-escaped."""
    from urllib.parse import quote

    return [secret, quote(secret, safe=""), json.dumps(secret)[1:-1], secret.replace("/", "\\/")]


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Every run of more than 8 characters of a secret found in ``text`` (report.md)."""
    found = []
    for secret in secrets:
        for form in forms(secret):
            for i in range(len(form) - GRAM + 1):
                if form[i : i + GRAM] in text:
                    found.append(form[i : i + GRAM])
                    break
    return found


def signing_material(req: Any) -> list[str]:
    """The derived signing key and the signature the tool computes, as hex."""
    from sigv4_inspector.core.authparse import parse_auth

    auth = parse_auth(req)
    assert auth.scope is not None
    key = keys.signing_key(SECRET, auth.scope.date, auth.scope.region or "", auth.scope.service)
    return [key.hex()]


class Proxy:
    """The addon as mitmproxy loads it, driven hook by hook, with its outputs collected."""

    def __init__(self, tmp: Path) -> None:
        self.addons = make_addons()
        self.state = self.addons[0].state
        self.report = tmp / "report.jsonl"

    def run(self, flows: list[Any], caplog: Any) -> str:
        """All the addon wrote for these flows: report, metadata, comments, log, views."""
        with taddons.context(*self.addons) as tctx:
            tctx.configure(self.addons[0], sigv4_report=str(self.report))
            self.state.store.add(Credential(AKID, SECRET, TOKEN, source="profile:hostile"))
            self.state.credentials_ready = True
            for f in flows:
                for hook in ("requestheaders", "request", "response"):
                    for a in self.addons:
                        if hasattr(a, hook):
                            getattr(a, hook)(f)
            views = []
            from mitmproxy import contentviews

            for f in flows:
                if "sigv4" in f.metadata:
                    md = contentviews.Metadata(flow=f, http_message=f.request)
                    views.append(VIEW.prettify(b"", md))
            commands = next(a for a in self.addons if type(a).__name__ == "Commands")
            commands.explain(flows)
            commands.summary()
            for a in self.addons:
                if hasattr(a, "done"):
                    a.done()
        out = [self.report.read_text() if self.report.exists() else ""]
        out += [json.dumps(f.metadata.get("sigv4")) + (f.comment or "") for f in flows]
        out += views + [caplog.text]
        return "\n".join(out)


def signed_request(service: str = "s3") -> Any:
    if service == "s3":
        return capture(
            "s3", lambda c: c.get_object(Bucket="b", Key="k"), key=AKID, secret=SECRET, token=TOKEN
        )
    return capture("dynamodb", lambda c: c.list_tables(), key=AKID, secret=SECRET, token=TOKEN)


def flow_for(wire: Any, status: int, body: bytes, ctype: str = "application/xml") -> Any:
    return harness_flow_for(wire, status, body, ctype)


def s3_echo(creq: str, extra: str = "") -> bytes:
    return (
        "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
        f"does not match</Message><CanonicalRequest>{creq}</CanonicalRequest>{extra}"
        "<RequestId>X</RequestId></Error>"
    ).encode()


# Echo shapes a server (or a hostile one) sends back, with the secrets placed in them.
def echo_shapes(creq: str) -> list[tuple[int, bytes, str]]:
    lines = creq.split("\n")
    return [
        (403, s3_echo(creq), "application/xml"),  # the whole echo
        (403, s3_echo("\n".join(lines[:3])), "application/xml"),  # short
        (403, s3_echo(creq[: len(creq) // 2]), "application/xml"),  # truncated mid-token
        (403, s3_echo(creq + "\nextra-line:" + TOKEN), "application/xml"),  # extra line
        (403, s3_echo(creq, f"<Token-0>{TOKEN}</Token-0>"), "application/xml"),  # token echo
        (
            400,
            json.dumps(
                {
                    "__type": "InvalidSignatureException",
                    "message": "The Canonical String for this request should have been\n'"
                    + creq
                    + "'\nwith "
                    + SECRET,
                }
            ).encode(),
            "application/x-amz-json-1.0",
        ),
        (
            403,
            (
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>"
                f"<Message>The security token {TOKEN[:200]} included in the request is invalid"
                "</Message></Error></ErrorResponse>"
            ).encode(),
            "text/xml",
        ),
    ]


def test_no_secret_leaks_from_any_echo_shape(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="sigv4")
    req = signed_request()
    from sigv4_inspector.core.verify import verify

    v = verify(req, _keyring())
    creq = v.canonical_request or ""
    assert TOKEN.replace("/", "%2F") in creq or TOKEN in creq
    flows = [flow_for(req, st_, body, ct) for st_, body, ct in echo_shapes(creq)]
    # the token sent twice (HEADER_MODIFIED evidence keeps both values), and only in the query
    twice = flow_for(req, 403, s3_echo(creq))
    twice.request.headers.add("X-Amz-Security-Token", OTHER_TOKEN)
    flows.append(twice)
    out = Proxy(tmp_path).run(flows, caplog)
    assert all("sigv4" in f.metadata for f in flows)
    found = leaks(out, [SECRET, TOKEN, OTHER_TOKEN, *signing_material(req)])
    assert not found, found


def _keyring() -> Any:
    from sigv4_inspector.core.model import DictKeyring

    return DictKeyring([Credential(AKID, SECRET, TOKEN, source="test")])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    where=st.sampled_from(["message", "creq", "header", "extra", "code"]),
    cut=st.integers(min_value=0, max_value=400),
    start=st.integers(min_value=0, max_value=300),
    which=st.sampled_from(["secret", "token"]),
)
def test_property_secret_fragments_anywhere_in_an_echo(
    where: str, cut: int, start: int, which: str
) -> None:
    """Any fragment of a secret or token, anywhere in a server's answer, is gone from every
    output: the record, the comment, the terminal line and the breakdown pass the scrubber
    exactly as the addon's sinks do (sigv4_inspector.addon.inspector.Inspector.annotate)."""
    from sigv4_inspector.core.explain import explain_record
    from sigv4_inspector.core.inspect import inspect_request, parse_response
    from sigv4_inspector.core.redact import Scrubber

    secret = SECRET if which == "secret" else TOKEN
    fragment = secret[start % len(secret) :][: max(GRAM, cut)]
    req = signed_request("dynamodb")
    fields: dict[str, Any] = {"__type": "X#AccessDeniedException", "message": "no"}
    if where == "message":
        fields["message"] = f"no {fragment} x"
    elif where == "creq":
        fields["__type"] = "InvalidSignatureException"
        fields["message"] = (
            "The Canonical String for this request should have been\n"
            f"'POST\n/\n\nx:{fragment}\n\nx\nabc'"
        )
    elif where == "extra":
        fields["k"] = fragment
    elif where == "code":
        fields["__type"] = fragment
    headers = [("Content-Type", "application/x-amz-json-1.0")]
    if where == "header":
        headers.append(("X-Echo", fragment))
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    resp = parse_response(403, headers, json.dumps(fields).encode())
    insp = inspect_request(
        req,
        _keyring(),
        flow_id="t",
        url="https://x" + req.target,
        seen_at=now,
        now=now,
        response=resp,
    )
    scrub = Scrubber([SECRET, TOKEN]).text
    line = scrub(insp.line)
    out = "\n".join([line, scrub(insp.comment), scrub(explain_record(json.loads(line)))])
    assert not leaks(out, [SECRET, TOKEN])


def test_twenty_thousand_signed_headers_give_a_bounded_record() -> None:
    from sigv4_inspector.core.inspect import inspect_request

    base = capture("dynamodb", lambda c: c.list_tables())
    names = [f"x-h{i}" for i in range(20000)]
    authz = base.header("authorization") or ""
    signed = authz.split("SignedHeaders=")[1].split(",")[0]
    authz = authz.replace(signed, ";".join(sorted([*signed.split(";"), *names])))
    headers = [(k, authz if k.lower() == "authorization" else v) for k, v in base.headers] + [
        (n, "v") for n in names[:10000]
    ]  # half of them sent
    req = type(base).build(base.method, base.target, headers, base.body)
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    from sigv4_inspector.core.model import DictKeyring
    from sigv4_testsupport.signing import AKID as KEY
    from sigv4_testsupport.signing import SECRET as KEY_SECRET

    insp = inspect_request(
        req,
        DictKeyring([Credential(KEY, KEY_SECRET)]),
        flow_id="t",
        url="https://x/",
        seen_at=now,
        now=now,
    )
    assert len(insp.line.encode()) < 64 << 10
    assert len(insp.findings) <= 50
    assert insp.verification.verdict == "invalid"


def test_a_30000_line_echo_gives_a_bounded_record() -> None:
    from sigv4_inspector.core.inspect import inspect_request, parse_response

    req = signed_request("dynamodb")
    echo = "POST\n/\n\n" + "\n".join(f"x-h{i}:{i}" for i in range(30000)) + "\n\nhost\nabc"
    body = json.dumps(
        {
            "__type": "InvalidSignatureException",
            "message": f"The Canonical String for this request should have been\n'{echo}'",
        }
    ).encode()
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    resp = parse_response(400, [("Content-Type", "application/x-amz-json-1.0")], body)
    insp = inspect_request(
        req, _keyring(), flow_id="t", url="https://x/", seen_at=now, now=now, response=resp
    )
    assert len(insp.line.encode()) < 64 << 10
    assert 0 < len(insp.findings) <= 50
    diff = next(f for f in insp.findings if f.code == "SERVER_CANONICAL_DIFF")
    assert "more differences" in diff.message


def test_report_on_a_full_disk_warns_once_and_counts_what_was_lost(
    tmp_path: Path, caplog: Any
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    caplog.set_level(logging.INFO, logger="sigv4")
    from sigv4_inspector.runtime.reportfile import ReportFile, ReportPathError

    with pytest.raises(ReportPathError):  # a special file is an option error
        ReportFile("/dev/full")
    rf = ReportFile(str(tmp_path / "r.jsonl"))
    import os

    os.dup2(os.open("/dev/full", os.O_WRONLY), rf._fd)  # type: ignore[arg-type]  # the disk fills up
    for i in range(200):
        rf.write(json.dumps({"i": i}))
    rf.close()
    assert rf.error is not None and "No space left" in rf.error
    assert rf.lost == 200 and rf.written == 0


def test_report_path_that_is_a_folder_is_one_error_line(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="sigv4")
    addons = make_addons()
    with taddons.context(*addons) as tctx:
        tctx.configure(addons[0], sigv4_report=str(tmp_path))
    assert "is a folder" in caplog.text and "Traceback" not in caplog.text


def test_a_hung_credential_process_never_holds_up_traffic(tmp_path: Path) -> None:
    """The default profile's credential_process hangs: the proxy serves traffic at once; the
    flow that needs those credentials is recorded unverified once the timeout passes, with a
    finding that names the profiles and the timeout; SIGTERM ends the proxy (its duration is
    measured in bench/hostile.py, not here)."""
    import signal
    import subprocess

    from sigv4_testsupport import fakeaws
    from sigv4_testsupport.proxyharness import clean_aws_env, local_client, start_mitmdump

    env = clean_aws_env(tmp_path)
    (tmp_path / "aws-config").write_text(
        "[default]\ncredential_process = sleep 600\nregion = us-east-1\n"
    )
    from sigv4_testsupport.signing import AKID as KEY
    from sigv4_testsupport.signing import SECRET as KEY_SECRET

    server = fakeaws.start_fakeaws(tmp_path / "certs", credentials={KEY: KEY_SECRET})
    proxy = start_mitmdump(tmp_path, "--set", "sigv4_credential_timeout=2", env=env, save=False)
    try:
        ddb = local_client(
            "dynamodb", server.https_port, proxy.url, proxy.ca, key=KEY, secret=KEY_SECRET
        )
        ddb.list_tables()  # served while the credential process hangs
        (rec,) = proxy.wait_records(1, timeout=30)
        assert rec["verdict"] == "unverified"
        f = next(x for x in rec["findings"] if x["code"] == "UNKNOWN_ACCESS_KEY")
        assert "did not load within 2 s" in f["message"], f
        ddb.close()  # no connection left open at shutdown (asyncio prints a traceback)
        proxy.proc.send_signal(signal.SIGTERM)
        assert proxy.proc.wait(timeout=30) is not None
        out = proxy.output()
        assert "Traceback" not in out, out[-3000:]
    finally:
        if proxy.proc.poll() is None:
            proxy.proc.kill()
        server.stop()
        subprocess.run(["pkill", "-f", "sleep 600"], check=False)


def test_a_bundle_scrubs_secrets_the_flows_themselves_carry(tmp_path: Path) -> None:
    """A bundle made from saved flows alone (no running addon, no keyring): the credentials
    an STS answer in the file issued, and the IMDSv2 token a request carried, are known to
    the bundle's scrubber, so a later echo of them (raw, percent-encoded or in a header) is
    gone from the .mitm, the HAR and SUMMARY.md, and every file is 0600."""
    from sigv4_inspector.addon.bundle import main as bundle_main

    issued_secret = "Zt8q/Yk2mWv9+Lp3Rr7sUx0NcEa1BdFgHiJkLmNo"
    issued_token = "FwoGZXIvYXdzEXAMPLEissued/token+" + "QmFy" * 60
    imds_token = "AQAEAExampleImdsV2TokenValue0123456789abcdefghijklmnop=="
    sts_body = (
        "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
        f"<AccessKeyId>ASIAISSUEDEXAMPLE123</AccessKeyId><SecretAccessKey>{issued_secret}"
        f"</SecretAccessKey><SessionToken>{issued_token}</SessionToken>"
        "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
        "</AssumeRoleResponse>"
    ).encode()
    sts = tflow.tflow(
        req=tutils.treq(host="sts.amazonaws.com", path=b"/", method=b"POST"),
        resp=tutils.tresp(status_code=200, content=sts_body),
    )
    imds = tflow.tflow(
        req=tutils.treq(host="169.254.169.254", path=b"/latest/meta-data/iam/x", method=b"GET"),
        resp=tutils.tresp(status_code=200, content=b"{}"),
    )
    imds.request.headers["X-aws-ec2-metadata-token"] = imds_token
    from urllib.parse import quote

    echo = tflow.tflow(
        req=tutils.treq(host="example.com", path=f"/debug?s={quote(issued_secret)}".encode()),
        resp=tutils.tresp(
            status_code=500,
            content=json.dumps(
                {"debug": f"secret={issued_secret} token={issued_token[40:120]}"}
            ).encode(),
        ),
    )
    assert echo.response is not None
    echo.response.headers["X-Debug"] = imds_token[5:30]
    echo.comment = f"copied {issued_secret}"
    from mitmproxy import io as mio

    src = tmp_path / "flows.mitm"
    with open(src, "wb") as fh:
        w = mio.FlowWriter(fh)
        for f in (sts, imds, echo):
            w.add(f)
    out = tmp_path / "bundle"
    assert bundle_main([str(src), "-o", str(out), "--no-credentials"]) == 0
    files = sorted(out.iterdir())
    assert {p.name for p in files} == {"flows.redacted.mitm", "flows.har", "SUMMARY.md"}
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o600, p
        text = p.read_bytes().decode("utf-8", "surrogateescape")
        found = leaks(text, [issued_secret, issued_token, imds_token])
        assert not found, (p.name, found)


_LONG_LIVED = None  # one scrubber across examples: its cache of clean runs is exercised


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(
            [
                "x-amz-date",
                "host",
                "GET",
                "/bucket/key%20a",
                "prefix=a%2Fb",
                "\\n",
                '\\"',
                "eyJhbGciOi",
                "ok:",
                "aws4_request",
            ]
        ),
        max_size=12,
    ),
    start=st.integers(min_value=0, max_value=300),
    cut=st.integers(min_value=0, max_value=60),
    form=st.sampled_from(["raw", "percent", "json", "none"]),
    which=st.sampled_from(["secret", "token"]),
    glue=st.sampled_from([" ", "", "=", "/", ":"]),
)
def test_property_the_scrubber_leaves_no_window_whatever_it_saw_before(
    words: list[str], start: int, cut: int, form: str, which: str, glue: str
) -> None:
    """The scrubber remembers runs it found clean, and looks at a text's new runs in one
    pass: whatever texts came before, no 9-character window of a secret, raw, percent-encoded
    or JSON-escaped, glued to any word, survives (report.md)."""
    from urllib.parse import quote

    from sigv4_inspector.core.redact import Scrubber

    global _LONG_LIVED
    if _LONG_LIVED is None:
        _LONG_LIVED = Scrubber([SECRET, TOKEN])
    secret = SECRET if which == "secret" else TOKEN
    fragment = secret[start % len(secret) :][: max(GRAM, cut)]
    shown = {
        "raw": fragment,
        "percent": quote(fragment, safe=""),
        "json": json.dumps(fragment)[1:-1].replace("/", "\\/"),
        "none": "",
    }[form]
    text = glue.join([*words[:6], shown, *words[6:]])
    out = _LONG_LIVED.text(text)
    assert not leaks(out, [SECRET, TOKEN])
    assert _LONG_LIVED.text(text) == out  # the same text, seen again, comes out the same


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        # (no word repeated makes a window of a secret by itself: the token holds ten '/')
        st.sampled_from(["x-amz-date", "a\\b", "\n", '"', "\t", "C:\\", "a%2Fb", "é", "a/b", " "]),
        max_size=12,
    ),
    start=st.integers(min_value=0, max_value=300),
    cut=st.integers(min_value=0, max_value=60),
    which=st.sampled_from(["secret", "token"]),
    slash=st.booleans(),
)
def test_property_a_record_line_scrubbed_as_json_leaks_nothing_as_written_or_decoded(
    words: list[str], start: int, cut: int, which: str, slash: bool
) -> None:
    """The record line is scrubbed as JSON (its runs cut as JSON reads them, one reading
    instead of two): no 9-character window of a secret survives in the line as written nor
    in the string it decodes to, whatever escapes surround the fragment."""
    from sigv4_inspector.core.redact import Scrubber

    global _LONG_LIVED
    if _LONG_LIVED is None:
        _LONG_LIVED = Scrubber([SECRET, TOKEN])
    secret = SECRET if which == "secret" else TOKEN
    fragment = secret[start % len(secret) :][: max(GRAM, cut)]
    value = "".join([*words[:6], fragment, *words[6:]])
    line = json.dumps({"v": value}, ensure_ascii=True)
    if slash:
        line = line.replace("/", "\\/")  # a JSON writer that escapes "/"
    out = _LONG_LIVED.text(line, json=True)
    assert not leaks(out, [SECRET, TOKEN])
    try:
        decoded = json.loads(out)
    except ValueError:
        return  # the annotator then scrubs value by value (tested below)
    assert not leaks(decoded["v"], [SECRET, TOKEN])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\\", b"n", b"r", b"t", b'"', b"a", b"/"]), max_size=16))
def test_property_json_breaks_as_the_regex_makes_them(parts: list[bytes]) -> None:
    """The scrubber's C-speed JSON-escape pass gives what the regex it replaced gives."""
    import re

    from sigv4_inspector.core.redact import _json_breaks

    data = b"".join(parts)
    assert _json_breaks(data) == re.sub(rb'\\[\\nrt"]', b"  ", data)


def test_a_compressed_error_body_is_decoded_only_up_to_the_limit(tmp_path: Path) -> None:
    """A 65 KB gzip error body that inflates to 64 MiB: the capture decodes its first MiB
    only (it never inflates the rest on the event loop), and the flow gets its record."""
    import gzip

    from sigv4_inspector.addon.capture import ERROR_BODY_LIMIT, bounded_decode

    bomb = gzip.compress(s3_echo("x") + b" " * (64 << 20), 9)
    assert len(bomb) < 1 << 20
    got = bounded_decode(bomb, "gzip", ERROR_BODY_LIMIT)
    assert got is not None and len(got) == ERROR_BODY_LIMIT and got.startswith(b"<Error>")
    f = flow_for(signed_request("s3"), 403, b"")
    f.response.headers["Content-Encoding"] = "gzip"
    f.response.raw_content = bomb
    proxy = Proxy(tmp_path)
    capture_addon = next(a for a in proxy.addons if type(a).__name__ == "Capture")
    with taddons.context(*proxy.addons):
        cap = capture_addon.take(f)
    assert cap is not None and cap.response_body is not None
    assert len(cap.response_body) == ERROR_BODY_LIMIT


def test_scrubbing_never_breaks_the_record_nor_misses_a_fragment_beside_an_escape(
    tmp_path: Path, caplog: Any
) -> None:
    """A secret whose replacement ends right before an escaped quote leaves the record valid
    JSON (scrubbed value by value); a fragment right after a backslash or a percent sign,
    in JSON or in plain text, is still found (review findings)."""
    from sigv4_inspector.core.redact import Scrubber

    sc = Scrubber([SECRET])
    rec = {"evidence": {"value_here": f'key="{SECRET}"'}}
    assert not leaks(json.dumps(sc.value(rec)), [SECRET])
    frag = SECRET[SECRET.index("t") :][:10]  # a fragment that starts with 't'
    for text in (f"C:\\{frag} end", json.dumps(f"C:\\{frag}"), f"value=%{frag[:9]}x"):
        assert not leaks(sc.text(text), [SECRET]), text
    # end to end: a signed header whose value looks like a token header and ends in a quote
    wire = capture(
        "s3",
        lambda c: c.get_object(
            Bucket="b", Key="k", SSECustomerAlgorithm='x-amz-security-token: abcdefghijkl"'
        ),
        key=AKID,
        secret=SECRET,
        token=TOKEN,
    )
    f = flow_for(wire, 200, b"")
    out = Proxy(tmp_path).run([f], caplog)
    assert "could not annotate" not in caplog.text
    assert f.metadata.get("sigv4") and (tmp_path / "report.jsonl").read_text().count("\n") == 1
    assert not leaks(out, [SECRET, TOKEN])
