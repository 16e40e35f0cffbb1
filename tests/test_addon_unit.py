"""The addon's hooks, options and commands with mitmproxy's test helpers (no sockets)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow, tutils

from signing import AKID, SECRET, capture
from sigv4core.model import Credential

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def addon_mod():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "sigv4_addon_under_test", ROOT / "addons" / "sigv4.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "nope-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "nope-creds"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def flow_for(wire, status: int = 200, body: bytes = b""):  # type: ignore[no-untyped-def]
    host, _, port = wire.authority.partition(":")
    req = tutils.treq(
        method=wire.method.encode(),
        scheme=b"https",
        host=host,
        port=int(port or 443),
        authority=b"",
        path=wire.target.encode(),
        content=wire.body or b"",
    )
    req.headers.clear()
    for k, v in wire.headers:
        req.headers.add(k, v)
    req.raw_content = wire.body
    req.timestamp_start = req.timestamp_end = time.time()  # tflow's default is decades ago
    resp = tutils.tresp(status_code=status, content=body)
    return tflow.tflow(req=req, resp=resp)


async def test_valid_invalid_and_report(addon_mod, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = addon_mod.SigV4Inspector()
    report = tmp_path / "r.jsonl"
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_report=str(report))
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        good = flow_for(capture("dynamodb", lambda c: c.list_tables()))
        await tctx.cycle(a, good)
        wire = capture("dynamodb", lambda c: c.list_tables())
        bad = flow_for(wire)
        bad.request.headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteTable"
        a.requestheaders(bad)
        a.request(bad)
        a.response(bad)
        plain = tflow.tflow(resp=True)  # not AWS: untouched, unrecorded
        await tctx.cycle(a, plain)
        await asyncio.sleep(addon_mod.FLUSH_S + 0.1)  # the report is flushed on a timer
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


async def test_capture_failure_still_gives_a_record(addon_mod, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A failure while capturing the flow (here: in the proxy-change analysis) leaves an
    ``unverified`` CHECK_UNAVAILABLE record, not silence."""
    a = addon_mod.SigV4Inspector()

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("injected")

    with taddons.context(a):
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("dynamodb", lambda c: c.list_tables()))
        a.requestheaders(f)
        f.request.headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteTable"  # changed in the proxy
        monkeypatch.setattr(a, "_proxy_changes", boom)
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "unverified", rec
    assert [x["code"] for x in rec["findings"]] == ["CHECK_UNAVAILABLE"]


async def test_in_proxy_header_change_is_named(addon_mod) -> None:  # type: ignore[no-untyped-def]
    a = addon_mod.SigV4Inspector()
    from mitmproxy.addons import anticomp

    with taddons.context(a, anticomp.AntiComp()) as tctx:
        tctx.configure(a, anticomp=True)
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


async def test_body_changed_by_modify_body_is_attributed_to_the_proxy(addon_mod) -> None:  # type: ignore[no-untyped-def]
    """modify_body rewrites the body after our request hook: the request verifies as the
    client sent it, and the change is named with the option that made it."""
    from mitmproxy.addons import modifybody, proxyserver

    a = addon_mod.SigV4Inspector()
    mb = modifybody.ModifyBody()
    with taddons.context(a, mb, proxyserver.Proxyserver()) as tctx:
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


async def test_flows_read_from_a_har_file_say_the_bytes_may_be_lost(addon_mod) -> None:  # type: ignore[no-untyped-def]
    """mitmproxy's HAR import keeps decoded text and drops Content-Encoding: a body that no
    longer matches its signature is the file's fault, not the client's."""
    from mitmproxy.io.har import request_to_flow

    a = addon_mod.SigV4Inspector()
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
    with taddons.context(a):
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "invalid"
    assert rec["headline"]["code"] == "INPUT_LOST_BYTES"


async def test_unsigned_aws_endpoint_and_options(addon_mod) -> None:  # type: ignore[no-untyped-def]
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        f = tflow.tflow(req=tutils.treq(host="s3.amazonaws.com", path=b"/bucket/key"), resp=True)
        await tctx.cycle(a, f)
        assert f.metadata["sigv4"]["verdict"] == "unsigned"
        assert any(x["code"] == "UNSIGNED_REQUEST" for x in f.metadata["sigv4"]["findings"])
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(a, sigv4_credentials=["/no/such/file"])
        # a misspelt sigv4 option (kept by mitmproxy as deferred) is refused, naming them all
        tctx.options.update_defer(sigv4_stream_verfy=False)
        with pytest.raises(exceptions.OptionsError, match="sigv4_stream_verfy") as err:
            a.configure(set())
        assert "sigv4_stream_verify" in str(err.value) and "sigv4_report" in str(err.value)


async def test_learns_assume_role_credentials(addon_mod) -> None:  # type: ignore[no-untyped-def]
    a = addon_mod.SigV4Inspector()
    body = (
        b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
        b"<Credentials><AccessKeyId>ASIAEXAMPLELEARNED01</AccessKeyId><SecretAccessKey>learnedsecretlearnedsecret"
        b"</SecretAccessKey><SessionToken>IQoJb3JpZ2luX2VjEXAMPLETOKEN</SessionToken><Expiration>2099-01-01T00:00:00Z"
        b"</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"
    )
    with taddons.context(a) as tctx:
        sts = tflow.tflow(
            req=tutils.treq(
                host="sts.us-east-1.amazonaws.com",
                method=b"POST",
                path=b"/",
                content=b"Action=AssumeRole&Version=2011-06-15",
            ),
            resp=tutils.tresp(content=body),
        )
        await tctx.cycle(a, sts)
        wire = capture(
            "s3",
            lambda c: c.list_buckets(),
            key="ASIAEXAMPLELEARNED01",
            secret="learnedsecretlearnedsecret",
            token="IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        )
        f = flow_for(wire)
        await tctx.cycle(a, f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid", rec
    assert rec["credential_source"] == "learned:sts-assume-role"
    assert "IQoJb3JpZ2luX2VjEXAMPLETOKEN" not in json.dumps(rec) + f.comment


async def test_commands_and_content_view(addon_mod, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("sts", lambda c: c.get_caller_identity()))
        await tctx.cycle(a, f)
        out = tmp_path / "x.jsonl"
        a.export([f], str(out))
        assert json.loads(out.read_text())["flow_id"] == f.id
        view = addon_mod.AwsSignatureView()
        from mitmproxy import contentviews

        md = contentviews.Metadata(flow=f, http_message=f.request)
        assert view.render_priority(b"", md) > 0
        text = view.prettify(b"", md)
        assert "Canonical request" in text and "valid" in text
        assert "sigv4 summary: 1 AWS flow(s): valid 1" in a.summary_text()


def _chunked_upload(corrupt: bool) -> tuple[Any, bytes]:
    """AWS's aws-chunked PutObject example with a trailer; one byte of a chunk changed when
    ``corrupt``."""
    from test_vectors import S3, _s3_request

    ex = next(e for e in S3["examples"] if e["id"] == "s3-put-object-chunked-with-trailer")
    wire = _s3_request(ex)
    body = wire.body or b""
    if corrupt:
        pos = body.index(b"400;chunk-signature=") + 200
        body = body[:pos] + b"X" + body[pos + 1 :]
    return wire, body


def _streamed_flow(a: Any, wire: Any) -> http.HTTPFlow:
    """A live flow of ``wire`` whose body has not arrived yet, seen by ``requestheaders``."""
    from test_vectors import S3_KEYRING

    for c in S3_KEYRING._by_id.values():
        a.store.add(c)
    f = flow_for(wire)
    f.live = True
    f.request.raw_content = None
    f.request.timestamp_start = 1369353600.0  # the example's own date, 2013-05-24
    a.requestheaders(f)
    return f


@pytest.mark.parametrize("corrupt", [False, True])
async def test_streaming_tap_matches_buffered(addon_mod, corrupt: bool) -> None:  # type: ignore[no-untyped-def]
    from test_vectors import S3_KEYRING

    from sigv4core.verify import verify

    wire, body = _chunked_upload(corrupt)
    buffered = verify(type(wire).build(wire.method, wire.target, wire.headers, body), S3_KEYRING)
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_stream_threshold="1k")
        f = _streamed_flow(a, wire)
        assert callable(f.request.stream)
        passed = b"".join(f.request.stream(body[i : i + 1000]) for i in range(0, len(body), 1000))
        f.request.stream(b"")
        assert passed == body  # chunks pass through unchanged
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == buffered.verdict == ("invalid" if corrupt else "valid")
    codes = [x["code"] for x in rec["findings"]]
    assert ("CHUNK_SIGNATURE_MISMATCH" in codes) is corrupt


async def test_stream_verify_off_streams_uploads_untouched(addon_mod) -> None:  # type: ignore[no-untyped-def]
    """With sigv4_stream_verify off, a large aws-chunked upload is still streamed (never
    buffered) but not tapped: the addon never sees the body, and only the seed signature
    is checked, as the option's help says."""
    wire, _ = _chunked_upload(corrupt=False)
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_stream_threshold="1k", sigv4_stream_verify=False)
        f = _streamed_flow(a, wire)
        assert f.request.stream is True and not a._streams
        a.request(f)
        a.response(f)
    rec = f.metadata["sigv4"]
    assert rec["verdict"] == "valid" and rec["auth"]["payload"].startswith("STREAMING-"), rec
    assert not [x for x in rec["findings"] if x["severity"] == "error"], rec["findings"]


async def test_non_utf8_bytes_still_give_a_record(addon_mod, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A path byte that is not UTF-8 must not lose the record (JSONL, metadata, -w)."""
    from mitmproxy import io as mio

    a = addon_mod.SigV4Inspector()
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
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_report=str(report), sigv4_quiet=True)
        a.store.add(Credential(AKID, SECRET))
        await tctx.cycle(a, f)
    (line,) = report.read_text().splitlines()
    rec = json.loads(line)
    assert rec["verdict"] == "invalid" and "\\xff" in rec["url"]
    with open(tmp_path / "f.mitm", "wb") as fh:
        mio.FlowWriter(fh).add(f)  # metadata must survive -w


def test_non_utf8_signature_is_invalid_not_internal_error() -> None:
    from sigv4core.model import DictKeyring, WireRequest
    from sigv4core.verify import verify

    w = capture("dynamodb", lambda c: c.list_tables())
    bad = WireRequest.build(
        w.method,
        w.target,
        [(k, v[:-1] + "\udcff" if k == "Authorization" else v) for k, v in w.headers],
        w.body,
    )
    v = verify(bad, DictKeyring([Credential(AKID, SECRET)]))
    assert v.verdict == "invalid" and v.reason == "signature_mismatch"


async def test_worker_is_let_exit_by_itself(addon_mod, caplog) -> None:  # type: ignore[no-untyped-def]
    """At the end the worker gets a moment to exit on its own (its last log line comes,
    a profiler sees its exit) instead of being killed once the outcomes are in."""
    caplog.set_level(logging.DEBUG, logger="sigv4")
    addon_mod.WORKER_EXIT_S = 5.0  # a slow CI machine still sees the "stopped" (it takes ms)
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_report="")
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        a._start_worker(asyncio.get_running_loop())
        worker = a._worker
        assert worker is not None
        f = flow_for(capture("dynamodb", lambda c: c.list_tables()))
        await tctx.cycle(a, f)
        a._stop_worker()
        assert f.metadata["sigv4"]["verdict"] == "valid"
        assert worker.proc.wait(timeout=5) == 0  # exited, not killed (-9)
    assert "the worker inspected 1 flow(s)" in caplog.text


async def test_worker_still_starting_is_not_waited_for(addon_mod) -> None:  # type: ignore[no-untyped-def]
    """Quitting right after start does not wait for a worker still loading credentials
    (it has answered nothing yet): it is killed at once."""
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_report="")
        a._start_worker(asyncio.get_running_loop())
        worker = a._worker
        assert worker is not None and not worker.answered
        t = time.monotonic()
        a._stop_worker()
        took = time.monotonic() - t
    assert took < 0.4, took  # not the WORKER_EXIT_S (0.5 s) meant for a worker that answers
    assert a._worker is None and worker.dead


async def test_expect_dropped_by_mitmproxy_is_no_change_unless_signed(addon_mod) -> None:  # type: ignore[no-untyped-def]
    """mitmproxy answers Expect: 100-continue itself and removes the header (boto3 sends it
    on S3 uploads): the flow keeps the cheap path, unless the client signed Expect."""
    a = addon_mod.SigV4Inspector()
    with taddons.context(a):
        f = flow_for(capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x")))
        f.request.headers["Expect"] = "100-continue"
        snap = addon_mod._Snapshot(f.request)
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
        snap = addon_mod._Snapshot(signed.request)
        signed.request.headers.pop("expect")
        assert not snap.unchanged(signed.request)


@pytest.mark.parametrize(("decoded", "streamed"), [(300, False), (5 << 20, True)])
async def test_chunked_upload_streams_by_its_decoded_length(
    addon_mod, decoded: int, streamed: bool
) -> None:  # type: ignore[no-untyped-def]
    """An aws-chunked upload sent with Transfer-Encoding: chunked (no Content-Length) is
    streamed only when x-amz-decoded-content-length says it is large."""
    a = addon_mod.SigV4Inspector()
    with taddons.context(a) as tctx:
        tctx.configure(a, sigv4_stream_threshold="1m")
        a.store.add(Credential(AKID, SECRET, source="profile:test"))
        f = flow_for(capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x")))
        f.live = True
        f.request.headers.pop("content-length", None)
        f.request.headers["Transfer-Encoding"] = "chunked"
        f.request.headers["Content-Encoding"] = "aws-chunked"
        f.request.headers["X-Amz-Decoded-Content-Length"] = str(decoded)
        a.requestheaders(f)
        assert callable(f.request.stream) is streamed
        assert (f.id in a._streams) is streamed
        for session in a._streams.values():
            session.finish()


def test_flow_line_plain_colored_and_safe(addon_mod, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The line per AWS flow starts with the headline's code, then the verdict, method, URL
    and the other problems' codes; the headline's message and fix under it; ANSI colours
    only on a terminal; control characters of the URL escaped."""
    from sigv4core.capture import Outcome

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
    out = Outcome("f1", record, "", "SIGNED_HEADER_MISSING: A cause.", ":x:", "invalid", ())
    a = addon_mod.SigV4Inspector()
    monkeypatch.setattr(addon_mod.sys.stdout, "isatty", lambda: False)
    plain = (
        "[sigv4] SIGNED_HEADER_MISSING (invalid) PUT https://b.s3.amazonaws.com/k\\x1b[2J"
        "  +CLOCK_SKEW\n         A cause. -> The fix."
    )
    assert a._line(out) == (logging.WARNING, plain)
    monkeypatch.setattr(addon_mod.sys.stdout, "isatty", lambda: True)
    level, msg = a._line(out._replace(marker=":warning:"))
    assert level == logging.INFO
    assert msg.startswith("\x1b[1m[sigv4] \x1b[0m\x1b[31mSIGNED_HEADER_MISSING \x1b[0m")
    assert "\x1b[1;31m(invalid)\x1b[0m PUT " in msg
    assert "\x1b[2m  +CLOCK_SKEW\x1b[0m" in msg
    assert msg.endswith("\n\x1b[2m         A cause. -> The fix.\x1b[0m")
    assert "\x1b[2J" not in msg
    # mitmweb and the console UI show the log in their own event list: no ANSI codes there,
    # in the lines or the summary table, even when started from a terminal
    a._has_view = True
    assert a._line(out)[1] == plain
    a.counts["invalid"] += 1
    a.codes["SIGNED_HEADER_MISSING"] += 1
    assert "SIGNED_HEADER_MISSING" in a.summary_text()
    assert "\x1b" not in a.summary_text()
    a._has_view = False
    assert "\x1b[" in a.summary_text()


def test_a_batch_of_outcomes_is_logged_as_few_records(addon_mod, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The worker's outcomes that arrive together are logged in order, consecutive lines of
    one level as one record (mitmproxy's handling of each record costs more than the rest
    of a flow); a lone outcome gets a record of its own, and the worker's own messages
    keep their place between the lines."""
    from sigv4core.capture import Outcome

    caplog.set_level(logging.INFO, logger="sigv4")
    monkeypatch.setattr(addon_mod.sys.stdout, "isatty", lambda: False)
    a = addon_mod.SigV4Inspector()

    def outcome(fid: str, verdict: str) -> Outcome:
        record = {"verdict": verdict, "method": "GET", "url": f"https://s3.amazonaws.com/{fid}"}
        record["findings"] = []
        marker = ":x:" if verdict == "invalid" else ""
        return Outcome(fid, record, "", "SigV4 invalid: a cause.", marker, verdict, ())

    verdicts = ["valid", "valid", "invalid", "valid", "valid", "valid"]
    msgs: list[tuple[str, ...]] = []
    for i, verdict in enumerate(verdicts):
        f = tflow.tflow(resp=True)
        a._inflight[f"f{i}"] = (f, None)
        msgs.append(("result", f"f{i}", outcome(f"f{i}", verdict)))  # type: ignore[arg-type]
    msgs.insert(5, ("log", "info", "a message from the worker"))
    f = tflow.tflow(resp=True)
    a._inflight["f6"] = (f, None)
    msgs.append(("result", "f6", outcome("f6", "valid")._replace(error="KeyError: 'x'")))
    caplog.clear()
    a._on_messages(msgs)
    got = [(r.levelno, r.getMessage().count("[sigv4] ")) for r in caplog.records]
    assert got == [
        (logging.INFO, 2),
        (logging.WARNING, 1),
        (logging.INFO, 2),
        (logging.INFO, 0),  # the worker's message
        (logging.INFO, 1),
        (logging.WARNING, 0),  # the internal error on f6, after the line of f5
        (logging.INFO, 1),
    ]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert [f"/f{i}" in text for i in range(7)] == [True] * 7
    assert text.index("/f4") < text.index("from the worker") < text.index("/f5")
    assert text.index("/f5") < text.index("internal error on flow") < text.index("/f6")
    assert a.counts["valid"] == 6 and a.counts["invalid"] == 1

    caplog.clear()
    f = tflow.tflow(resp=True)
    a._inflight["f9"] = (f, None)
    a._on_messages([("result", "f9", outcome("f9", "valid"))])
    assert [r.getMessage().count("\n") for r in caplog.records] == [0]

    # a message the addon cannot read (the caller then gives the worker up): the lines of
    # the flows annotated before it are still printed
    caplog.clear()
    a._inflight["f10"] = (tflow.tflow(resp=True), None)
    with pytest.raises(IndexError):
        a._on_messages([("result", "f10", outcome("f10", "valid")), ("result",)])
    assert ["/f10" in r.getMessage() for r in caplog.records] == [True]


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
