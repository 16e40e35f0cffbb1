"""The learner: temporary credentials issued by responses that pass through the proxy
(STS, EC2 IMDS, the ECS/EKS container endpoints, IAM Identity Center) go into the keyring,
so requests later signed with them verify. Kept in memory only, in a bounded store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from mitmproxy import http

from sigv4_inspector.addon.state import State
from sigv4_inspector.core.capture import decode_fields
from sigv4_inspector.core.learn import learn_from_response
from sigv4_inspector.core.model import Credential

log = logging.getLogger("sigv4")

_TOKEN_HEADERS = frozenset(
    {b"x-aws-ec2-metadata-token", b"x-amz-sso_bearer_token", b"x-amz-sso-bearer-token"}
)


def _container(host: str) -> bool:
    """The ECS and EKS Pod Identity credential endpoints."""
    return host in ("169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]")


_MAX_COMPRESSED = 64 << 10  # a compressed credentials answer is a few hundred bytes


class Learner:
    name = "sigv4_learner"

    def __init__(self, state: State) -> None:
        self.state = state

    def request(self, f: http.HTTPFlow) -> None:
        """Tokens that are no AWS credential but must never be printed: the IMDSv2 token,
        a container-credentials or SSO bearer token, a web identity token. They go to the
        scrubber (report.md: "Never in a record ...")."""
        for value in request_tokens(f):
            self.state.add_seen_secret(value)

    def response(self, f: http.HTTPFlow) -> None:
        resp = f.response
        if resp is not None and f.request.path == "/latest/api/token" and resp.raw_content:
            self.state.add_seen_secret(resp.raw_content[:4096].decode("utf-8", "replace").strip())
        if not self.state.settings.learn:
            return
        try:
            learned = learned_credentials(f)
        except Exception as exc:
            log.warning("sigv4: could not learn credentials from %s: %s", f.id, type(exc).__name__)
            return
        for c in learned:
            self.state.store.add(c)
            log.info(
                "sigv4: learned temporary key %s from %s (%s)",
                c.access_key_id,
                c.issued_by,
                c.source,
            )


def request_tokens(f: http.HTTPFlow) -> list[str]:
    """The tokens a request carries that are no AWS credential: the IMDSv2 token, a
    container-credentials or SSO bearer token, a web identity token."""
    out: list[str] = []
    req = f.request
    for k, v in req.headers.fields:
        lk = k.lower()
        if lk in _TOKEN_HEADERS or (lk == b"authorization" and _container(req.host)):
            out.append(v.decode("utf-8", "surrogateescape").strip())
    body = req.raw_content
    if body and b"WebIdentityToken=" in body:
        for part in body.split(b"&"):
            if part.startswith(b"WebIdentityToken="):
                value = unquote_to_bytes(part[len(b"WebIdentityToken=") :].replace(b"+", b" "))
                out.append(value.decode("utf-8", "surrogateescape"))
    return out


def learned_credentials(f: http.HTTPFlow) -> list[Credential]:
    """The temporary credentials a successful answer carries (STS, IMDS, container, SSO,
    Cognito, IoT); [] for anything else, after a cheap test on the raw bytes."""
    resp = f.response
    if resp is None or not 200 <= resp.status_code < 300:
        return []  # credentials come in successful answers only (an S3 error names AWSAccessKeyId)
    raw = resp.raw_content
    if not raw or (
        b"ccessKeyId" not in raw
        and (
            len(raw) > _MAX_COMPRESSED
            or not any(k.lower() == b"content-encoding" for k, _ in resp.headers.fields)
        )
    ):
        return []  # not a credentials response (the cheap test before any parsing)
    body = resp.get_content(strict=False) or b""
    return learn_from_response(
        f.request.pretty_host,
        f.request.path,
        f.request.raw_content,
        resp.status_code,
        decode_fields(resp.headers.fields),
        body,
        datetime.now(UTC),
    )


def flow_secrets(f: http.HTTPFlow) -> list[str]:
    """Every secret and token a flow itself carries (for a bundle made without a running
    addon): the request's tokens, an IMDSv2 token answer, learned credentials."""
    out = request_tokens(f)
    resp = f.response
    if resp is not None and f.request.path == "/latest/api/token" and resp.raw_content:
        out.append(resp.raw_content[:4096].decode("utf-8", "replace").strip())
    for c in learned_credentials(f):
        out.append(c.secret_access_key)
        if c.session_token:
            out.append(c.session_token)
    return [x for x in out if len(x) > 8]
