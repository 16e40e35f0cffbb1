"""The "AWS Signature" content view: the request's record as a person reads it."""

from __future__ import annotations

from collections.abc import Callable

from mitmproxy import contentviews, http

from sigv4_inspector.addon.state import META_KEY, State
from sigv4_inspector.core.explain import explain_record
from sigv4_inspector.core.redact import Scrubber

# Characters per line: mitmweb shows a view as unwrapped lines, and at 1440 px with its
# default split the detail pane holds about 86 columns of its 13 px monospace font.
VIEW_WIDTH = 84


class AwsSignatureView(contentviews.Contentview):
    """The headline and its fix, the canonical request beside what it is compared with
    (differing rows marked), the findings, the canonical request and string to sign."""

    name = "AWS Signature"
    scrub: Callable[[str], str] = staticmethod(Scrubber().text)  # the addon's, once loaded

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        fl = metadata.flow
        rec = fl.metadata.get(META_KEY) if fl is not None else None
        if not rec:
            raise ValueError("not an AWS-signed request")
        return self.scrub(explain_record(rec, width=VIEW_WIDTH))

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        fl = metadata.flow
        if (
            fl is not None
            and META_KEY in fl.metadata
            and isinstance(fl, http.HTTPFlow)
            and metadata.http_message is fl.request
        ):
            return 2.0
        return -1


VIEW = AwsSignatureView()


class View:
    """Registers the content view when the addon loads (mitmproxy has no way to remove one);
    what it shows passes the addon's scrubber."""

    name = "sigv4_view"

    def __init__(self, state: State) -> None:
        self.state = state

    def load(self, loader: object) -> None:
        VIEW.scrub = lambda text: self.state.scrubber.text(text)
        contentviews.add(VIEW)
