"""What the addons share: the settings they were configured with, the credential store,
the inspector, the report file and the counts for the summary.

mitmproxy's own addons share state through the flow and ``ctx.options``; these share one
:class:`State` object, handed to each at construction (``make_addons``), because the
keyring the learner fills is the one the inspector reads.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigv4_inspector.core.endpoints import DEFAULT, Endpoints
from sigv4_inspector.core.inspect import FlowInspector
from sigv4_inspector.core.redact import Scrubber
from sigv4_inspector.runtime.credentials import CredentialLoader, CredentialStore

if TYPE_CHECKING:
    from sigv4_inspector.runtime.reportfile import ReportFile

log = logging.getLogger("sigv4")

META_KEY = "sigv4"
MAX_FLOWS_PER_CODE = 20  # flows the summary remembers for each finding code


@dataclass
class Settings:
    """The sigv4_* options, parsed and validated (:mod:`sigv4_inspector.addon.options`)."""

    report: str = ""
    profiles: tuple[str, ...] = ()
    credential_files: tuple[str, ...] = ()
    credential_timeout: float = 10.0
    learn: bool = True
    quiet: bool = False
    stream_threshold: int = 16 << 20
    stream_verify: bool = True


@dataclass
class FlowRef:
    """A flow the summary names: method, URL (signatures fingerprinted) and status."""

    flow_id: str
    method: str
    url: str
    status: int | None


@dataclass
class State:
    settings: Settings = field(default_factory=Settings)
    store: CredentialStore = field(default_factory=CredentialStore)
    loader: CredentialLoader = field(default_factory=CredentialLoader)
    endpoints: Endpoints = DEFAULT
    report: ReportFile | None = None
    counts: Counter[str] = field(default_factory=Counter)  # verdicts
    codes: Counter[str] = field(default_factory=Counter)  # finding codes
    flows_by_code: dict[str, OrderedDict[str, FlowRef]] = field(default_factory=dict)
    has_view: bool = False  # mitmweb or the console: they show the log themselves
    credentials_ready: bool = False
    credentials_problem: str | None = None  # why the user's credentials are not there
    seen_secrets: list[str] = field(default_factory=list)  # tokens seen in responses (IMDS ...)
    seen_added: int = 0  # tokens ever added to seen_secrets (only grows: the scrubber's key)
    _inspector: FlowInspector | None = None
    _scrubber: Scrubber | None = None
    _scrubbed_for: tuple[int, int, int] = (-1, -1, -1)

    @property
    def inspector(self) -> FlowInspector:
        i = self._inspector
        if i is None or i.keyring is not self.store or i.endpoints is not self.endpoints:
            i = self._inspector = FlowInspector(self.store, self.endpoints)
        return i

    @property
    def scrubber(self) -> Scrubber:
        """The one scrubber every output passes: it knows every secret and token in the
        keyring and every token seen in a response (rebuilt when they change)."""
        key = (id(self.store), self.store.version, self.seen_added)
        if self._scrubber is None or key != self._scrubbed_for:
            secrets: list[str] = []
            for c in self.store.all_credentials():
                secrets.append(c.secret_access_key)
                if c.session_token:
                    secrets.append(c.session_token)
            secrets.extend(self.seen_secrets)
            self._scrubber, self._scrubbed_for = Scrubber(secrets), key
        return self._scrubber

    def add_seen_secret(self, value: str) -> None:
        """A token seen in traffic that is no credential (IMDSv2, container, web identity)."""
        if value and len(value) > 8 and value not in self.seen_secrets:
            self.seen_secrets.append(value)
            self.seen_added += 1
            if len(self.seen_secrets) > 1000:
                del self.seen_secrets[:100]

    def remember(self, code: str, ref: FlowRef) -> None:
        """Count a finding and keep the flow (bounded) for the summary's list."""
        self.codes[code] += 1
        flows = self.flows_by_code.setdefault(code, OrderedDict())
        flows[ref.flow_id] = ref
        while len(flows) > MAX_FLOWS_PER_CODE:
            flows.popitem(last=False)
