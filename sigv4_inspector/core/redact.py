"""Redaction, every form of it in one place: what to remove, describe or fingerprint so
no output carries a signature, token, cookie or secret key (report.md, "Never in a
record ...").

- the record: a URL's signatures and tokens fingerprinted (:func:`redact_url`), the session
  token in a canonical request shown as ``[token <description>]`` (:func:`hide_token`),
  known values in a finding replaced by their marks (:func:`replace_known`,
  :func:`token_mark`, :func:`signature_mark`);
- what AWS echoes: tokens and query signatures in an error's message or canonical request
  (:func:`redact_secrets`, :func:`redact_echoed_request`), and the values of secret headers
  in a canonical-request diff (:func:`redact_named`);
- shareable bug reports: headers, targets, bodies and forms of a saved flow
  (:func:`redact_headers`, :func:`redact_target`, :func:`redact_body`,
  :func:`redact_text`); the mitmproxy side (``sigv4_inspector.addon.bundle``) applies them;
- the scrubber every byte the addon writes passes (:class:`Scrubber`).

Pure functions over strings and bytes. A token is only ever shown as
:func:`sigv4_inspector.core.tokens.redact_token` describes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sigv4_inspector.core.canonical import uri_encode
from sigv4_inspector.core.model import fingerprint
from sigv4_inspector.core.tokens import redact_token

# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------

SECRET_QUERY_KEYS = (
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "Signature",
    "SecurityToken",
    "x-amz-security-token",
)
_QKEY = re.compile(
    r"(?P<pre>[?&](?:" + "|".join(re.escape(k) for k in SECRET_QUERY_KEYS) + r")=)(?P<val>[^&#]*)",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """Replace signature and token values in a URL's query by short fingerprints."""
    return _QKEY.sub(lambda m: m.group("pre") + fingerprint(m.group("val")), url)


def token_mark(token: str) -> str:
    """How a session token is shown in a record: ``[token IQoJb3Jp…(len 812, v2 token)]``."""
    return f"[token {redact_token(token)}]"


def signature_mark(signature: str) -> str:
    """How a signature is shown in a finding's text: ``[signature sha256:...]``."""
    return f"[signature {fingerprint(signature)}]"


def hide_token(text: str, token: str) -> str:
    """``text`` (a canonical request) with the session token, percent-encoded as in a
    canonical query or raw as in a header line, replaced by its :func:`token_mark`."""
    shown = token_mark(token)
    return text.replace(uri_encode(token), shown).replace(token, shown)


def replace_known(text: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``text`` with each known value replaced by what shows instead (longest first is the
    caller's order: a longer value may hold a shorter one)."""
    for secret, shown in pairs:
        if secret in text:
            text = text.replace(secret, shown)
    return text


# --------------------------------------------------------------------------------------------
# What AWS echoes: error messages, canonical requests, canonical-request diffs
# --------------------------------------------------------------------------------------------

_SECRET_LINE = re.compile(r"(?im)^(x-amz-security-token|x-amz-access-token)(:)([^\r\n]*)$")
_SECRET_QUERY = re.compile(r"(?i)(X-Amz-Security-Token|X-Amz-Signature)(=)([^&\s'\"<]+)")
# an S3 POST policy condition on the token, echoed in "Policy Condition failed: [...]"
_SECRET_CONDITION = re.compile(r'(?i)("\$?x-amz-security-token"\s*[,:]\s*")([^"\\]+)')


def _redact_match(m: re.Match[str]) -> str:
    value = m.group(3)
    if not value.strip():
        return m.group(0)
    if m.group(1).lower() == "x-amz-signature":
        return m.group(1) + m.group(2) + fingerprint(value)
    return m.group(1) + m.group(2) + redact_token(value)


def redact_secrets(text: str | None) -> str | None:
    """Replace session tokens (``x-amz-security-token:`` lines, ``X-Amz-Security-Token=``
    query values) and query signatures echoed in ``text`` by short descriptions."""
    if text is None:
        return None
    if "-token" not in text.lower() and "signature=" not in text.lower():
        return text
    text = _SECRET_LINE.sub(_redact_match, text)
    text = _SECRET_CONDITION.sub(lambda m: m.group(1) + redact_token(m.group(2)), text)
    return _SECRET_QUERY.sub(_redact_match, text)


def redact_echoed_request(creq: str, token: str | None) -> str:
    """The server's echoed canonical request as a record shows it: this request's session
    token shown as the local canonical request shows it (:func:`hide_token`), any other
    token or signature redacted line by line (:func:`redact_secrets`)."""
    if token:
        creq = hide_token(creq, token)
    return "\n".join(
        line if "[token " in line else (redact_secrets(line) or "") for line in creq.split("\n")
    )


_SECRET_HEADERS = frozenset({"x-amz-security-token", "x-amz-access-token", "x-amz-signature"})


def redact_named(name: str | None, value: str | None) -> str | None:
    """A canonical-request part's value as a diff shows it: a secret header's or
    parameter's value (``x-amz-security-token``, ``x-amz-access-token``,
    ``x-amz-signature``) described or fingerprinted, also inside a whole
    ``name:value`` line; any other value as it is."""
    if value is not None and ":" in value[:30]:  # a whole line ("x-amz-security-token:...")
        head, _, rest = value.partition(":")
        if head.strip().lower() in _SECRET_HEADERS:
            return f"{head}:{redact_named(head.strip(), rest)}"
    if value is None or name is None or name.lower() not in _SECRET_HEADERS:
        return value
    if name.lower() == "x-amz-signature":
        return fingerprint(value)
    return redact_token(value) if value else value


# --------------------------------------------------------------------------------------------
# Shareable bug reports
# --------------------------------------------------------------------------------------------

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
    """``text`` with every known secret of 8 characters or more replaced by ``[redacted]``."""
    return replace_known(text, ((s, "[redacted]") for s in secrets if s and len(s) >= 8))


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
# JSON text from a writer that escapes only what it must (Python's json.dumps): a backslash
# is a separator too; the letter after it joins the next run, which only makes that run
# longer (every window of the run without it is still in it)
_TO_SPACE_JSON = bytes(0x20 if b == 0x5C else t for b, t in enumerate(_TO_SPACE))


def _json_breaks(data: bytes) -> bytes:
    """``data`` with JSON's \\\\, \\n, \\r, \\t and \\" made two spaces each: what
    ``re.sub(rb'\\\\[\\\\nrt"]', b"  ", data)`` gives (escaped backslashes first, pairing a run of
    backslashes from its left as JSON does), in a few C-speed passes."""
    data = data.replace(b"\\\\", b"  ")
    for esc in (b"\\n", b"\\r", b"\\t", b'\\"'):
        data = data.replace(esc, b"  ")
    return data


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
_TRIGGER = re.compile(b"|".join(_SHAPE_TRIGGERS))
# a run looked at one by one: a trigger word, or an escape (percent or JSON) to undo first
_SPECIAL = re.compile(b"|".join((*_SHAPE_TRIGGERS, rb"%", rb"\\")))


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
        self._ascii = True  # every known secret is ASCII (the JSON reading's fast path)
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for s in secrets:
            if not s or len(s) < GRAM or s in self._known:
                continue
            if len(self._grams) + len(s) > MAX_GRAMS:
                return
            self._known.add(s)
            self._ascii = self._ascii and s.isascii()
            self._grams.update(s[i : i + GRAM] for i in range(len(s) - GRAM + 1))
            raw = s.encode("utf-8", "surrogateescape")
            self._pieces.update(raw[i : i + PROBE] for i in range(len(raw) - PROBE + 1))
            self._clean.clear()

    def __len__(self) -> int:
        return len(self._known)

    def _has_secret(self, run: str) -> bool:
        """A secret window in the run as written or with its escapes undone (an escape
        character right before a secret's fragment must not hide it either way)."""
        return self._has_window(run) or self._has_window(_unescape(run))

    def _has_window(self, text: str) -> bool:
        return not self._grams.isdisjoint(text[i : i + GRAM] for i in range(len(text) - GRAM + 1))

    def text(self, text: str, *, json: bool = False) -> str:
        """``text`` with no run of more than 8 characters of a secret or token left.

        ``json``: the text is JSON as ``json.dumps`` writes it (a record line), so a
        backslash only ever starts one of JSON's escapes: its runs are cut at every
        backslash (as JSON reads them when it holds ``\\/``, or a known secret is not
        ASCII); plain text (the default) is cut both as JSON and as written, since there a
        backslash may be just a character."""
        if not text:
            return text
        shapes, dirty = self._scan(text, json)
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

    def _scan(self, text: str, json: bool = False) -> tuple[bool, bool]:
        """Whether the text may hold a token shape, and whether a run of it holds a secret
        window (raw or escaped). The runs are cut at C speed, runs seen clean before are
        dropped by one set difference, and only the rest are looked at: for the words that
        start a token shape, and sampled for secret windows (see :data:`PROBE`)."""
        clean = self._clean
        if len(clean) > MAX_CLEAN:
            clean.clear()
        data = text.encode("utf-8", "surrogateescape")
        if json and self._ascii and b"\\/" not in data:
            # JSON as json.dumps writes it: an ASCII secret's characters are never escaped
            # there, so each of its windows is in one run cut at every backslash
            runs = set(data.translate(_TO_SPACE_JSON).split())
        elif json:  # JSON's \n, \t, \" ... end a run; \/ and \uXXXX stay in it
            runs = set(_json_breaks(data).translate(_TO_SPACE).split())
        else:
            runs = set(data.translate(_TO_SPACE).split())
            if b"\\" in data:
                # in text that is not JSON a backslash may be just a character: the runs of
                # both readings are looked at
                runs.update(_json_breaks(data).translate(_TO_SPACE).split())
        runs -= clean
        if not runs:
            return False, False
        pieces = self._pieces
        # The new runs joined by spaces and looked at in a few passes at C speed: a
        # 9-character window inside a run still holds a piece at stride 5 of the joined
        # text (pieces that straddle a space are harmless extras). Only the runs that hold
        # an escape or a shape's trigger word, or a piece of a secret, are looked at one by
        # one. Linear: each run is cut out of the joined text once.
        joined = b" ".join(runs)
        special: set[bytes] = set()
        pos, search = 0, _SPECIAL.search
        while (m := search(joined, pos)) is not None:
            start = joined.rfind(b" ", 0, m.start()) + 1
            end = joined.find(b" ", m.end())
            end = len(joined) if end < 0 else end
            special.add(joined[start:end])
            pos = end
        plain = runs - special if special else runs
        dirty = False
        if pieces and plain:
            flat = joined if not special else b" ".join(plain)
            if not pieces.isdisjoint(_PIECES.findall(flat)):
                for run in plain:
                    if (
                        len(run) >= GRAM
                        and not pieces.isdisjoint(_PIECES.findall(run))
                        and self._has_window(run.decode("utf-8", "surrogateescape"))
                    ):
                        dirty = True
                        special.add(run)  # not remembered as clean
                plain = runs - special
        clean.update(plain)
        shapes = False
        for run in special:
            secret = False
            if len(run) >= GRAM and pieces:
                forms = [run]  # as written, and with its escapes undone
                if b"%" in run or b"\\" in run:
                    forms.append(_unescape(run.decode("ascii")).encode("utf-8", "surrogateescape"))
                secret = any(
                    not pieces.isdisjoint(_PIECES.findall(form))
                    and self._has_window(form.decode("utf-8", "surrogateescape"))
                    for form in forms
                )
                dirty = dirty or secret
            if _TRIGGER.search(run):
                shapes = True  # never remembered as clean: the next text is looked at too
            elif not secret:
                clean.add(run)  # an escaped run with no secret window
        return shapes, dirty

    def value(self, obj: Any) -> Any:
        """A JSON-like value (a record, an outcome) with every string in it scrubbed, keys
        included: for when the scrubbed JSON text of it would not parse (a replacement that
        ends right after a backslash before a quote)."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(str(k)): self.value(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        return obj

    def bytes(self, data: bytes) -> bytes:
        """The same over bytes (bodies), decoded as UTF-8 with surrogate escapes."""
        if not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        out = self.text(text)
        return data if out == text else out.encode("utf-8", "surrogateescape")
