# mypy: disable-error-code="misc"
# (lambdas with default arguments bind each loop value; mypy cannot infer their type)
"""A realistic, reproducible mix of AWS flows for benchmarks and soak tests.

Requests are signed by real boto3 clients and captured before they are sent (no network):
S3 GetObject, PutObject (aws-chunked with a checksum trailer, the SDK default),
ListObjectsV2, DynamoDB, STS GetCallerIdentity and AssumeRole (whose temporary credentials
later flows use), presigned SigV4 URLs, and 42 % that AWS refuses (wrong secret, a header
changed after signing, unknown key, changed body, malformed Authorization, unsigned,
expired presigned URL, SigV2, a query signed raw), each answered with AWS's error shape.
:func:`write_flows` saves them as a .mitm file for ``mitmdump -nr``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
from mitmproxy import connection, http, io

from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.verify import verify
from sigv4_testsupport.signing import to_wire

AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
UNKNOWN_AKID = "AKIAUNKNOWNEXAMPLE01"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SIG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


def raw_signed(url: str) -> WireRequest:
    """botocore's own S3 signer applied to a pre-built URL: it signs the query as sent."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method="GET", url=url, data=b"")
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    return to_wire(p.method, p.url, p.headers, p.body)


@dataclass
class Shape:
    """One request as captured and the response the flow will carry."""

    kind: str
    wire: WireRequest
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seen_offset: float = 0.0  # seconds added to the capture time (expired presigned URLs)


class _Captured(Exception):
    """Raised by the before-send hook: the request was captured, nothing is sent."""


@dataclass
class Signer:
    """Real boto3 clients whose requests are captured at ``before-send`` (no network)."""

    key: str = AKID
    secret: str = SECRET
    token: str | None = None
    clients: dict[str, Any] = field(default_factory=dict)
    seen: list[WireRequest] = field(default_factory=list)

    def client(self, service: str, **cfg: Any) -> Any:
        name = service + repr(sorted(cfg.items()))
        if name not in self.clients:
            c = boto3.client(
                service,
                region_name="us-east-1",
                aws_access_key_id=self.key,
                aws_secret_access_key=self.secret,
                aws_session_token=self.token,
                config=botocore.config.Config(retries={"max_attempts": 1}, **cfg),
            )
            c.meta.events.register("before-send", self._hook)
            self.clients[name] = c
        return self.clients[name]

    def _hook(self, request: Any, **_: Any) -> None:
        self.seen.append(to_wire(request.method, request.url, request.headers, request.body))
        raise _Captured

    def capture(self, service: str, call: Callable[[Any], Any], **cfg: Any) -> WireRequest:
        with contextlib.suppress(_Captured):
            call(self.client(service, **cfg))
        return self.seen.pop()


def presigned_wire(url: str) -> WireRequest:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return WireRequest.build(
        "GET",
        target,
        [("Host", parts.netloc), ("User-Agent", "python-requests/2.32"), ("Accept", "*/*")],
        b"",
        authority=parts.netloc,
    )


def _rid() -> str:
    return secrets.token_hex(8).upper()


def s3_ok(body: bytes = b"", ctype: str = "application/xml") -> tuple[list[tuple[str, str]], bytes]:
    return [
        ("x-amz-request-id", _rid()),
        ("ETag", f'"{secrets.token_hex(16)}"'),
        ("Content-Type", ctype),
        ("Server", "AmazonS3"),
    ], body


def s3_error(code: str, message: str, extra: str = "") -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message>{extra}<RequestId>{_rid()}</RequestId></Error>"
    ).encode()
    return 403, [("Content-Type", "application/xml"), ("Server", "AmazonS3")], body


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def s3_mismatch(
    wire: WireRequest, keyring: DictKeyring
) -> tuple[int, list[tuple[str, str]], bytes]:
    """S3's SignatureDoesNotMatch with its echo of the canonical request (as received)."""
    v = verify(wire, keyring)
    extra = (
        f"<AWSAccessKeyId>{AKID}</AWSAccessKeyId>"
        f"<StringToSign>{_xml(v.string_to_sign or '')}</StringToSign>"
        f"<CanonicalRequest>{_xml(v.canonical_request or '')}</CanonicalRequest>"
    )
    return s3_error("SignatureDoesNotMatch", SIG_MISMATCH, extra)


def coral_error(
    code: str, message: str, status: int = 400
) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": message}).encode()
    return (
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", _rid())],
        body,
    )


def ddb_mismatch(
    wire: WireRequest, keyring: DictKeyring
) -> tuple[int, list[tuple[str, str]], bytes]:
    v = verify(wire, keyring)
    msg = (
        f"{SIG_MISMATCH}\n\nThe Canonical String for this request should have been\n"
        f"'{v.canonical_request}'\n\nThe String-to-Sign should have been\n'{v.string_to_sign}'\n"
    )
    return coral_error("InvalidSignatureException", msg)


def sts_ok(action: str, inner: str) -> tuple[list[tuple[str, str]], bytes]:
    body = (
        f'<{action}Response xmlns="{STS_NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{_rid()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return [("Content-Type", "text/xml"), ("x-amzn-RequestId", _rid())], body.encode()


def _replace_header(wire: WireRequest, name: str, value: str) -> WireRequest:
    hdrs = [(k, value if k.lower() == name else v) for k, v in wire.headers]
    return WireRequest.build(
        wire.method, wire.target, hdrs, wire.body, authority=wire.authority, scheme=wire.scheme
    )


def _with_body(wire: WireRequest, body: bytes) -> WireRequest:
    return WireRequest.build(
        wire.method, wire.target, wire.headers, body, authority=wire.authority, scheme=wire.scheme
    )


KINDS: dict[str, int] = {  # relative weights of each shape in the mix: 42 % fail at AWS
    "s3-get": 16,
    "s3-put": 10,
    "s3-list": 6,
    "ddb": 14,
    "sts-identity": 4,
    "ddb-learned": 3,
    "presign-v4": 5,
    "bad-secret-s3": 6,
    "bad-secret-ddb": 5,
    "bad-tampered": 8,
    "bad-unknown-key": 4,
    "bad-body": 4,
    "bad-malformed": 3,
    "bad-unsigned": 3,
    "bad-presign-expired": 3,
    "bad-sigv2": 3,
    "bad-raw-query": 4,
}
FAILING = frozenset(k for k in KINDS if k.startswith("bad-"))


def build_shapes(n: int, seed: int = 7) -> list[Shape]:
    """``n`` request/response shapes in a reproducible random mix (an STS AssumeRole every
    500 flows issues the temporary credentials the ``ddb-learned`` flows are signed with)."""
    rng = random.Random(seed)
    good = Signer()
    wrong = Signer(secret=SECRET[:-4] + "XXXX")
    unknown = Signer(key=UNKNOWN_AKID)
    keyring = DictKeyring([Credential(AKID, SECRET, source="bench")])
    temp: Signer | None = None
    kinds, weights = zip(*KINDS.items(), strict=True)
    out: list[Shape] = []
    for i in range(n):
        key = f"data/{i:06d}-{rng.randrange(10**6)}.bin"
        if i % 500 == 0:
            akid = "ASIA" + "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)
            )
            secret = base64.b64encode(rng.randbytes(30)).decode()
            token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(rng.randbytes(300)).decode()
            exp = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            w = good.capture(
                "sts",
                lambda c, n=f"b{i}": c.assume_role(
                    RoleArn="arn:aws:iam::123456789012:role/bench", RoleSessionName=n
                ),
            )
            inner = (
                f"<Credentials><AccessKeyId>{akid}</AccessKeyId><SecretAccessKey>{secret}"
                f"</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{exp}"
                "</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:b</AssumedRoleId>"
                "<Arn>arn:aws:sts::123456789012:assumed-role/bench/b</Arn></AssumedRoleUser>"
            )
            out.append(Shape("sts-assume-role", w, 200, *sts_ok("AssumeRole", inner)))
            temp = Signer(key=akid, secret=secret, token=token)
            continue
        kind = rng.choices(kinds, weights)[0]
        item = {"pk": {"S": f"user#{i}"}, "n": {"N": str(rng.randrange(10**6))}}
        if kind == "s3-get":
            w = good.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(
                Shape(
                    kind,
                    w,
                    200,
                    *s3_ok(rng.randbytes(rng.randrange(64, 2048)), "binary/octet-stream"),
                )
            )
        elif kind == "s3-put":
            body = rng.randbytes(rng.randrange(16, 4096))
            w = good.capture(
                "s3", lambda c, k=key, b=body: c.put_object(Bucket="bench-data", Key=k, Body=b)
            )
            out.append(Shape(kind, w, 200, *s3_ok()))
        elif kind == "s3-list":
            w = good.capture(
                "s3", lambda c: c.list_objects_v2(Bucket="bench-data", Prefix="data/", MaxKeys=50)
            )
            listing = (
                f'<ListBucketResult xmlns="{S3_NS}"><Name>bench-data</Name><Prefix>data/</Prefix>'
                + "".join(
                    f"<Contents><Key>data/{j}</Key><Size>{j}</Size></Contents>" for j in range(20)
                )
                + "</ListBucketResult>"
            ).encode()
            out.append(Shape(kind, w, 200, *s3_ok(listing)))
        elif kind in ("ddb", "ddb-learned"):
            signer = temp if (kind == "ddb-learned" and temp is not None) else good
            op = rng.randrange(3)
            if op == 0:
                w = signer.capture(
                    "dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it)
                )
            elif op == 1:
                w = signer.capture(
                    "dynamodb",
                    lambda c, it=item: c.get_item(TableName="bench", Key={"pk": it["pk"]}),
                )
            else:
                w = signer.capture(
                    "dynamodb",
                    lambda c, it=item: c.query(
                        TableName="bench",
                        KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": it["pk"]},
                    ),
                )
            out.append(
                Shape(
                    kind,
                    w,
                    200,
                    [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", _rid())],
                    json.dumps({"Item": item} if op == 1 else {}).encode(),
                )
            )
        elif kind == "sts-identity":
            w = good.capture("sts", lambda c: c.get_caller_identity())
            inner = f"<Arn>arn:aws:iam::123456789012:user/bench</Arn><UserId>{AKID}</UserId><Account>123456789012</Account>"
            out.append(Shape(kind, w, 200, *sts_ok("GetCallerIdentity", inner)))
        elif kind in ("presign-v4", "bad-sigv2", "bad-presign-expired"):
            cfg = {"signature_version": "s3v4"} if kind != "bad-sigv2" else {}
            url = good.client("s3", **cfg).generate_presigned_url(
                "get_object",
                Params={"Bucket": "bench-data", "Key": key},
                ExpiresIn=60 if kind == "bad-presign-expired" else 3600,
            )
            w = presigned_wire(url)
            if kind == "bad-presign-expired":
                st, h, b = s3_error("AccessDenied", "Request has expired")
                out.append(Shape(kind, w, st, h, b, seen_offset=600.0))
            else:
                out.append(Shape(kind, w, 200, *s3_ok(rng.randbytes(256), "binary/octet-stream")))
        elif kind == "bad-raw-query":  # a signer that left ':' and '*' raw (AWS refuses it)
            w = raw_signed(f"https://bench-data.s3.amazonaws.com/?prefix=a:b/{i}*")
            out.append(Shape(kind, w, *s3_mismatch(w, keyring)))
        elif kind == "bad-secret-s3":
            w = wrong.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(Shape(kind, w, *s3_mismatch(w, keyring)))
        elif kind == "bad-secret-ddb":
            w = wrong.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-tampered":
            w = good.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            w = _replace_header(w, "x-amz-target", "DynamoDB_20120810.DeleteItem")
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-unknown-key":
            w = unknown.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(
                Shape(
                    kind,
                    w,
                    *s3_error(
                        "InvalidAccessKeyId",
                        "The AWS Access Key Id you provided does not exist in our records.",
                        f"<AWSAccessKeyId>{UNKNOWN_AKID}</AWSAccessKeyId>",
                    ),
                )
            )
        elif kind == "bad-body":
            w = good.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            assert w.body is not None
            w = _with_body(w, w.body.replace(b"user#", b"USER#"))
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-malformed":
            w = good.capture("dynamodb", lambda c: c.list_tables())
            auth = w.header("authorization") or ""
            w = _replace_header(w, "authorization", auth.split(", Signature=")[0])
            out.append(
                Shape(
                    kind,
                    w,
                    *coral_error(
                        "IncompleteSignatureException",
                        "Authorization header requires 'Signature' parameter.",
                    ),
                )
            )
        elif kind == "bad-unsigned":
            w = WireRequest.build(
                "GET",
                f"/{key}",
                [("Host", "bench-data.s3.amazonaws.com"), ("User-Agent", "curl/8.5.0")],
                b"",
                authority="bench-data.s3.amazonaws.com",
            )
            out.append(Shape(kind, w, *s3_error("AccessDenied", "Access Denied")))
        else:  # pragma: no cover - KINDS and the branches above are kept in step
            raise AssertionError(kind)
    return out


def make_flow(shape: Shape, t: float) -> http.HTTPFlow:
    """A completed HTTPFlow as mitmproxy would have recorded it (HTTP/1.1 over TLS)."""
    w = shape.wire
    host, _, port = w.authority.partition(":")
    client = connection.Client(
        peername=("127.0.0.1", 40000 + int(t * 1000) % 20000),
        sockname=("127.0.0.1", 8080),
        timestamp_start=t,
    )
    server = connection.Server(address=(host, int(port or 443)))
    f = http.HTTPFlow(client, server)
    f.request = http.Request(
        host,
        int(port or 443),
        w.method.encode(),
        b"https",
        b"",
        w.target.encode("utf-8", "surrogateescape"),
        b"HTTP/1.1",
        http.Headers([(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in w.headers]),
        w.body,
        None,
        t,
        t + 0.001,
    )
    f.response = http.Response(
        b"HTTP/1.1",
        shape.status,
        b"",
        http.Headers(
            [(k.encode(), v.encode()) for k, v in shape.headers]
            + [(b"Content-Length", str(len(shape.body)).encode())]
        ),
        shape.body,
        None,
        t + 0.010,
        t + 0.011,
    )
    return f


def write_flows(path: Path, shapes: list[Shape]) -> None:
    t0 = time.time()
    with open(path, "wb") as fh:
        writer = io.FlowWriter(fh)
        for i, s in enumerate(shapes):
            writer.add(make_flow(s, t0 + i * 0.002 + s.seen_offset))
