"""Test helper loaded with a second ``-s`` after addons/sigv4.py: make the sigv4 addon's
core fail on every flow, without touching its files, so a test can check that traffic is
unaffected and that the addon falls back to an ``unverified`` record.

It patches, inside the running mitmdump process:

* ``inspect_request`` in ``sigv4_inspector.core.inspect``, which the inspector calls for
  every flow, to raise;
* ``AwsChunkedDecoder.feed`` to raise (the streaming tap's verifier must absorb it);
* ``learn_from_response`` to raise (the addon's learning must absorb it).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn
from unittest import mock

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
        if ctx.master.addons.get("sigv4_inspector") is None:
            return
        for target in (
            "sigv4_inspector.core.inspect.inspect_request",
            "sigv4_inspector.core.chunked.AwsChunkedDecoder.feed",
            "sigv4_inspector.addon.learner.learn_from_response",
        ):
            mock.patch(target, _boom).start()  # for the life of this process
        self.patched = True
        log.warning("break_sigv4: the sigv4 core now raises on every flow")

    def load(self, loader: Any) -> None:
        self._patch()

    def running(self) -> None:
        self._patch()
        if not self.patched:
            log.error("break_sigv4: the sigv4 addon is not loaded")


addons = [BreakSigv4()]
