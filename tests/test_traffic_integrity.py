"""The addon never changes traffic: the upstream receives the same bytes through mitmdump
with and without it, and also when its core fails on every flow.

Requests are signed once (real boto3 signers, and a signed ``aws-chunked`` upload), then
sent byte for byte with http.client through each proxy over TLS to the local AWS-like
endpoint (scripts/fakeaws.py, which records each request as it arrived and re-verifies its
signature): a DynamoDB PutItem, a boto3 PutObject (``aws-chunked`` inside HTTP chunked
transfer coding, a CRC32 trailer), a 3 MiB ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``
upload with a Content-Length (verified by the addon's streaming tap) and a presigned GET.
The proxies run with the same options; ``sigv4_stream_threshold=64k`` makes both uploads
stream through the tap. The failing variant loads tests/data/break_sigv4.py after the
addon, which makes the core raise; the addon must fall back to an ``unverified`` record
per flow and mitmdump must keep serving.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import botocore.config
import pytest

from sigv4_testsupport import fakeaws
from sigv4_testsupport.chunkedupload import ChunkedUpload
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import Proxy, clean_aws_env, start_mitmdump
from sigv4_testsupport.signing import capture

K1 = (fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY)
BREAK = ROOT / "tests" / "data" / "break_sigv4.py"
OPTIONS = ("--set", "sigv4_stream_threshold=64k", "--set", "sigv4_quiet=false")


@dataclass(frozen=True)
class Prepared:
    """A signed request, sent identically through every proxy."""

    name: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    http_chunked: bool = False


@dataclass
class Run:
    """What one proxy variant produced."""

    received: list[tuple[Any, ...]]  # what fakeaws got, per request
    statuses: list[int]
    records: list[dict[str, Any]]
    log: str
    alive: bool


def start_proxy(work: Path, *, addon: bool, extra: tuple[str, ...] = ()) -> Proxy:
    """mitmdump on 127.0.0.1 with (or without) the addon; the same options either way."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    return start_mitmdump(work, *OPTIONS, *extra, env=clean_aws_env(work), save=False, addon=addon)


def send(proxy: Proxy, https_port: int, req: Prepared) -> int:
    """Send ``req`` exactly (header order and case, body) through the proxy's CONNECT
    tunnel; return the status."""
    tls = ssl.create_default_context(cafile=proxy.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=tls, timeout=60)
    conn.set_tunnel("127.0.0.1", https_port)
    try:
        conn.putrequest(req.method, req.target, skip_host=True, skip_accept_encoding=True)
        for k, v in req.headers:
            conn.putheader(k, v)
        conn.endheaders()
        if req.http_chunked:
            for i in range(0, len(req.body), 65536):
                piece = req.body[i : i + 65536]
                conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            conn.send(b"0\r\n\r\n")
        elif req.body:
            for i in range(0, len(req.body), 256 * 1024):
                conn.send(req.body[i : i + 256 * 1024])
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _prepared(name: str, wire: Any) -> Prepared:
    headers = tuple(wire.headers)
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    return Prepared(name, wire.method, wire.target, headers, wire.body or b"", chunked)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """fakeaws, a bucket with one object, and the signed requests."""
    tmp = tmp_path_factory.mktemp("integrity")
    server = fakeaws.start_fakeaws(tmp / "fakeaws-certs", credentials=dict([K1]))
    endpoint = f"https://127.0.0.1:{server.https_port}"
    host = f"127.0.0.1:{server.https_port}"
    try:
        with mock.patch.dict(os.environ, clean_aws_env(tmp), clear=True):
            direct = boto3.client(
                "s3",
                region_name="us-east-1",
                aws_access_key_id=K1[0],
                aws_secret_access_key=K1[1],
                endpoint_url=endpoint,
                verify=str(server.ca_path),
                config=botocore.config.Config(
                    s3={"addressing_style": "path"}, signature_version="s3v4"
                ),
            )
            direct.create_bucket(Bucket="integrity")
            direct.put_object(Bucket="integrity", Key="obj a+b.txt", Body=b"presigned body")
            url = direct.generate_presigned_url(
                "get_object", Params={"Bucket": "integrity", "Key": "obj a+b.txt"}, ExpiresIn=900
            )
            ddb = capture(
                "dynamodb",
                lambda c: c.put_item(TableName="t", Item={"k": {"S": "v é"}}),
                endpoint_url=endpoint,
            )
            boto_put = capture(
                "s3",
                lambda c: c.put_object(
                    Bucket="integrity", Key="boto/chunked.bin", Body=bytes(range(256)) * 800
                ),
                endpoint_url=endpoint,
                s3={"addressing_style": "path"},
            )
        up = ChunkedUpload(3 << 20, 65536, host, "/integrity/signed-chunked.bin")
        target = url.split(host, 1)[1]
        requests = [
            _prepared("dynamodb put_item", ddb),
            _prepared("s3 put_object (boto3 aws-chunked, HTTP chunked)", boto_put),
            Prepared(
                "s3 signed aws-chunked upload, 3 MiB",
                "PUT",
                up.path,
                tuple(up.headers),
                b"".join(up.pieces()),
            ),
            Prepared(
                "s3 presigned GET",
                "GET",
                target,
                (("Host", host), ("User-Agent", "integrity-test"), ("Accept", "*/*")),
                b"",
            ),
        ]
        assert requests[1].http_chunked and b"x-amz-checksum-crc32:" in requests[1].body
        server.clear()
        yield {"tmp": tmp, "server": server, "requests": requests}
    finally:
        server.stop()


def run_variant(world: dict[str, Any], name: str, *, addon: bool, broken: bool = False) -> Run:
    server: fakeaws.FakeAWS = world["server"]
    # the broken core is patched inside mitmdump's process, so inspect there
    extra = ("-s", str(BREAK)) if broken else ()
    proxy = start_proxy(world["tmp"] / name, addon=addon, extra=extra)
    received: list[tuple[Any, ...]] = []
    statuses: list[int] = []
    try:
        for req in world["requests"]:
            server.clear()
            statuses.append(send(proxy, server.https_port, req))
            (got,) = server.requests
            received.append(
                (
                    got.method,
                    got.target,
                    tuple(got.headers),
                    got.body,
                    # HTTP chunk boundaries are transport framing (a streamed body is
                    # re-framed as it arrives); the decoded body above is the message
                    got.raw_body if not req.http_chunked else None,
                    got.http_version,
                )
            )
        records = proxy.wait_records(len(world["requests"]), timeout=15) if addon else []
        alive = proxy.proc.poll() is None
        if alive:  # and still serving after the failures
            statuses.append(send(proxy, server.https_port, world["requests"][0]))
    finally:
        if proxy.proc.poll() is None:
            proxy.proc.send_signal(signal.SIGTERM)
            try:
                proxy.proc.wait(15)
            except subprocess.TimeoutExpired:
                proxy.proc.kill()
                proxy.proc.wait()
    return Run(received, statuses, records, proxy.output(), alive)


@pytest.fixture(scope="module")
def plain(world: dict[str, Any]) -> Run:
    return run_variant(world, "plain", addon=False)


def _assert_same(base: Run, other: Run, world: dict[str, Any]) -> None:
    for req, a, b in zip(world["requests"], base.received, other.received, strict=True):
        names = ("method", "target", "headers", "body", "raw body", "HTTP version")
        for field_name, x, y in zip(names, a, b, strict=True):
            assert x == y, f"{req.name}: {field_name} differs with the addon"
    assert other.statuses == base.statuses


def test_plain_proxy_delivers_the_requests_as_sent(world: dict[str, Any], plain: Run) -> None:
    """The reference run itself: fakeaws accepted every request (signatures intact), and
    the request line and body are the client's."""
    assert plain.statuses[:4] == [200, 200, 200, 200], plain.log[-2000:]
    for req, got in zip(world["requests"], plain.received, strict=True):
        assert (got[0], got[1], got[3]) == (req.method, req.target, req.body), req.name


def test_addon_leaves_traffic_identical(world: dict[str, Any], plain: Run) -> None:
    run = run_variant(world, "addon", addon=True)
    _assert_same(plain, run, world)
    assert [r["verdict"] for r in run.records] == ["valid"] * 4, run.records
    upload = run.records[2]
    assert upload["auth"]["payload"] == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    assert not [f for f in upload["findings"] if f["severity"] == "error"], upload["findings"]
    assert "Traceback" not in run.log, run.log[-3000:]


def test_failing_addon_leaves_traffic_identical(world: dict[str, Any], plain: Run) -> None:
    run = run_variant(world, "broken", addon=True, broken=True)
    assert "break_sigv4: the sigv4 core now raises" in run.log, run.log[-3000:]
    _assert_same(plain, run, world)
    assert run.alive and run.statuses[-1] == 200, run.log[-3000:]
    recs = run.records
    assert len(recs) >= 4 and len({r["flow_id"] for r in recs}) == len(recs), recs
    for r in recs:
        assert r["verdict"] == "unverified", r
        assert [f["code"] for f in r["findings"]] == ["CHECK_UNAVAILABLE"], r["findings"]
    assert len(re.findall(r"sigv4: internal error on flow", run.log)) >= 4, run.log[-3000:]
    assert "Traceback" not in run.log, run.log[-3000:]
