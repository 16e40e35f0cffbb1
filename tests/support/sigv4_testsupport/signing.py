"""Capture requests signed by real boto3 clients without sending them (botocore's
``before-send`` event answers with a stub), as WireRequests for the core."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
from botocore.awsrequest import AWSResponse

from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.inspect import Inspection, inspect_request
from sigv4_inspector.core.model import Keyring, WireRequest

AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class _Raw:
    def stream(self, *a: Any, **k: Any) -> Any:
        yield b""


def inspect_at_signing(
    req: WireRequest, keyring: Keyring, now: datetime | None = None, **kw: Any
) -> Inspection:
    """The core's inspection of a captured request, seen (and judged) at ``now``: by
    default the moment it was signed (its x-amz-date), as if it reached the proxy at once."""
    when = now or parse_amz_date(req.header("x-amz-date")) or datetime.now(UTC)
    return inspect_request(
        req,
        keyring,
        flow_id="t",
        url="https://" + req.host + req.target,
        seen_at=when,
        now=when,
        **kw,
    )


def to_wire(method: str, url: str, headers: Any, body: Any) -> WireRequest:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    hdrs = [(k, v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers.items()]
    if not any(k.lower() == "host" for k, _ in hdrs):
        hdrs.insert(0, ("Host", parts.netloc))
    if body is None:
        data = b""
    elif hasattr(body, "read"):
        data = body.read()
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = bytes(body)
    return WireRequest.build(
        method, target, hdrs, data, authority=parts.netloc, scheme=parts.scheme
    )


def capture(
    service: str,
    call: Callable[[Any], Any],
    *,
    region: str = "us-east-1",
    key: str = AKID,
    secret: str = SECRET,
    token: str | None = None,
    endpoint_url: str | None = None,
    **config: Any,
) -> WireRequest:
    """Build a client, run ``call(client)`` and return the first request it would send."""
    client = boto3.client(
        service,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        endpoint_url=endpoint_url,
        config=botocore.config.Config(retries={"max_attempts": 1}, **config),
    )
    seen: list[WireRequest] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        seen.append(to_wire(request.method, request.url, request.headers, request.body))
        return AWSResponse(request.url, 200, {}, _Raw())

    client.meta.events.register("before-send", before_send)
    with contextlib.suppress(Exception):  # the stub may not parse; the request is what we want
        call(client)
    assert seen, "the client sent nothing"
    return seen[0]


def presigned(
    url: str, method: str = "GET", headers: list[tuple[str, str]] | None = None
) -> WireRequest:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return WireRequest.build(
        method, target, [("Host", parts.netloc), *(headers or [])], b"", authority=parts.netloc
    )
