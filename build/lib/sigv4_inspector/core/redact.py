"""Redaction for shareable bug reports: what to remove or fingerprint in headers, URLs and
bodies so a saved flow carries no signature, token, cookie or secret key.

Pure functions over strings and bytes; the mitmproxy side (``sigv4_inspector.addon.bundle``)
applies them to flows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sigv4_inspector.core.model import fingerprint
from sigv4_inspector.core.tokens import redact_token

DROP_HEADERS = frozenset(
    {
        "cookie",
        "set-cookie",
        "proxy-authorization",
        "x-amz-server-side-encryption-customer-key",
        "x-amz-copy-source-server-side-encryption-customer-key",
        "x-aws-ec2-metadata-token",
        "x-amz-sso_bearer_token",
        "x-amz-sso-bearer-token",
    }
)
TOKEN_HEADERS = frozenset({"x-amz-security-token", "x-amz-federation-token"})
SIG_PARAMS = ("X-Amz-Signature", "Signature")
TOKEN_PARAMS = ("X-Amz-Security-Token", "SecurityToken", "x-amz-security-token")

_SIG_IN_AUTH = re.compile(r"(Signature=)([^,\s]+)")
_QPARAM = re.compile(r"([?&])([^=&#]+)=([^&#]*)")
# Credentials in response bodies: XML elements and JSON members (STS, IMDS, ECS, SSO, Cognito).
_SECRET_NAMES = (
    "SecretAccessKey",
    "SessionToken",
    "Token",
    "secretAccessKey",
    "sessionToken",
    "SecretKey",
    "accessToken",
    "AccessToken",
    "IdToken",
    "refreshToken",
    "clientSecret",
)
_XML_SECRET = re.compile(rb"<(" + b"|".join(n.encode() for n in _SECRET_NAMES) + rb")>([^<]*)</\1>")
_JSON_SECRET = re.compile(
    rb'"(' + b"|".join(n.encode() for n in _SECRET_NAMES) + rb')"(\s*:\s*)"((?:[^"\\]|\\.)*)"'
)
# What S3/JSON error bodies echo back: the client's signature, the canonical request (with
# the session token in it) and their hex forms.
_XML_SIG = re.compile(rb"<SignatureProvided>([^<]*)</SignatureProvided>")
_XML_HEX = re.compile(rb"<(StringToSignBytes|CanonicalRequestBytes)>[^<]*</\1>")
_TOKEN_LINE = re.compile(rb"(x-amz-security-token:)([^\s<'\\]+)", re.IGNORECASE)
_TOKEN_PARAM = re.compile(rb"((?:X-Amz-Security-Token|SecurityToken)=)([^&\s<'\\]+)", re.IGNORECASE)
_SIG_PARAM = re.compile(rb"((?:X-Amz-Signature|[?&]Signature)=)([^&\s<'\\]+)")
MAX_BODY_SCAN = 8 << 20


def redact_authorization(value: str) -> str:
    """Keep scheme, credential scope and signed headers; fingerprint the signature. Any
    non-AWS scheme (Basic, Bearer) is dropped to its scheme name."""
    v = value.strip()
    if v.startswith("AWS4-"):
        return _SIG_IN_AUTH.sub(lambda m: m.group(1) + fingerprint(m.group(2)), v)
    if v.startswith("AWS "):
        akid, _, sig = v[4:].rpartition(":")
        return f"AWS {akid}:{fingerprint(sig)}"
    scheme = v.split(" ", 1)[0]
    return f"{scheme} [redacted]"


def redact_target(target: str) -> str:
    """Fingerprint signatures and replace tokens in a request target's query."""

    def sub(m: re.Match[str]) -> str:
        sep, key, val = m.group(1), m.group(2), m.group(3)
        if key in SIG_PARAMS:
            return f"{sep}{key}={fingerprint(val)}"
        if key in TOKEN_PARAMS:
            return f"{sep}{key}=[redacted-token-len-{len(val)}]"
        return m.group(0)

    return _QPARAM.sub(sub, target)


def redact_headers(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lname = name.lower()
        if lname in DROP_HEADERS:
            continue
        if lname == "authorization":
            out.append((name, redact_authorization(value)))
        elif lname in TOKEN_HEADERS:
            out.append((name, f"[redacted {redact_token(value.strip())}]"))
        else:
            out.append((name, value))
    return out


def redact_body(body: bytes, extra_secrets: Iterable[str] = ()) -> bytes:
    """Remove credential values from XML/JSON bodies and any known secret string."""
    if not body:
        return body
    if len(body) <= MAX_BODY_SCAN:
        body = _XML_SECRET.sub(
            lambda m: b"<" + m.group(1) + b">[redacted]</" + m.group(1) + b">", body
        )
        body = _JSON_SECRET.sub(
            lambda m: b'"' + m.group(1) + b'"' + m.group(2) + b'"[redacted]"', body
        )
        body = _XML_SIG.sub(
            lambda m: (
                b"<SignatureProvided>" + fingerprint(m.group(1)).encode() + b"</SignatureProvided>"
            ),
            body,
        )
        body = _XML_HEX.sub(
            lambda m: (
                b"<" + m.group(1) + b">[removed: hex of the field above]</" + m.group(1) + b">"
            ),
            body,
        )
        body = _TOKEN_LINE.sub(lambda m: m.group(1) + b"[redacted-token]", body)
        body = _TOKEN_PARAM.sub(lambda m: m.group(1) + b"[redacted-token]", body)
        body = _SIG_PARAM.sub(lambda m: m.group(1) + fingerprint(m.group(2)).encode(), body)
    for s in extra_secrets:
        if s and len(s) >= 8:
            body = body.replace(s.encode(), b"[redacted]")
    return body


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and len(s) >= 8:
            text = text.replace(s, "[redacted]")
    return text
