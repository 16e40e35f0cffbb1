"""The learner: temporary credentials issued by responses that pass through the proxy
(STS, EC2 IMDS, the ECS/EKS container endpoints, IAM Identity Center) go into the keyring,
so requests later signed with them verify. Kept in memory only, in a bounded store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mitmproxy import http

from sigv4_inspector.addon.state import State
from sigv4_inspector.core.capture import decode_fields
from sigv4_inspector.core.learn import learn_from_response

log = logging.getLogger("sigv4")


class Learner:
    name = "sigv4_learner"

    def __init__(self, state: State) -> None:
        self.state = state

    def response(self, f: http.HTTPFlow) -> None:
        resp = f.response
        if not self.state.settings.learn or resp is None:
            return
        try:
            raw = resp.raw_content
            if not raw or (
                b"ccessKeyId" not in raw
                and not any(k.lower() == b"content-encoding" for k, _ in resp.headers.fields)
            ):
                return  # not a credentials response (the cheap test before any parsing)
            body = resp.get_content(strict=False) or b""
            learned = learn_from_response(
                f.request.pretty_host,
                f.request.path,
                f.request.raw_content,
                resp.status_code,
                decode_fields(resp.headers.fields),
                body,
                datetime.now(UTC),
            )
            for c in learned:
                self.state.store.add(c)
                log.info(
                    "sigv4: learned temporary key %s from %s (%s)",
                    c.access_key_id,
                    c.issued_by,
                    c.source,
                )
        except Exception as exc:
            log.warning("sigv4: could not learn credentials from %s: %s", f.id, type(exc).__name__)
