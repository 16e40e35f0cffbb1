"""Drive the addon as mitmproxy loads it (``make_addons``) hook by hook, without sockets:
for unit tests of the addon layer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from sigv4_inspector.addon import make_addons
from sigv4_inspector.addon.commands import Commands
from sigv4_inspector.addon.inspector import Inspector
from sigv4_inspector.addon.state import State
from sigv4_inspector.core.model import WireRequest
from sigv4_inspector.runtime.credentials import CredentialStore


class Sigv4:
    """The addon as mitmproxy loads it (``make_addons``), driven hook by hook."""

    def __init__(self) -> None:
        self.addons = make_addons()
        self.state: State = self.addons[0].state
        self.inspector: Inspector = next(x for x in self.addons if isinstance(x, Inspector))
        self.commands: Commands = next(x for x in self.addons if isinstance(x, Commands))
        self.capture = self.inspector.capture
        self.tap = self.inspector.tap

    @property
    def store(self) -> CredentialStore:
        return self.state.store

    def hook(self, name: str, *args: Any) -> None:
        for a in self.addons:
            fn = getattr(a, name, None)
            if fn is not None:
                fn(*args)

    def requestheaders(self, f: http.HTTPFlow) -> None:
        self.hook("requestheaders", f)

    def request(self, f: http.HTTPFlow) -> None:
        self.hook("request", f)

    def response(self, f: http.HTTPFlow) -> None:
        self.hook("response", f)

    def cycle(self, f: http.HTTPFlow) -> None:
        self.requestheaders(f)
        self.request(f)
        self.response(f)

    def done(self) -> None:
        self.hook("done")

    async def recorded(self, f: http.HTTPFlow) -> dict[str, Any]:
        """The flow's record, once written (a streamed body is hashed on a thread)."""
        for _ in range(250):
            if "sigv4" in f.metadata:
                break
            await asyncio.sleep(0.02)
        rec: dict[str, Any] = f.metadata["sigv4"]
        return rec

    async def settled(self) -> None:
        """Wait until the credentials finished loading (their thread)."""
        for _ in range(200):
            if self.state.credentials_ready:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0)


def flow_for(
    wire: WireRequest, status: int = 200, body: bytes = b"", ctype: str | None = None
) -> http.HTTPFlow:
    """A finished flow carrying ``wire`` as sent, answered ``status`` with ``body`` (and,
    when ``ctype`` is given, only a Content-Type header, as an AWS error answer has)."""
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
    if ctype is not None:
        resp.headers.clear()
        resp.headers.add("Content-Type", ctype)
    return tflow.tflow(req=req, resp=resp)
