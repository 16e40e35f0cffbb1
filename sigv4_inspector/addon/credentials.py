"""Loads the user's credentials without ever holding up mitmproxy's event loop.

botocore is imported on the main thread while mitmproxy starts (before any traffic), and
the provider chain runs on a thread of its own: ``credential_process``, SSO and assume-role
may take seconds or hang. Flows whose key is already known are inspected at once; flows
that need the loading credentials wait for them (:class:`~sigv4_inspector.addon.inspector.Inspector`).
After ``sigv4_credential_timeout`` seconds they go on without them, ``unverified``, with a
finding that names the profiles and the timeout; credentials that arrive later still serve
the flows after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mitmproxy import ctx

from sigv4_inspector.addon.state import State
from sigv4_inspector.runtime.credentials import CredentialStore, LoadResult, import_botocore

log = logging.getLogger("sigv4")
_LEVELS = {"warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}


class Credentials:
    """Starts a load whenever the credential options change; tells listeners when the
    credentials are ready (or late)."""

    name = "sigv4_credentials"

    def __init__(self, state: State) -> None:
        self.state = state
        self.listeners: list[Callable[[], None]] = []
        self._key: tuple[object, ...] | None = None
        self._generation = 0

    def configure(self, updated: set[str]) -> None:
        s = self.state.settings
        key = (s.profiles, s.credential_files)
        self.state.loader.timeout = s.credential_timeout
        if key == self._key:
            return
        self._key = key
        self.state.store = CredentialStore(self.state.store.learned_credentials())
        self.state.credentials_ready = False
        self.state.credentials_problem = None
        try:
            import_botocore()
            from sigv4_inspector.runtime.endpoints import botocore_endpoints

            self.state.endpoints = botocore_endpoints()
        except ImportError as exc:
            # botocore is required: without it no credential is known and every flow would
            # be "unverified"; stop with one line (mitmproxy exits on an error logged while
            # it starts) naming the module and the command for this install
            from sigv4_inspector.runtime.install import missing_module_line

            line = missing_module_line(exc.name or "botocore", "botocore")
            log.error("%s", line)
            self._ready(LoadResult([], []), problem="botocore is not installed")
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script or a test): load right here
            from sigv4_inspector.runtime.credentials import _load

            self._ready(_load(list(s.profiles) or None, list(s.credential_files)))
            return

        def on_done(result: LoadResult) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (exit)
                loop.call_soon_threadsafe(self._loaded, gen, result)

        gen = self.state.loader.start(list(s.profiles) or None, list(s.credential_files), on_done)
        self._generation = gen
        loop.call_later(s.credential_timeout, self._timed_out, gen)

    def running(self) -> None:
        """Offline (``mitmdump -nr``: no proxy server, so no traffic to hold up), the flows
        of the file need the credentials: wait for them here, at most the timeout."""
        try:
            offline = not ctx.options.server
        except (AttributeError, KeyError):
            return
        if offline:
            self.settle(self.state.loader.timeout)

    def settle(self, timeout: float) -> None:
        """Apply a load that has finished (waiting at most ``timeout`` for it), without
        the event loop: offline start and shutdown."""
        loader = self.state.loader
        if self.state.credentials_ready and self.state.credentials_problem is None:
            return
        if loader.finished.wait(timeout) and loader.result is not None:
            self._ready(loader.result)

    def _loaded(self, gen: int, result: LoadResult) -> None:
        late = self.state.credentials_ready and self.state.credentials_problem is not None
        if gen != self._generation:
            return
        self._ready(result)
        if late:
            log.info("sigv4: the credentials arrived after the timeout; later flows use them")

    def _timed_out(self, gen: int) -> None:
        if gen != self._generation or self.state.credentials_ready:
            return
        s = self.state.settings
        which = ", ".join(s.profiles) if s.profiles else "the default chain and your profiles"
        problem = (
            f"credentials of {which} did not load within {s.credential_timeout:g} s "
            f"(a credential_process, SSO or assume-role that hangs?); "
            f"set sigv4_credential_timeout to wait longer"
        )
        log.warning("sigv4: %s", problem)
        self.state.credentials_problem = problem
        self.state.credentials_ready = True
        self._notify()

    def _ready(self, result: LoadResult, problem: str | None = None) -> None:
        self.state.store.add_many(result.credentials)
        for level, text in result.messages:
            log.log(_LEVELS.get(level, logging.INFO), "%s", text)
        self.state.credentials_problem = problem
        self.state.credentials_ready = True
        self._notify()

    def _notify(self) -> None:
        for fn in self.listeners:
            try:
                fn()
            except Exception as exc:  # a listener must not break the others
                log.warning("sigv4: %s", type(exc).__name__)
