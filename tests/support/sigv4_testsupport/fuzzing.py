"""Property-based fuzzing of the core's parsers and verifier: the hypothesis strategies and
the checks, one :class:`Target` each (``TARGETS``, ``BY_NAME``), shared by tests/test_fuzz.py
(a few hundred examples per target) and scripts/fuzz_long.py (many more).

Every target gets hostile input and must not raise: ``parse_auth`` (random and
half-valid Authorization headers and presigned queries, non-UTF-8 bytes carried as
surrogate escapes), the canonicaliser, the ``aws-chunked`` decoder (random bytes, and
valid bodies truncated, extended and cut into random slices, which must decode exactly
as when fed whole), ``verify``/``inspect_request`` on real boto3-signed requests with
random mutations (unmutated they must verify), ``VerifySession`` fed in random slices
(same result as ``verify``), ``parse_error_response`` and ``learn_from_response`` on
random bytes and near-valid bodies.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import strategies as st

from sigv4_inspector.core import canonical as c
from sigv4_inspector.core.authparse import parse_auth
from sigv4_inspector.core.chunked import AwsChunkedDecoder
from sigv4_inspector.core.inspect import inspect_request
from sigv4_inspector.core.learn import learn_from_response
from sigv4_inspector.core.model import (
    Credential,
    DictKeyring,
    ParsedAuth,
    Verification,
    WireRequest,
)
from sigv4_inspector.core.servererror import (
    CLASSIFICATIONS,
    ServerError,
    canonical_diff,
    classify,
    parse_error_response,
    string_to_sign_diff,
)
from sigv4_inspector.core.verify import VerifySession, verify
from sigv4_testsupport.proxyharness import clean_aws_env
from sigv4_testsupport.signing import AKID, SECRET, capture, presigned

VERDICTS = {"valid", "invalid", "unverified", "unsigned"}
SCHEMES = {"sigv4", "sigv4a", "sigv2", "none"}
SEVERITIES = {"error", "warning", "info"}
EVENT_KINDS = {"chunk", "data", "chunk_end", "trailer", "end", "error"}

# -- building blocks ----------------------------------------------------------------------

#: str carrying arbitrary bytes the way the addon decodes the wire (surrogateescape)
raw_text = st.binary(max_size=120).map(lambda b: b.decode("utf-8", "surrogateescape"))
any_text = st.one_of(st.text(max_size=80), raw_text)
token_chars = string.ascii_letters + string.digits + "-_.~/%=+;,:* \t"
fragment = st.one_of(st.text(alphabet=token_chars, max_size=30), any_text)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def _one_of_or_random(*values: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(values), fragment)


credential_value = st.lists(
    _one_of_or_random(AKID, "ASIAEXAMPLE", "20261123", "2026-11-23", "us-east-1", "s3", "*")
    | st.sampled_from(["aws4_request", "sts", "dynamodb", ""]),
    max_size=7,
).map("/".join)
signed_headers_value = st.lists(
    _one_of_or_random("host", "x-amz-date", "x-amz-content-sha256", "Host", "content-type"),
    max_size=6,
).map(";".join)
amz_date = _one_of_or_random("20261123T101010Z", "20261123T1010Z", "Sun, 22 Nov 2026 10:10:10 GMT")


@st.composite
def authorization_values(draw: st.DrawFn) -> str:
    """Random text, or an Authorization header with random parts, order and separators."""
    if draw(st.booleans()):
        return draw(any_text)
    alg = draw(
        _one_of_or_random(
            "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", "AWS", "AWS4-HMAC-SHA1", "AWS4-"
        )
    )
    if alg == "AWS":
        return f"AWS {draw(fragment)}{draw(st.sampled_from([':', '', '::']))}{draw(fragment)}"
    values = {
        "Credential": credential_value,
        "SignedHeaders": signed_headers_value,
        "Signature": st.one_of(hex64, fragment),
    }
    names = draw(st.permutations(list(values)))[: draw(st.integers(0, 3))]
    names += draw(st.lists(fragment, max_size=2))
    parts = []
    for n in names:
        eq = draw(st.sampled_from(["=", "=", "", "=="]))
        parts.append(f"{n}{eq}{draw(values.get(n, fragment))}")
    sep = draw(st.sampled_from([", ", ",", " ", ",,", " , ", ", \t"]))
    return alg + draw(st.sampled_from([" ", "  ", "", "\t"])) + sep.join(parts)


QUERY_KEYS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-Region-Set",
    "X-Amz-Content-Sha256",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
    "SignatureMethod",
    "Timestamp",
    "SecurityToken",
)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """Random text, or presigned-looking pairs with random values, encodings and gaps."""
    if draw(st.integers(0, 4)) == 0:
        return draw(any_text)
    pairs = []
    for _ in range(draw(st.integers(0, 10))):
        k = draw(_one_of_or_random(*QUERY_KEYS, "x-amz-algorithm", "X-Amz-%41lgorithm"))
        v = draw(
            st.one_of(
                st.sampled_from(
                    ["AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", "3600", "%2F", "%zz", "+"]
                ),
                credential_value,
                fragment,
            )
        )
        if draw(st.booleans()):
            v = v.replace("/", "%2F")
        pairs.append(k + draw(st.sampled_from(["=", "=", ""])) + v)
    return draw(st.sampled_from(["&", "&", "&&", ";"])).join(pairs)


header_names = _one_of_or_random(
    "Authorization",
    "X-Amz-Date",
    "Date",
    "x-amz-content-sha256",
    "X-Amz-Security-Token",
    "X-Amz-Region-Set",
    "Host",
    "host",
    "x-amz-trailer",
    "x-amz-checksum-crc32",
    "x-amz-decoded-content-length",
    "Content-Encoding",
)
header_lists = st.lists(st.tuples(header_names, any_text), max_size=8)


def slices(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, in order)."""
    if not data:
        return [data]
    points = sorted({x % (len(data) + 1) for x in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


cut_lists = st.lists(st.integers(0, 1 << 16), max_size=24)


# -- shared state: real signed requests ------------------------------------------------------


@dataclass
class Ctx:
    """What the checks share: real boto3-signed requests and a keyring that knows them."""

    signed: list[WireRequest]
    keyring: DictKeyring


def signed_chunked(
    chunks: list[bytes], host: str = "bucket.s3.us-east-1.amazonaws.com"
) -> WireRequest:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER PutObject of ``chunks``: seed signature
    by botocore's SigV4Auth, chunk and trailer signatures chained with hmac, CRC32 trailer."""
    import zlib

    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    data = b"".join(chunks)
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    req = AWSRequest(
        "PUT",
        f"https://{host}/fuzz/key",
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": mode,
            "X-Amz-Decoded-Content-Length": str(len(data)),
            "X-Amz-Trailer": "x-amz-checksum-crc32",
        },
    )
    SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(req)
    headers = dict(req.headers)
    amz_date = headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + SECRET).encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()

    def sig(sts: str) -> str:
        return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()

    prev = headers["Authorization"].rsplit("Signature=", 1)[1]
    body = b""
    for chunk in [*[x for x in chunks if x], b""]:
        prev = sig(
            f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{c.EMPTY_SHA256}\n"
            f"{hashlib.sha256(chunk).hexdigest()}"
        )
        body += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + chunk
        body += b"\r\n" if chunk else b""
    trailer = f"x-amz-checksum-crc32:{crc}\n"
    tsig = sig(f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{prev}\n{c.hash_hex(trailer)}")
    body += f"{trailer.strip()}\r\nx-amz-trailer-signature:{tsig}\r\n\r\n".encode()
    hdrs = [("Host", host), *((k, str(v)) for k, v in req.headers.items())]
    return WireRequest.build("PUT", "/fuzz/key", hdrs, body, authority=host)


def build_ctx(home: Path) -> Ctx:
    """Capture real signed requests with boto3 (no network) in a clean AWS environment."""
    with mock.patch.dict(os.environ, clean_aws_env(home), clear=True):
        s3v4 = {"signature_version": "s3v4"}
        signed = [
            capture("s3", lambda cl: cl.get_object(Bucket="fuzz", Key="dir/a b+c~d.txt")),
            capture("s3", lambda cl: cl.put_object(Bucket="fuzz", Key="k", Body=b"x" * 300)),
            capture(
                "s3",
                lambda cl: cl.list_objects_v2(Bucket="fuzz", Prefix="a b/ü+%", Delimiter="/"),
            ),
            capture("dynamodb", lambda cl: cl.put_item(TableName="t", Item={"k": {"S": "v"}})),
            capture("sts", lambda cl: cl.get_caller_identity(), token="FwoGZXIvYXdzEXAMPLE" * 5),
            capture(
                "s3",
                lambda cl: cl.get_object(
                    Bucket="arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", Key="k"
                ),
            ),
            signed_chunked([b"hello " * 20, b"world" * 7]),
        ]
        import boto3
        import botocore.config

        for cfg in (s3v4, {}):
            client = boto3.client(
                "s3",
                region_name="us-east-1",
                aws_access_key_id=AKID,
                aws_secret_access_key=SECRET,
                aws_session_token="IQoJb3JpZ2luX2VjEXAMPLE" if cfg else None,
                config=botocore.config.Config(**cfg),
            )
            url = client.generate_presigned_url(
                "put_object",
                Params={"Bucket": "fuzz", "Key": "p q", "ContentType": "text/csv"},
                ExpiresIn=3600,
            )
            signed.append(presigned(url, "PUT", [("Content-Type", "text/csv")]))
    keyring = DictKeyring([Credential(AKID, SECRET, source="fuzz")])
    for w in signed:
        v = verify(w, keyring)
        assert v.verdict == "valid", (w.method, w.target, v.reason, v.detail)
    return Ctx(signed, keyring)


# -- checks ---------------------------------------------------------------------------------


def _auth_ok(a: ParsedAuth) -> None:
    assert isinstance(a, ParsedAuth)
    assert a.scheme in SCHEMES and a.location in ("header", "query", None)
    json.dumps(a.as_dict())  # the record's auth object is JSON-ready


def check_parse_auth(ctx: Ctx, x: tuple[str, list[tuple[str, str]], str, str]) -> None:
    auth, headers, query, path = x
    hdrs = [("Authorization", auth), *headers]
    target = (path or "/") + (f"?{query}" if query else "")
    for h in (hdrs, headers):
        _auth_ok(parse_auth(WireRequest.build("GET", target, h, b"", authority="h")))


def check_canonical(
    ctx: Ctx, x: tuple[str, str, list[tuple[str, str]], list[str], bool, bool]
) -> None:
    path, query, headers, signed, normalize, double = x
    uri = c.canonical_uri(path, normalize=normalize, double_encode=double)
    assert isinstance(uri, str) and uri.isascii()
    pairs = c.split_query(query)
    for mode in ("aws", "plus-space", "raw"):
        q = c.canonical_query(pairs, mode=mode, exclude=("X-Amz-Signature",))
        assert isinstance(q, str)
        if mode != "raw":
            assert q.isascii()
    block, missing = c.canonical_headers(headers, signed)
    assert set(missing) <= set(signed)
    assert block.count("\n") == len(set(signed))
    creq = c.canonical_request("GET", uri, query, block, signed, c.UNSIGNED_PAYLOAD)
    c.string_to_sign("AWS4-HMAC-SHA256", "20261123T000000Z", "s", creq)
    raw = path.encode("utf-8", "surrogateescape")
    assert c.percent_decode(c.uri_encode(path)) == raw


def _decode(pieces: list[bytes]) -> dict[str, Any]:
    dec = AwsChunkedDecoder()
    data = bytearray()
    events: list[tuple[Any, ...]] = []
    for p in pieces:
        for ev in [*dec.feed(p)]:
            assert ev[0] in EVENT_KINDS, ev
            if ev[0] == "data":
                data += ev[1]
            else:
                events.append(ev)
    for ev in dec.finish():
        assert ev[0] in EVENT_KINDS, ev
        events.append(ev)
    assert dec.done or dec.error is not None
    return {
        "data": bytes(data),
        "events": events,
        "trailers": list(dec.trailers),
        "error": dec.error,
        "done": dec.done,
        "extra": dec.extra_bytes,
        "decoded": dec.decoded_length,
    }


def check_chunked_random(ctx: Ctx, x: tuple[bytes, list[int]]) -> None:
    data, cuts = x
    r = _decode(slices(data, cuts))
    assert r["decoded"] == len(r["data"])


def frame(chunks: list[bytes], sig: bool, trailers: list[tuple[str, str]]) -> bytes:
    ext = ";chunk-signature=" + "ab" * 32 if sig else ""
    out = b"".join(f"{len(x):x}{ext}\r\n".encode() + x + b"\r\n" for x in chunks if x)
    out += f"0{ext}\r\n".encode()
    out += b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers)
    return out + b"\r\n"


trailer_lists = st.lists(
    st.tuples(
        st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=20),
        st.text(alphabet=string.ascii_letters + string.digits + "+/= ", max_size=30),
    ),
    max_size=4,
)


def check_chunked_valid(
    ctx: Ctx,
    x: tuple[list[bytes], bool, list[tuple[str, str]], list[int], int, bytes],
) -> None:
    chunks, sig, trailers, cuts, cut_at, extra = x
    body = frame(chunks, sig, trailers)
    whole = _decode([body])
    want_trailers = [(k.strip().lower(), v.strip()) for k, v in trailers]
    assert whole["error"] is None and whole["done"]
    assert whole["data"] == b"".join(chunks) and whole["trailers"] == want_trailers
    assert _decode(slices(body, cuts)) == whole  # any slicing decodes the same
    longer = _decode(slices(body + extra, cuts))
    assert longer["extra"] == len(extra)
    assert {**longer, "extra": 0} == whole
    n = cut_at % len(body)  # truncated: an error, or a complete final chunk and trailers
    short = _decode(slices(body[:n], cuts))
    assert whole["data"].startswith(short["data"])
    if short["error"] is None:
        assert short["data"] == whole["data"]
        assert want_trailers[: len(short["trailers"])] == short["trailers"]


def _check_verification(v: Verification) -> None:
    assert isinstance(v, Verification) and v.verdict in VERDICTS, v
    assert v.auth.scheme in SCHEMES


def check_verify_slicing(ctx: Ctx, x: tuple[list[bytes], list[int]]) -> None:
    chunks, cuts = x
    req = signed_chunked(chunks)
    whole = verify(req, ctx.keyring)
    assert whole.verdict == "valid", (whole.reason, whole.detail)
    assert req.body is not None
    s = VerifySession(replace(req, body=None), ctx.keyring)
    for p in slices(req.body, cuts):
        s.feed(p)
    v = s.finish()
    for attr in ("verdict", "reason", "chunks", "chunks_verified", "checksums", "trailers"):
        assert getattr(v, attr) == getattr(whole, attr), attr


Mutation = tuple[Any, ...]
mutations = st.lists(
    st.one_of(
        st.tuples(st.just("set_header"), st.integers(0, 50), any_text),
        st.tuples(st.just("del_header"), st.integers(0, 50)),
        st.tuples(st.just("add_header"), header_names, any_text),
        st.tuples(st.just("dup_header"), st.integers(0, 50)),
        st.tuples(st.just("case_header"), st.integers(0, 50)),
        st.tuples(st.just("target_insert"), st.integers(0, 500), any_text),
        st.tuples(st.just("target_delete"), st.integers(0, 500), st.integers(1, 20)),
        st.tuples(st.just("query_append"), query_strings()),
        st.tuples(st.just("body_flip"), st.integers(0, 5000), st.integers(1, 255)),
        st.tuples(st.just("body_truncate"), st.integers(0, 5000)),
        st.tuples(st.just("body_append"), st.binary(max_size=40)),
        st.tuples(st.just("body_none")),
        st.tuples(st.just("method"), st.sampled_from(["get", "POST", "", "PUT ", "DELETE"])),
        st.tuples(st.just("authority"), any_text),
        st.tuples(
            st.just("auth_param"),
            st.sampled_from(["Credential", "SignedHeaders", "Signature"]),
            any_text,
        ),
    ),
    max_size=4,
)


def _set_param(text: str, prefix: str, value: str) -> str:
    """Replace the value after ``prefix`` (up to the next ',', '&' or space) in ``text``."""
    start = text.find(prefix)
    if start < 0:
        return text
    start += len(prefix)
    end = min([i for i in (text.find(ch, start) for ch in ",& ") if i >= 0] or [len(text)])
    return text[:start] + value + text[end:]


#: verifications that fell back to ``internal_error``: error class -> [count, request index,
#: first mutation list]. Hostile input ought to get a verdict with a reason, so
#: scripts/fuzz_long.py prints these; the tests only require a valid verdict.
INTERNAL_ERRORS: dict[str, list[Any]] = {}


def mutate(req: WireRequest, ops: list[Mutation]) -> WireRequest:
    method, target, headers = req.method, req.target, list(req.headers)
    body, authority = req.body, req.authority
    for op in ops:
        kind = op[0]
        i = op[1] % len(headers) if headers and len(op) > 1 and isinstance(op[1], int) else 0
        if kind == "set_header" and headers:
            headers[i] = (headers[i][0], op[2])
        elif kind == "del_header" and headers:
            del headers[i]
        elif kind == "add_header":
            headers.append((op[1], op[2]))
        elif kind == "dup_header" and headers:
            headers.insert(i, headers[i])
        elif kind == "case_header" and headers:
            headers[i] = (headers[i][0].swapcase(), headers[i][1])
        elif kind == "target_insert":
            p = op[1] % (len(target) + 1)
            target = target[:p] + op[2] + target[p:]
        elif kind == "target_delete":
            p = op[1] % (len(target) + 1)
            target = target[:p] + target[p + op[2] :]
        elif kind == "query_append":
            target += ("&" if "?" in target else "?") + op[1]
        elif kind == "body_flip" and body:
            p = op[1] % len(body)
            body = body[:p] + bytes([body[p] ^ op[2]]) + body[p + 1 :]
        elif kind == "body_truncate" and body:
            body = body[: op[1] % len(body)]
        elif kind == "body_append":
            body = (body or b"") + op[1]
        elif kind == "body_none":
            body = None
        elif kind == "method":
            method = op[1]
        elif kind == "authority":
            authority = op[1]
        elif kind == "auth_param":  # one Authorization / presigned-query parameter's value
            headers = [
                (k, _set_param(v, op[1] + "=", op[2]) if k.lower() == "authorization" else v)
                for k, v in headers
            ]
            target = _set_param(target, f"X-Amz-{op[1]}=", op[2])
    return WireRequest(method, target, tuple(headers), body, authority, req.scheme)


def check_verify_mutated(ctx: Ctx, x: tuple[int, list[Mutation]]) -> None:
    index, ops = x
    req = mutate(ctx.signed[index % len(ctx.signed)], ops)
    v = verify(req, ctx.keyring)
    _check_verification(v)
    if v.reason == "internal_error":
        seen = INTERNAL_ERRORS.setdefault(str(v.detail.get("error")), [0, index, ops])
        seen[0] += 1
    if not ops:
        assert v.verdict == "valid", (v.reason, v.detail)
    now = datetime.now(UTC)
    insp = inspect_request(
        req, ctx.keyring, flow_id="fuzz", url="https://h" + req.target, seen_at=now, now=now
    )
    _check_verification(insp.verification)
    assert all(f.severity in SEVERITIES for f in insp.findings)
    assert insp.record["verdict"] == insp.verification.verdict
    json.dumps(insp.record)  # JSON-ready (surrogates escaped with the default ensure_ascii)


@st.composite
def error_bodies(draw: st.DrawFn) -> bytes:
    """Random bytes, or an S3/query/JSON error body with random field contents."""
    f = draw(st.lists(st.tuples(st.sampled_from(ERROR_FIELDS), any_text), max_size=6))
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=400))
    if kind == 1:
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in f)
        text = draw(
            st.sampled_from(
                [
                    "<Error>{}</Error>",
                    "<ErrorResponse><Error>{}</Error></ErrorResponse>",
                    "<Response><Errors><Error>{}</Error></Errors></Response>",
                    "<?xml version='1.0'?><Error>{}",
                    "<!DOCTYPE x [<!ENTITY a 'b'>]><Error>{}</Error>",
                ]
            )
        ).format(inner)
    elif kind == 2:
        obj: dict[str, Any] = {k: v for k, v in f}
        obj["__type"] = draw(
            _one_of_or_random("com.amazon.coral.service#InvalidSignatureException", "#", "")
        )
        text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
        text = text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text
    elif kind == 3:
        msg = draw(
            _one_of_or_random(
                "Signature expired: 20261123T101010Z is now earlier than 20261123T102010Z (20261123T102510Z - 5 min.)",
                "The Canonical String for this request should have been\n'GET\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n",
                "Credential should be scoped to a valid region, not 'x'. ",
            )
        )
        text = json.dumps({"__type": "InvalidSignatureException", "message": msg})
    else:
        text = draw(any_text)
    enc = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    return text.encode(enc, "surrogateescape" if enc == "utf-8" else "replace")


ERROR_FIELDS = (
    "Code",
    "Message",
    "CanonicalRequest",
    "CanonicalRequestBytes",
    "StringToSign",
    "StringToSignBytes",
    "SignatureProvided",
    "AWSAccessKeyId",
    "RequestTime",
    "ServerTime",
    "MaxAllowedSkewMilliseconds",
    "Expires",
    "Region",
    "HeadersNotSigned",
    "Header",
    "ClientComputedContentSHA256",
    "S3ComputedContentSHA256",
    "Type",
    "RequestId",
    "message",
)
status_codes = st.one_of(
    st.sampled_from([200, 301, 400, 403, 404, 500, 503]), st.integers(-5, 1000)
)


def check_server_error(ctx: Ctx, x: tuple[int, list[tuple[str, str]], bytes, str, str]) -> None:
    status, headers, body, local, server = x
    for b in (body, None, b""):
        err = parse_error_response(status, headers, b)
        assert err is None or isinstance(err, ServerError)
        if err is not None:
            assert classify(err) in CLASSIFICATIONS
            json.dumps(err.as_dict())
    assert isinstance(canonical_diff(local, server), list)
    assert isinstance(string_to_sign_diff(local, server), list)


@st.composite
def credential_bodies(draw: st.DrawFn) -> bytes:
    """Random bytes, or STS XML / JSON credential documents with random values."""
    fields = {
        k: draw(st.one_of(any_text, st.integers(), st.none(), st.lists(st.integers(), max_size=2)))
        for k in draw(st.lists(st.sampled_from(CRED_FIELDS), max_size=6, unique=True))
    }
    kind = draw(st.integers(0, 3))
    if kind == 0:
        body = draw(st.binary(max_size=400))
    elif kind == 1:
        action = draw(
            _one_of_or_random("AssumeRole", "GetSessionToken", "AssumeRoleWithWebIdentity")
        )
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        body = f"<{action}Response><{action}Result><Credentials>{inner}</Credentials></{action}Result></{action}Response>".encode(
            "utf-8", "surrogateescape"
        )
    else:
        wrap = draw(st.sampled_from(["", "Credentials", "roleCredentials", "AssumeRoleResponse"]))
        doc: Any = {wrap: fields} if wrap else fields
        body = json.dumps(doc, default=str).encode()
    if draw(st.integers(0, 5)) == 0:
        body = gzip.compress(body)
    return body


CRED_FIELDS = (
    "AccessKeyId",
    "SecretAccessKey",
    "SessionToken",
    "Token",
    "Expiration",
    "accessKeyId",
    "secretAccessKey",
    "sessionToken",
    "expiration",
    "Code",
    "LastUpdated",
    "Type",
)


def check_learn(
    ctx: Ctx, x: tuple[str, str, bytes | None, int, list[tuple[str, str]], bytes]
) -> None:
    host, path, req_body, status, headers, body = x
    now = datetime.now(UTC)
    out = learn_from_response(host, path, req_body, status, headers, body, now)
    assert isinstance(out, list) and all(isinstance(cr, Credential) for cr in out)


# -- structural floods (issue 18): many headers, huge echoes, duplicated security headers ---

FLOOD_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEfloodTOKEN" + "Zm9vYmFy" * 40
FLOOD_SIZES = st.sampled_from([0, 1, 40, 500, 5000, 20000])


@st.composite
def floods(draw: st.DrawFn) -> tuple[int, int, int, int, str, int]:
    """(signed request index, extra signed headers, extra sent copies of the token header,
    lines in the server's canonical-request echo, the echo's shape, where a secret fragment
    goes: a start offset into the secret, or -1 for none)."""
    return (
        draw(st.integers(0, 1000)),
        draw(FLOOD_SIZES),
        draw(st.integers(0, 6)),
        draw(FLOOD_SIZES),
        draw(st.sampled_from(["s3-xml", "json", "query-xml"])),
        draw(st.integers(-1, 30)),
    )


def _flood_echo(shape: str, lines: int, secret_bit: str) -> tuple[int, str, bytes]:
    creq = "GET\n/\n\n" + "\n".join(f"x-h{i}:{i}{secret_bit}" for i in range(lines))
    creq += f"\nx-amz-security-token:{FLOOD_TOKEN}\n\nhost\nabc"
    if shape == "s3-xml":
        body = (
            "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message>"
            f"<CanonicalRequest>{creq}</CanonicalRequest><Token-0>{FLOOD_TOKEN}</Token-0>"
            "<RequestId>x</RequestId></Error>"
        )
        return 403, "application/xml", body.encode()
    if shape == "json":
        msg = f"The Canonical String for this request should have been\n'{creq}'\n{secret_bit}"
        return (
            400,
            "application/x-amz-json-1.0",
            json.dumps({"__type": "InvalidSignatureException", "message": msg}).encode(),
        )
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
        f"<Message>The Canonical String for this request should have been\n'{creq}'"
        f"</Message></Error><RequestId>{secret_bit}</RequestId></ErrorResponse>"
    )
    return 403, "text/xml", body.encode()


MAX_RECORD = 64 << 10
MAX_FINDINGS = 50


def check_floods(ctx: Ctx, x: tuple[int, int, int, int, str, int]) -> None:
    """A flooded request and echo: the record stays under 64 KiB with at most 50 findings,
    the comment stays short, and after the sink's scrubber no run of more than 8 characters
    of the secret or the token is left in the record, the comment or the breakdown."""
    from sigv4_inspector.core.explain import explain_record
    from sigv4_inspector.core.inspect import parse_response
    from sigv4_inspector.core.redact import Scrubber

    index, extra, dup_tokens, echo_lines, shape, secret_at = x
    base = ctx.signed[index % len(ctx.signed)]
    headers = list(base.headers)
    if extra:
        names = [f"x-flood-{i}" for i in range(extra)]
        for i, (k, v) in enumerate(headers):
            if k.lower() == "authorization" and "SignedHeaders=" in v:
                signed = v.split("SignedHeaders=")[1].split(",")[0]
                joined = ";".join(sorted([*signed.split(";"), *names]))
                headers[i] = (k, v.replace(signed, joined))
        headers += [(n, "v") for n in names[: extra // 2]]
    headers += [("X-Amz-Security-Token", FLOOD_TOKEN)] * dup_tokens
    req = WireRequest.build(base.method, base.target, headers, base.body, authority=base.authority)
    bit = SECRET[secret_at : secret_at + 12] if secret_at >= 0 else ""
    status, ctype, body = _flood_echo(shape, echo_lines, bit)
    now = datetime.now(UTC)
    resp = parse_response(status, [("Content-Type", ctype)], body)
    insp = inspect_request(
        req, ctx.keyring, flow_id="f", url="https://x/", seen_at=now, now=now, response=resp
    )
    assert len(insp.line.encode()) < MAX_RECORD, len(insp.line)
    assert len(insp.findings) <= MAX_FINDINGS
    if len(insp.findings) == MAX_FINDINGS:
        assert insp.findings[-1].code == "FINDINGS_TRUNCATED"
    scrub = Scrubber([SECRET, FLOOD_TOKEN]).text
    line = scrub(insp.line)
    out = "\n".join([line, scrub(insp.comment), scrub(explain_record(json.loads(line)))])
    assert len(insp.comment) <= 400
    for secret in (SECRET, FLOOD_TOKEN):
        for i in range(len(secret) - 8):
            assert secret[i : i + 9] not in out, "a run of a secret is left in an output"


# -- targets: one strategy and one check each (shared with scripts/fuzz_long.py) -------------


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Ctx, Any], None]


TARGETS: list[Target] = [
    Target(
        "parse_auth",
        st.tuples(authorization_values(), header_lists, query_strings(), any_text),
        check_parse_auth,
    ),
    Target(
        "canonical",
        st.tuples(
            any_text,
            query_strings(),
            header_lists,
            st.lists(st.text(alphabet=string.ascii_lowercase + "-", max_size=12), max_size=5),
            st.booleans(),
            st.booleans(),
        ),
        check_canonical,
    ),
    Target("chunked_random", st.tuples(st.binary(max_size=600), cut_lists), check_chunked_random),
    Target(
        "chunked_valid",
        st.tuples(
            st.lists(st.binary(max_size=300), max_size=6),
            st.booleans(),
            trailer_lists,
            cut_lists,
            st.integers(0, 1 << 16),
            st.binary(min_size=1, max_size=30),
        ),
        check_chunked_valid,
    ),
    Target(
        "verify_slicing",
        st.tuples(st.lists(st.binary(min_size=1, max_size=400), max_size=5), cut_lists),
        check_verify_slicing,
    ),
    Target("verify_mutated", st.tuples(st.integers(0, 1000), mutations), check_verify_mutated),
    Target(
        "server_error",
        st.tuples(
            status_codes,
            st.lists(
                st.tuples(
                    _one_of_or_random(
                        "Date", "x-amzn-ErrorType", "x-amz-bucket-region", "Content-Type"
                    ),
                    any_text,
                ),
                max_size=4,
            ),
            error_bodies(),
            any_text,
            any_text,
        ),
        check_server_error,
    ),
    Target(
        "learn",
        st.tuples(
            _one_of_or_random(
                "sts.amazonaws.com", "169.254.169.254", "portal.sso.us-east-1.amazonaws.com"
            ),
            _one_of_or_random(
                "/", "/?Action=AssumeRole", "/latest/meta-data/iam/security-credentials/r"
            ),
            st.one_of(
                st.none(), st.binary(max_size=60), st.just(b"Action=AssumeRole&Version=2011-06-15")
            ),
            status_codes,
            st.lists(
                st.tuples(_one_of_or_random("Content-Type", "Content-Encoding"), any_text),
                max_size=3,
            ),
            credential_bodies(),
        ),
        check_learn,
    ),
]
TARGETS.append(Target("floods", floods(), check_floods))
BY_NAME = {t.name: t for t in TARGETS}
