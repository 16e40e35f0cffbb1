"""The addon's hooks, options and commands with mitmproxy's test helpers (no sockets)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow, tutils

from sigv4_inspector.core.model import Credential, WireRequest
from sigv4_testsupport.addonharness import Sigv4, flow_for
from sigv4_testsupport.signing import AKID, SECRET, capture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def addon() -> Sigv4:
    return Sigv4()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nope-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nope-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


async def test_valid_invalid_and_report(addon: Sigv4, tmp_path: Path) -> None:
    a = addon
    report = tmp_path / "r.jsonl"
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        tctx.configure(a.addons[0], sigv4_report=str(report))
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        good = flow_for(capture("dynamodb", lambda c: c.list_tables()))
        a.cycle(good)
        wire = capture("dynamodb", lambda c: c.list_tables())
        bad = flow_for(wire)
        bad.request.headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteTable"
        a.requestheaders(bad)
        a.request(bad)
        a.response(bad)
        plain = tflow.tflow(resp=True)  # not AWS: untouched, unrecorded
        a.cycle(plain)
        from sigv4_inspector.addon.report import FLUSH_S

        await asyncio.sleep(FLUSH_S + 0.1)  # the report is flushed on a timer
        lines = [json.loads(x) for x in report.read_text().splitlines()]
    assert good.metadata["sigv4"]["verdict"] == "valid" and good.marked == "", good.comment
    assert bad.metadata["sigv4"]["verdict"] == "invalid" and bad.marked == ":x:"
    assert "SIGNATURE_MISMATCH" in bad.comment
    assert "sigv4" not in plain.metadata and plain.comment == ""
    assert [r["flow_id"] for r in lines] == [good.id, bad.id]
    assert set(lines[0]) >= {
        "flow_id",
        "time",
        "method",
        "url",
        "auth",
        "verdict",
        "credential_source",
        "canonical_request",
        "string_to_sign",
        "findings",
        "response",
    }
    assert SECRET not in report.read_text()


async def test_capture_failure_still_gives_a_record(
    addon: Sigv4, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while capturing the flow (here: in the proxy-change analysis) leaves an
    ``unverified`` CHECK_UNAVAILABLE record, not silence."""
    a = addon

    def boom(*args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("injected")

    with taddons.context(*a.addons):
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("dynamodb", lambda c: c.list_tables()))
        a.requestheaders(f)
        f.request.headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteTable"  # changed in the proxy
        import sigv4_inspector.addon.capture as capmod

        monkeypatch.setattr(capmod, "proxy_changes", boom)
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "unverified", rec
    assert [x["code"] for x in rec["findings"]] == ["CHECK_UNAVAILABLE"]


async def test_in_proxy_header_change_is_named(addon: Sigv4) -> None:
    a = addon
    from mitmproxy.addons import anticomp

    with taddons.context(*a.addons, anticomp.AntiComp()) as tctx:
        tctx.configure(a.addons[0], anticomp=True)
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        wire = capture("dynamodb", lambda c: c.list_tables())
        f = flow_for(wire)
        a.requestheaders(f)  # pristine snapshot
        f.request.headers["Accept-Encoding"] = "identity"  # what anticomp does
        f.request.headers["X-Amz-Target"] = "changed"  # a signed header changed by "another addon"
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid"  # valid as the client sent it ...
    mods = [x for x in rec["findings"] if x["code"] == "HEADER_MODIFIED"]
    assert mods and mods[0]["evidence"]["where"] == "in-proxy"  # ... broken upstream
    assert (
        mods[0]["evidence"]["header"] == "x-amz-target"
        and mods[0]["evidence"]["cause"] == "another addon"
    )


async def test_body_changed_by_modify_body_is_attributed_to_the_proxy(addon: Sigv4) -> None:
    """modify_body rewrites the body after our request hook: the request verifies as the
    client sent it, and the change is named with the option that made it."""
    from mitmproxy.addons import modifybody, proxyserver

    a = addon
    mb = modifybody.ModifyBody()
    with taddons.context(*a.addons, mb, proxyserver.Proxyserver()) as tctx:
        tctx.configure(mb, modify_body=["/~q/Limit/Lmt"])
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        wire = capture("dynamodb", lambda c: c.list_tables(Limit=5))
        f = flow_for(wire)
        f.live, resp, f.response = True, f.response, None
        a.requestheaders(f)
        a.request(f)  # scripts run before modifybody
        mb.request(f)
        f.response = resp
        assert f.request.raw_content == b'{"Lmt": 5}'
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid", rec["findings"]
    head = rec["headline"]
    assert head["code"] == "PAYLOAD_HASH_MISMATCH" and "modify_body option" in head["message"]
    assert rec["findings"][0]["evidence"]["where"] == "in-proxy"
    assert "SIGNATURE_MISMATCH" not in {x["code"] for x in rec["findings"]}


async def test_flows_read_from_a_har_file_say_the_bytes_may_be_lost(addon: Sigv4) -> None:
    """mitmproxy's HAR import keeps decoded text and drops Content-Encoding: a body that no
    longer matches its signature is the file's fault, not the client's."""
    from mitmproxy.io.har import request_to_flow

    a = addon
    wire = capture("dynamodb", lambda c: c.list_tables())
    entry = {
        "startedDateTime": "2026-12-06T10:00:00.000Z",
        "time": 5,
        "request": {
            "method": "POST",
            "url": "https://" + wire.host + wire.target,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in wire.headers],
            "postData": {"text": '{"decoded": "text"}'},
        },
        "response": {
            "status": 200,
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "content": {"text": ""},
        },
    }
    f = request_to_flow(entry)
    f.live = False
    with taddons.context(*a.addons):
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "invalid"
    assert rec["headline"]["code"] == "INPUT_LOST_BYTES"


async def test_unsigned_aws_endpoint_and_options(
    addon: Sigv4, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    a = addon
    options = a.addons[0]
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        f = tflow.tflow(req=tutils.treq(host="s3.amazonaws.com", path=b"/bucket/key"), resp=True)
        a.cycle(f)
        assert f.metadata["sigv4"]["verdict"] == "unsigned"
        assert any(x["code"] == "UNSIGNED_REQUEST" for x in f.metadata["sigv4"]["findings"])
        # while mitmproxy starts, a bad value is one error line (mitmdump then exits):
        # raised from a script, mitmproxy would print a traceback
        caplog.clear()
        tctx.configure(options, sigv4_quiet="ture")
        assert "sigv4: sigv4_quiet: 'ture' is not true or false" in caplog.text
        assert "Traceback" not in caplog.text
        tctx.configure(options, sigv4_report=str(tmp_path))
        assert "is a folder" in caplog.text
        tctx.configure(options, sigv4_report="", sigv4_quiet="false")
        options.running()  # once running, a bad value is refused (mitmproxy undoes it)
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(options, sigv4_credentials=["/no/such/file"])
        with pytest.raises(exceptions.OptionsError, match="sigv4_credential_timeout"):
            tctx.configure(options, sigv4_credential_timeout="soon")
        # a misspelt sigv4 option (kept by mitmproxy as deferred) is refused, naming them all
        tctx.options.update_defer(sigv4_stream_verfy=False)
        with pytest.raises(exceptions.OptionsError, match="sigv4_stream_verfy") as err:
            options.configure(set())
        assert "sigv4_stream_verify" in str(err.value) and "sigv4_report" in str(err.value)


async def test_learns_assume_role_credentials(addon: Sigv4) -> None:
    a = addon
    body = (
        b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        b"<Credentials><AccessKeyId>ASIAEXAMPLELEARNED01</AccessKeyId><SecretAccessKey>learnedsecretlearnedsecret"
        b"</SecretAccessKey><SessionToken>IQoJb3JpZ2luX2VjEXAMPLETOKEN</SessionToken><Expiration>2099-01-01T00:00:00Z"
        b"</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
    )
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        sts = tflow.tflow(
            req=tutils.treq(
                host="sts.us-east-1.amazonaws.com",
                method=b"POST",
                path=b"/",
                content=b"Action=AssumeRole&Version=2011-06-15",
            ),
            resp=tutils.tresp(content=body),
        )
        a.cycle(sts)
        wire = capture(
            "s3",
            lambda c: c.list_buckets(),
            key="ASIAEXAMPLELEARNED01",
            secret="learnedsecretlearnedsecret",
            token="IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        )
        f = flow_for(wire)
        a.cycle(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid", rec
    assert rec["credential_source"] == "learned:sts-assume-role"
    assert "IQoJb3JpZ2luX2VjEXAMPLETOKEN" not in json.dumps(rec) + f.comment


async def test_commands_and_content_view(addon: Sigv4, tmp_path: Path) -> None:
    a = addon
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("sts", lambda c: c.get_caller_identity()))
        a.cycle(f)
        out = tmp_path / "x.jsonl"
        a.commands.export([f], str(out))
        assert json.loads(out.read_text())["flow_id"] == f.id
        assert out.stat().st_mode & 0o777 == 0o600
        from sigv4_inspector.addon.commands import summary_text
        from sigv4_inspector.addon.view import AwsSignatureView

        view = AwsSignatureView()
        from mitmproxy import contentviews

        md = contentviews.Metadata(flow=f, http_message=f.request)
        assert view.render_priority(b"", md) > 0
        text = view.prettify(b"", md)
        assert "Canonical request" in text and "valid" in text
        assert "sigv4 summary: 1 AWS flow(s): valid 1" in summary_text(a.state)


def _chunked_upload(corrupt: bool) -> tuple[Any, bytes]:
    """AWS's aws-chunked PutObject example with a trailer; one byte of a chunk changed when
    ``corrupt``."""
    from sigv4_testsupport.vectors import S3, s3_request

    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked-with-trailer")
    wire = s3_request(ex)
    body = wire.body or b""
    if corrupt:
        pos = body.index(b"400;chunk-signature=") + 200
        body = body[:pos] + b"X" + body[pos + 1 :]
    return wire, body


def _streamed_flow(a: Any, wire: Any) -> http.HTTPFlow:
    """A live flow of ``wire`` whose body has not arrived yet, seen by ``requestheaders``."""
    from sigv4_testsupport.vectors import S3_KEYRING

    for c in S3_KEYRING._by_id.values():
        a.store.add(c)
    f = flow_for(wire)
    f.live = True
    f.request.raw_content = None
    f.request.timestamp_start = 1369353600.0  # the example's own date, 2013-05-24
    a.requestheaders(f)
    return f


@pytest.mark.parametrize("corrupt", [False, True])
async def test_streaming_tap_matches_buffered(addon: Sigv4, corrupt: bool) -> None:
    from sigv4_inspector.core.verify import verify
    from sigv4_testsupport.vectors import S3_KEYRING

    wire, body = _chunked_upload(corrupt)
    buffered = verify(type(wire).build(wire.method, wire.target, wire.headers, body), S3_KEYRING)
    a = addon
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        tctx.configure(a.addons[0], sigv4_stream_threshold="1k")
        f = _streamed_flow(a, wire)
        stream = f.request.stream
        assert callable(stream)
        pieces = [stream(body[i : i + 1000]) for i in range(0, len(body), 1000)]
        assert all(isinstance(p, bytes) for p in pieces)  # the tap passes bytes on as bytes
        passed = b"".join(p for p in pieces if isinstance(p, bytes))
        stream(b"")
        assert passed == body  # chunks pass through unchanged
        a.request(f)
        a.response(f)
        rec = await a.recorded(f)
    assert rec["verdict"] == buffered.verdict == ("invalid" if corrupt else "valid")
    codes = [x["code"] for x in rec["findings"]]
    assert ("CHUNK_SIGNATURE_MISMATCH" in codes) is corrupt


async def test_stream_verify_off_streams_uploads_untouched(addon: Sigv4) -> None:
    """With sigv4_stream_verify off, a large aws-chunked upload is still streamed (never
    buffered) but not tapped: the addon never sees the body, and only the seed signature
    is checked, as the option's help says."""
    wire, _ = _chunked_upload(corrupt=False)
    a = addon
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        tctx.configure(a.addons[0], sigv4_stream_threshold="1k", sigv4_stream_verify="false")
        f = _streamed_flow(a, wire)
        assert f.request.stream is True and not a.tap.streams
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid" and rec["auth"]["payload"].startswith("STREAMING-"), rec
    assert not [x for x in rec["findings"] if x["severity"] == "error"], rec["findings"]
    assert rec["headline"]["code"] == "PAYLOAD_NOT_VERIFIED"


async def test_non_utf8_bytes_still_give_a_record(addon: Sigv4, tmp_path: Path) -> None:
    """A path byte that is not UTF-8 must not lose the record (JSONL, metadata, -w)."""
    from mitmproxy import io as mio

    a = addon
    report = tmp_path / "r.jsonl"
    w = capture("s3", lambda c: c.get_object(Bucket="b", Key="k"))
    req = tutils.treq(
        method=b"GET",
        host="b.s3.amazonaws.com",
        port=443,
        scheme=b"https",
        authority=b"",
        path=b"/k\xff",
        content=b"",
    )
    req.headers.clear()
    for k, v in w.headers:
        req.headers.add(k, v)
    req.timestamp_start = time.time()
    f = tflow.tflow(req=req, resp=tutils.tresp())
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        tctx.configure(a.addons[0], sigv4_report=str(report), sigv4_quiet="true")
        a.store.add(Credential(AKID, SECRET))
        a.cycle(f)
        a.done()  # flushes the report
    (line,) = report.read_text().splitlines()
    assert report.stat().st_mode & 0o777 == 0o600
    rec = json.loads(line)
    assert rec["verdict"] == "invalid" and "\\xff" in rec["url"]
    with open(tmp_path / "f.mitm", "wb") as fh:
        mio.FlowWriter(fh).add(f)  # metadata must survive -w


def test_non_utf8_signature_is_invalid_not_internal_error() -> None:
    from sigv4_inspector.core.model import DictKeyring
    from sigv4_inspector.core.verify import verify

    w = capture("dynamodb", lambda c: c.list_tables())
    bad = WireRequest.build(
        w.method,
        w.target,
        [(k, v[:-1] + "\udcff" if k == "Authorization" else v) for k, v in w.headers],
        w.body,
    )
    v = verify(bad, DictKeyring([Credential(AKID, SECRET)]))
    assert v.verdict == "invalid" and v.reason == "signature_mismatch"


async def test_expect_dropped_by_mitmproxy_is_no_change_unless_signed(addon: Sigv4) -> None:
    """mitmproxy answers Expect: 100-continue itself and removes the header (boto3 sends it
    on S3 uploads): the flow keeps the cheap path, unless the client signed Expect."""
    from sigv4_inspector.addon.capture import Snapshot

    a = addon
    with taddons.context(*a.addons):
        f = flow_for(capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x")))
        f.request.headers["Expect"] = "100-continue"
        snap = Snapshot(f.request)
        f.request.headers.pop("expect")  # what mitmproxy does after requestheaders
        assert snap.unchanged(f.request)
        f.request.headers["X-Amz-Meta-A"] = "b"  # any other change still counts
        assert not snap.unchanged(f.request)

        signed = flow_for(capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x")))
        auth = signed.request.headers["Authorization"]
        signed.request.headers["Authorization"] = auth.replace(
            "SignedHeaders=", "SignedHeaders=expect;"
        )
        signed.request.headers["Expect"] = "100-continue"
        snap = Snapshot(signed.request)
        signed.request.headers.pop("expect")
        assert not snap.unchanged(signed.request)


@pytest.mark.parametrize(("decoded", "streamed"), [(300, False), (5 << 20, True)])
async def test_chunked_upload_streams_by_its_decoded_length(
    addon: Sigv4, decoded: int, streamed: bool
) -> None:
    """An aws-chunked upload sent with Transfer-Encoding: chunked (no Content-Length) is
    streamed only when x-amz-decoded-content-length says it is large."""
    a = addon
    with taddons.context(*a.addons) as tctx:  # noqa: F841
        tctx.configure(a.addons[0], sigv4_stream_threshold="1m")
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x")))
        f.live = True
        f.request.headers.pop("content-length", None)
        f.request.headers["Transfer-Encoding"] = "chunked"
        f.request.headers["Content-Encoding"] = "aws-chunked"
        f.request.headers["X-Amz-Decoded-Content-Length"] = str(decoded)
        a.requestheaders(f)
        assert callable(f.request.stream) is streamed
        assert (f.id in a.tap.streams) is streamed
        for session in a.tap.streams.values():
            session.finish()


def test_flow_line_plain_colored_and_safe(
    addon: Sigv4, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line per AWS flow starts with the headline's code, then the verdict, method, URL
    and the other problems' codes; the headline's message and fix under it; ANSI colours
    only on a terminal; control characters of the URL escaped."""
    import sys

    from sigv4_inspector.addon.commands import summary_text
    from sigv4_inspector.addon.state import FlowRef

    caplog.set_level(logging.INFO, logger="sigv4")
    head = {
        "code": "SIGNED_HEADER_MISSING",
        "severity": "error",
        "message": "A cause.",
        "fix": "The fix.",
    }
    record = {
        "verdict": "invalid",
        "method": "PUT",
        "url": "https://b.s3.amazonaws.com/k\x1b[2J",
        "headline": head,
        "findings": [
            head,
            {"code": "CLOCK_SKEW", "severity": "warning"},
            {"code": "UNSIGNED_PAYLOAD", "severity": "info"},
        ],
    }
    a = addon
    line = a.inspector.line
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    plain = (
        "[sigv4] SIGNED_HEADER_MISSING (invalid) PUT https://b.s3.amazonaws.com/k\\x1b[2J"
        "  +CLOCK_SKEW\n         A cause. -> The fix."
    )
    assert line(record, ":x:") == (logging.WARNING, plain)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    level, msg = line(record, ":warning:")
    assert level == logging.INFO
    assert msg.startswith("\x1b[1m[sigv4] \x1b[0m\x1b[31mSIGNED_HEADER_MISSING \x1b[0m")
    assert "\x1b[1;31m(invalid)\x1b[0m PUT " in msg
    assert "\x1b[2m  +CLOCK_SKEW\x1b[0m" in msg
    assert msg.endswith("\n\x1b[2m         A cause. -> The fix.\x1b[0m")
    assert "\x1b[2J" not in msg
    # mitmweb and the console UI show the log in their own event list: no ANSI codes there,
    # in the lines or the summary table, even when started from a terminal
    a.state.has_view = True
    assert line(record, ":x:")[1] == plain
    a.state.counts["invalid"] += 1
    a.state.remember("SIGNED_HEADER_MISSING", FlowRef("f1", "PUT", "https://b/k", 403))
    text = summary_text(a.state, a.inspector.colored())
    assert "SIGNED_HEADER_MISSING" in text and "PUT https://b/k -> 403" in text
    assert "\x1b" not in text
    a.state.has_view = False
    assert "\x1b[" in summary_text(a.state, a.inspector.colored())


def test_lines_close_together_share_a_log_record(caplog: pytest.LogCaptureFixture) -> None:
    """Lines of flows that end together are logged in order, consecutive lines of one
    level as one record (mitmproxy's handling of each record costs more than the rest of a
    flow); a lone line gets a record of its own."""
    from sigv4_inspector.addon.inspector import Lines

    caplog.set_level(logging.INFO, logger="sigv4")
    lines = Lines()
    lines._scheduled = True  # as if the flush timer were set: collect
    for level, text in [
        (logging.INFO, "a"),
        (logging.INFO, "b"),
        (logging.WARNING, "c"),
        (logging.INFO, "d"),
    ]:
        lines.add(level, text)
    caplog.clear()
    lines.flush()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "a\nb"),
        (logging.WARNING, "c"),
        (logging.INFO, "d"),
    ]
    caplog.clear()
    lines.add(logging.INFO, "alone")  # no event loop: at once
    assert [r.getMessage() for r in caplog.records] == ["alone"]


def test_addon_loads_without_rich() -> None:
    """rich (50 ms to import) is loaded for the summary table only, not with the addon."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('a', {str(ROOT / 'addons' / 'sigv4.py')!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print('rich' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_offload_runs_work_on_its_thread_and_restores_the_switch_interval() -> None:
    """A heavy flow's work runs on the helper thread; while it is pending the event loop
    gets the GIL back sooner (a shorter switch interval), restored once nothing is pending;
    the future the hook returns resolves after the flow was annotated."""
    import threading

    from sigv4_inspector.addon.inspector import Offload
    from sigv4_inspector.runtime.gil import SHORT_S as SWITCH_INTERVAL_S

    before = sys.getswitchinterval()
    seen: dict[str, Any] = {}

    async def main() -> None:
        off = Offload()
        f = tflow.tflow(resp=True)
        gate = threading.Event()

        def work() -> None:
            seen["thread"] = threading.current_thread().name
            seen["interval"] = sys.getswitchinterval()
            gate.wait(10)
            return None

        def done(fl: http.HTTPFlow, insp: Any) -> None:
            seen["done"] = fl.id

        assert off.submit(f, work, done)
        waiter = off.waiters[f.id]
        gate.set()
        await asyncio.wait_for(waiter, 10)
        off.close()

    asyncio.run(main())
    assert seen["thread"].startswith("sigv4-heavy")
    assert seen["interval"] <= SWITCH_INTERVAL_S < before
    assert sys.getswitchinterval() == before and "done" in seen


def test_offload_a_flow_submitted_again_is_annotated_once_by_the_newer_work() -> None:
    """sigv4.reverify while a heavy flow waits: the newer work replaces the older, ``done``
    runs once with the newer result, the hook's waiter (the same one) resolves once, and
    the switch interval is restored after both."""
    import threading

    from sigv4_inspector.addon.inspector import Offload

    before = sys.getswitchinterval()
    calls: list[Any] = []

    async def main() -> None:
        off = Offload()
        f = tflow.tflow(resp=True)
        gate = threading.Event()

        def older() -> Any:
            gate.wait(10)
            return "older"

        assert off.submit(f, older, lambda fl, r: calls.append(r))
        waiter = off.waiters[f.id]
        newer: Any = lambda: "newer"  # noqa: E731  (stands in for an Inspection)
        assert off.submit(f, newer, lambda fl, r: calls.append(r))
        assert off.waiters[f.id] is waiter
        gate.set()
        await asyncio.wait_for(waiter, 10)
        await asyncio.sleep(0.05)  # the older work's callback, had it any effect
        off.close()

    asyncio.run(main())
    assert calls == ["newer"]
    assert sys.getswitchinterval() == before
