"""A flow as plain data: what the addon captures from each mitmproxy flow for the
inspector, and the outcome it gets back. Named tuples of bytes and strings, cheap to build:
the addon builds one per flow and the inspector reads it in the same process, on
mitmproxy's event loop (there is no worker process). Imports nothing heavy, so the addon can
load it at start-up for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sigv4_inspector.core.model import Verification, WireRequest

if TYPE_CHECKING:
    from sigv4_inspector.core.rules import ProxyChange

Fields = tuple[tuple[bytes, bytes], ...]


def decode_fields(fields: Sequence[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Header fields as str, raw non-UTF-8 bytes kept as surrogate escapes."""
    return tuple(
        [
            (k.decode("utf-8", "surrogateescape"), v.decode("utf-8", "surrogateescape"))
            for k, v in fields
        ]
    )


def pick_authority(
    headers: Sequence[tuple[str, str]], h2_authority: str, default_authority: str
) -> str:
    """What mitmproxy's ``Request.host_header`` gives: the HTTP/2 or HTTP/3 ``:authority``
    first, else the Host header, else ``default_authority`` (host:port)."""
    if h2_authority:
        return h2_authority
    return next((v for k, v in headers if len(k) == 4 and k.lower() == "host"), default_authority)


class FlowCapture(NamedTuple):
    """Everything the inspection of one flow reads, as the client sent it. A named tuple:
    built at C speed, since the addon makes one per flow on mitmproxy's event loop.

    ``h2_authority`` is the HTTP/2 or HTTP/3 ``:authority`` (preferred over Host, as
    mitmproxy's ``host_header`` does); ``default_authority`` is used when neither exists.
    ``response_body`` is only set for error responses (decoded, small).
    ``verification`` comes from the streaming path when the body was verified as it passed.
    """

    flow_id: str
    method: bytes
    target: bytes
    fields: Fields
    body: bytes | None
    scheme: str
    h2_authority: str
    default_authority: str
    seen_at: float
    client_addr: str
    status: int | None = None
    response_fields: Fields = ()
    response_body: bytes | None = None
    proxy_changes: tuple[ProxyChange, ...] = ()
    verification: Verification | None = None
    input_source: str = "live"  # "live", "file" (a .mitm replay) or "har"
    limits: tuple[str, ...] = ()  # bounds the capture hit (headers kept, body not kept ...)
    credentials_problem: str | None = None  # why the user's credentials are missing

    def wire(self) -> WireRequest:
        headers = decode_fields(self.fields)
        return WireRequest(
            self.method.decode("utf-8", "surrogateescape"),
            self.target.decode("utf-8", "surrogateescape"),
            headers,
            self.body,
            pick_authority(headers, self.h2_authority, self.default_authority),
            self.scheme,
        )


class Outcome(NamedTuple):
    """What the addon writes onto a flow and into the report."""

    flow_id: str
    record: dict[str, Any]
    line: str
    comment: str
    marker: str
    verdict: str
    codes: tuple[str, ...]
    error: str = ""  # the inspector's internal failure on this flow, for the log
