"""Test helper loaded with a second ``-s`` after addons/sigv4.py: make the sigv4 addon's
core fail on every flow, without touching its files, so a test can check that traffic is
unaffected and that the addon falls back to an ``unverified`` record.

It patches, inside the running mitmdump process:

* ``inspect_request`` as ``sigv4core.flowinspect`` sees it (it imported the name, so
  replacing ``sigv4core.pipeline.inspect_request`` alone would not reach it), and the
  pipeline's own, to raise (the test runs the addon with ``sigv4_worker=false``, so the
  inspection happens in this patched process);
* ``AwsChunkedDecoder.feed`` to raise (the streaming tap's verifier must absorb it);
* ``learn_from_response`` to raise (the addon's learning must absorb it).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from mitmproxy import ctx

log = logging.getLogger("break_sigv4")


class InjectedFailure(RuntimeError):
    """The failure injected into the sigv4 core."""


def _boom(*args: Any, **kwargs: Any) -> NoReturn:
    raise InjectedFailure("injected by tests/data/break_sigv4.py")


class BreakSigv4:
    def __init__(self) -> None:
        self.patched = False

    def _patch(self) -> None:
        if self.patched:
            return
        inspector = ctx.master.addons.get("sigv4inspector")
        if inspector is None:
            return
        import sigv4core.chunked
        import sigv4core.credentials
        import sigv4core.flowinspect
        import sigv4core.pipeline

        sigv4core.flowinspect.inspect_request = _boom
        sigv4core.pipeline.inspect_request = _boom
        sigv4core.chunked.AwsChunkedDecoder.feed = _boom  # type: ignore[method-assign]
        sigv4core.credentials.learn_from_response = _boom
        self.patched = True
        log.warning("break_sigv4: the sigv4 core now raises on every flow")

    def load(self, loader: Any) -> None:
        self._patch()

    def running(self) -> None:
        self._patch()
        if not self.patched:
            log.error("break_sigv4: the sigv4 addon is not loaded")


addons = [BreakSigv4()]
