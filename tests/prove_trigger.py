"""Test-only mitmproxy script: lets a test run ``sigv4.prove`` inside a real mitmdump.

A request through the proxy to ``http://sigv4-prove.test/CODE[?confirm=yes]`` proves the
latest flow whose headline is CODE and answers, once the proof's replay has ended (at most
30 s), with the JSON outcome the command left in the flow's ``metadata["sigv4_proof"]``.
"""

from __future__ import annotations

import asyncio
import json

from mitmproxy import ctx, http

FLOWS: list[http.HTTPFlow] = []


class Trigger:
    def response(self, f: http.HTTPFlow) -> None:
        if f.request.host != "sigv4-prove.test" and not f.is_replay:
            FLOWS.append(f)
            del FLOWS[:-200]

    async def request(self, f: http.HTTPFlow) -> None:
        if f.request.host != "sigv4-prove.test":
            return
        code = f.request.path.split("?")[0].strip("/")
        confirm = f.request.query.get("confirm", "")
        target = next(
            (
                x
                for x in reversed(FLOWS)
                if ((x.metadata.get("sigv4") or {}).get("headline") or {}).get("code") == code
            ),
            None,
        )
        if target is None:
            f.response = http.Response.make(404, json.dumps({"result": "no such flow"}).encode())
            return
        ctx.master.commands.call("sigv4.prove", [target], confirm)
        for _ in range(300):
            out = target.metadata.get("sigv4_proof") or {}
            if out.get("result") not in (None, "replaying"):
                break
            await asyncio.sleep(0.1)
        f.response = http.Response.make(
            200,
            json.dumps(target.metadata.get("sigv4_proof")).encode(),
            {"content-type": "application/json"},
        )


addons = [Trigger()]
