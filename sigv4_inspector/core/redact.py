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
# An S3 POST upload's form fields (multipart/form-data): the signature, the session token,
# and the policy, whose base64 names the token in a condition when the form carries one.
_FORM_FIELD = re.compile(
    rb'(?i)(content-disposition:[^\r\n]*?\bname="?(x-amz-signature|signature|x-amz-security-token|policy)"?'
    rb"(?:[;\s][^\r\n]*)?\r\n(?:[^\r\n]+\r\n){0,8}\r\n)([^\r\n]*)"
)
# S3's "Policy Condition failed: [\"eq\", \"$x-amz-security-token\", \"...\"]" echoes the token
_TOKEN_CONDITION = re.compile(
    rb'(?i)((?:"|&quot;)\$?x-amz-security-token(?:"|&quot;)\s*[,:]\s*(?:"|&quot;))([^"&<\\]+)'
)
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
        body = _TOKEN_CONDITION.sub(lambda m: m.group(1) + b"[redacted-token]", body)
        body = _SIG_PARAM.sub(lambda m: m.group(1) + fingerprint(m.group(2)).encode(), body)
    if b"form-data" in body[:65536].lower():
        # a POST form's fields come before its file (S3 reads at most 20 KB of them): a
        # large upload's head is enough
        head = MAX_BODY_SCAN if len(body) > MAX_BODY_SCAN else len(body)
        body = redact_form_fields(body[:head]) + body[head:]
    for s in extra_secrets:
        if s and len(s) >= 8:
            body = body.replace(s.encode(), b"[redacted]")
    return body


def redact_form_fields(body: bytes) -> bytes:
    """An S3 POST form with its signature fingerprinted, its session token removed and, when
    it carries a token, its policy replaced by a note (the base64 holds the token)."""
    has_token = any(
        m.group(2).lower() == b"x-amz-security-token" for m in _FORM_FIELD.finditer(body)
    )

    def sub(m: re.Match[bytes]) -> bytes:
        name, value = m.group(2).lower(), m.group(3)
        if name == b"policy":
            if not has_token or not value:
                return m.group(0)
            shown = (
                f"[redacted: the base64 policy ({len(value)} characters, "
                f"{fingerprint(value)}) names the session token]"
            )
            return m.group(1) + shown.encode()
        if name == b"x-amz-security-token":
            return m.group(1) + b"[redacted-token]"
        return m.group(1) + fingerprint(value).encode()

    return _FORM_FIELD.sub(sub, body)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        if s and len(s) >= 8:
            text = text.replace(s, "[redacted]")
    return text


# --------------------------------------------------------------------------------------------
# The scrubber: every byte the addon writes passes it
# --------------------------------------------------------------------------------------------

#: A leak is any run of more than 8 characters of a secret (report.md), so every 9-character
#: window of every known secret is indexed.
GRAM = 9
MAX_GRAMS = 400_000  # windows indexed (about 450 session tokens); beyond, the shapes below
# A run of characters secrets are made of, in the forms outputs use: raw, percent-encoded,
# JSON-escaped ("\/", "\u002b"). Runs shorter than a window cannot leak one.
_RUN = re.compile(r"[A-Za-z0-9+/=_%\\\-]{9,}")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})|\\/|\\u([0-9a-fA-F]{4})")
# Token shapes redacted whether or not the token is known: AWS session tokens (v2, v1 and
# the older AQoD form), JWTs (web identity, EKS Pod Identity and ECS container tokens),
# S3's <Token-N> echo of a rejected token, WebIdentityToken= in an STS request, and the
# value of the IMDSv2 and container-credentials token headers.
_TOKEN_CHARS = r"(?:[A-Za-z0-9+/=_\-]|%[0-9A-Fa-f]{2}|\\/)"
_AWS_TOKEN = re.compile(
    r"(?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdz|FQoGZXIvYXdz|FQoDYXdz|AQoDYXdz|AQoEXAMPLE)"
    + _TOKEN_CHARS
    + r"{4,}"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
_TOKEN_ECHO = re.compile(r"(<(Token-\d+)>)(.*?)(</\2>)", re.S)
_WEB_IDENTITY = re.compile(r"(WebIdentityToken=)([^&\s\"'<]+)")
_TOKEN_HEADER = re.compile(
    r"((?:x-aws-ec2-metadata-token|x-amz-security-token|x-amz-federation-token"
    r"|x-amz-sso[_-]bearer[_-]token)\"?\s*[:=]\s*\"?)([^\s\"',<&\[][^\s\"',<&]{8,})",
    re.I,
)


_AWS_TOKEN_PREFIXES = ("IQoJb3Jp", "FwoGZXIv", "FQoGZXIv", "FQoDYXdz", "AQoDYXdz", "AQoEXAMP")
_RUN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_%\\-")
# bytes outside the run alphabet become spaces, so bytes.split() yields the runs at C speed
_TO_SPACE = bytes(b if b in _RUN_BYTES else 0x20 for b in range(256))
# JSON's \n \r \t \" \\ end a run (\/ and \uXXXX stay in it)
_JSON_BREAKS = re.compile(rb'\\[\\nrt"]')
# A run is sampled: every 9-character window of it holds the 5-character piece starting at
# one of its offsets 0, 5, 10 ..., so looking the pieces up among all 5-character pieces of
# the secrets (one C-level set operation) finds every window there is; a piece shared by
# chance is then cleared by the exact check over 9-character windows.
PROBE = 5
_PIECES = re.compile(rb".{%d}" % PROBE, re.S)
MAX_CLEAN = 100_000  # runs remembered as clean (words, host and header names ...)
_TOKEN_WORDS = ("oken", "OKEN")
# What every token shape above holds in one run: the AWS token prefixes hold "Qo" or "woG",
# a JWT "eyJ", <Token-N> and the token headers and parameters "oken" or "OKEN".
_SHAPE_TRIGGERS = (b"Qo", b"woG", b"eyJ", b"oken", b"OKEN")


def _unescape(run: str) -> str:
    if "%" not in run and "\\" not in run:
        return run
    return _ESCAPE.sub(
        lambda m: (
            chr(int(m.group(1), 16))
            if m.group(1)
            else (chr(int(m.group(2), 16)) if m.group(2) else "/")
        ),
        run,
    )


def _shown(token: str) -> str:
    return f"[redacted {redact_token(_unescape(token))}]"


class Scrubber:
    """Removes every known secret and every token-shaped value from text.

    Known secrets (secret keys, session tokens, tokens seen in credential responses) are
    indexed by all their 9-character windows: any run of text that contains one, raw,
    percent-encoded or JSON-escaped, is replaced whole. Token shapes are removed whether or
    not they are known. Linear in the text; bounded memory (:data:`MAX_GRAMS`).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._grams: set[str] = set()
        self._pieces: set[bytes] = set()
        self._known: set[str] = set()
        self._clean: set[bytes] = set()  # runs checked before and clean
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if not s or len(s) < GRAM or s in self._known:
                continue
            if len(self._grams) + len(s) > MAX_GRAMS:
                return
            self._known.add(s)
            self._grams.update(s[i : i + GRAM] for i in range(len(s) - GRAM + 1))
            raw = s.encode("utf-8", "surrogateescape")
            self._pieces.update(raw[i : i + PROBE] for i in range(len(raw) - PROBE + 1))
            self._clean.clear()

    def __len__(self) -> int:
        return len(self._known)

    def _has_secret(self, run: str) -> bool:
        return self._has_window(_unescape(run))

    def _has_window(self, text: str) -> bool:
        return not self._grams.isdisjoint(text[i : i + GRAM] for i in range(len(text) - GRAM + 1))

    def text(self, text: str) -> str:
        """``text`` with no run of more than 8 characters of a secret or token left."""
        if not text:
            return text
        shapes, dirty = self._scan(text)
        if shapes:
            text = self._shapes(text)
        if dirty:
            hits = [m.span() for m in _RUN.finditer(text) if self._has_secret(m.group(0))]
            for start, end in reversed(hits):  # rare: rebuild only when something is found
                text = f"{text[:start]}[redacted {end - start} chars]{text[end:]}"
        return text

    @staticmethod
    def _shapes(text: str) -> str:
        """Token shapes, known or not, replaced."""
        if any(p in text for p in _AWS_TOKEN_PREFIXES):
            text = _AWS_TOKEN.sub(lambda m: _shown(m.group(0)), text)
        if "eyJ" in text:
            text = _JWT.sub("[redacted JWT]", text)
        if "<Token-" in text:
            text = _TOKEN_ECHO.sub(lambda m: m.group(1) + _shown(m.group(3)) + m.group(4), text)
        if "WebIdentityToken" in text:
            text = _WEB_IDENTITY.sub(lambda m: m.group(1) + "[redacted]", text)
        if any(w in text for w in _TOKEN_WORDS):
            text = _TOKEN_HEADER.sub(lambda m: m.group(1) + _shown(m.group(2)), text)
        return text

    def _scan(self, text: str) -> tuple[bool, bool]:
        """Whether the text may hold a token shape, and whether a run of it holds a secret
        window (raw or escaped). The runs are cut at C speed, runs seen clean before are
        dropped by one set difference, and only the rest are looked at: for the words that
        start a token shape, and sampled for secret windows (see :data:`PROBE`)."""
        clean = self._clean
        if len(clean) > MAX_CLEAN:
            clean.clear()
        data = text.encode("utf-8", "surrogateescape")
        if b"\\" in data:
            data = _JSON_BREAKS.sub(b"  ", data)
        runs = set(data.translate(_TO_SPACE).split()) - clean
        pieces, shapes, dirty = self._pieces, False, False
        for run in runs:
            keep = True
            if any(t in run for t in _SHAPE_TRIGGERS):
                shapes = True
                keep = False  # never remembered as clean: the next text is looked at too
            if len(run) >= GRAM and pieces:
                plain = run
                if b"%" in run or b"\\" in run:
                    plain = _unescape(run.decode("ascii")).encode("utf-8", "surrogateescape")
                if not pieces.isdisjoint(_PIECES.findall(plain)) and self._has_window(
                    plain.decode("utf-8", "surrogateescape")
                ):
                    dirty = True
                    continue
            if keep:
                clean.add(run)
        return shapes, dirty

    def bytes(self, data: bytes) -> bytes:
        """The same over bytes (bodies), decoded as UTF-8 with surrogate escapes."""
        if not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        out = self.text(text)
        return data if out == text else out.encode("utf-8", "surrogateescape")
