"""Parsing AWS error responses: what the server said, and what its echo tells.

AWS answers a refused request with one of a few body shapes, and several of them echo
the server's own view of the request:

* S3 REST-XML ``<Error>``: ``Code``, ``Message``, and for a signature mismatch
  ``CanonicalRequest``/``StringToSign`` with their exact bytes in hex
  (``CanonicalRequestBytes``/``StringToSignBytes``), ``SignatureProvided``,
  ``AWSAccessKeyId``; for time errors ``RequestTime``, ``ServerTime``,
  ``MaxAllowedSkewMilliseconds``, ``Expires``; ``Region``, ``HeadersNotSigned``,
  ``Header``, ``ClientComputedContentSHA256``/``S3ComputedContentSHA256``.
* Query protocol ``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>``
  (STS, IAM, SQS, SNS, ...) and EC2's ``<Response><Errors><Error>...<RequestID/>``.
* JSON ``{"__type": "...#Code", "message": "..."}`` and REST-JSON bodies whose code is in
  the ``x-amzn-ErrorType`` header (API Gateway, Lambda, ...).

JSON and query services print their canonical request inside the message ("The
Canonical String for this request should have been '...'"), and their clock errors carry
the server's time ("Signature expired: X is now earlier than Y (Z - 5 min.)").

:func:`parse_error_response` turns any response into a :class:`ServerError` (or None when
it is not an AWS error) and never raises. Pure: no botocore parser, no I/O. What the error
means is :mod:`sigv4_inspector.core.errorclass`'s (:func:`~sigv4_inspector.core.errorclass.classify`);
how the server's echo differs from the local strings is
:mod:`sigv4_inspector.core.canonical_diff`'s; the fields read are listed, with AWS's
codes, in :mod:`sigv4_inspector.core.awserrors`.
"""

from __future__ import annotations

import http
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sigv4_inspector.core.awserrors import S3_ERROR_FIELDS
from sigv4_inspector.core.dates import parse_error_time
from sigv4_inspector.core.errorclass import classify
from sigv4_inspector.core.model import fingerprint
from sigv4_inspector.core.redact import redact_secrets
from sigv4_inspector.core.tokens import redact_token

__all__ = ["MAX_BODY", "ServerError", "normalize_code", "parse_error_response"]

ErrorProtocol = Literal["s3-xml", "query-xml", "ec2-xml", "json", "unknown"]

MAX_BODY = 1 << 20  # only the first MiB of a body is looked at
_MAX_LEAVES = 512
_MAX_EXTRA = 64
_MAX_EXTRA_VALUE = 4096


@dataclass
class ServerError:
    """One AWS error response, parsed.

    ``canonical_request`` and ``string_to_sign`` are the server's (from the S3 fields,
    preferring the exact ``...Bytes`` hex when it agrees with the text, or from the
    "should have been" text of JSON/query services). Times are timezone-aware UTC.
    ``server_time`` is the server's clock as stated in the body (S3 ``ServerTime`` or the
    Z of "Signature expired: X is now earlier than Y (Z - 5 min.)"); the response's
    ``Date`` header is kept apart in ``date_header``. ``message`` has session-token
    values replaced by a short description; ``canonical_request`` keeps them so it can be
    compared with the local one (:meth:`as_dict` redacts them).

    The parser fills one in place as it reads the body; once returned it is treated as
    immutable (not ``frozen``, as with the per-flow types of ``model.py``).
    """

    status: int
    protocol: ErrorProtocol = "unknown"
    code: str | None = None
    message: str | None = None
    request_id: str | None = None
    canonical_request: str | None = None
    string_to_sign: str | None = None
    signature_provided: str | None = None
    access_key_id: str | None = None
    server_time: datetime | None = None
    date_header: datetime | None = None
    request_time: datetime | None = None
    max_skew_ms: int | None = None
    expires: datetime | None = None
    expected_region: str | None = None
    expected_service: str | None = None
    headers_not_signed: list[str] = field(default_factory=list)
    header_named: str | None = None
    client_sha256: str | None = None
    server_sha256: str | None = None
    authorization_digest: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: times in ISO 8601 UTC, the client's signature as a
        fingerprint, session tokens in echoed strings replaced by a description."""
        return {
            "protocol": self.protocol,
            "status": self.status,
            "code": self.code,
            "classification": classify(self).value,
            "message": redact_secrets(self.message),
            "request_id": self.request_id,
            "canonical_request": redact_secrets(self.canonical_request),
            "string_to_sign": self.string_to_sign,
            "signature_provided": (
                fingerprint(self.signature_provided) if self.signature_provided else None
            ),
            "access_key_id": self.access_key_id,
            "server_time": _iso(self.server_time),
            "date_header": _iso(self.date_header),
            "request_time": _iso(self.request_time),
            "max_skew_ms": self.max_skew_ms,
            "expires": _iso(self.expires),
            "expected_region": self.expected_region,
            "expected_service": self.expected_service,
            "headers_not_signed": list(self.headers_not_signed),
            "header_named": self.header_named,
            "client_sha256": self.client_sha256,
            "server_sha256": self.server_sha256,
            "authorization_digest": self.authorization_digest,
            "extra": {k: redact_secrets(v) or "" for k, v in self.extra.items()},
            "notes": list(self.notes),
        }


# --- small helpers --------------------------------------------------------------------------


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def normalize_code(value: str | None) -> str | None:
    """``com.amazon.coral.service#InvalidSignatureException`` and
    ``IncompleteSignatureException:http://internal.amazon.com/coral/...`` (the
    ``x-amzn-ErrorType`` form) and ``AWS.X;Sender`` (``x-amzn-query-error``) to the bare
    code."""
    if not value or not isinstance(value, str):
        return None
    v = value.strip().split(":", 1)[0].split(";", 1)[0].rsplit("#", 1)[-1].strip()
    return v[:256] or None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")


def _decode_hex_bytes(value: str) -> str | None:
    """``"47 45 54 0a ..."`` (S3's ``...Bytes`` fields) to text; None when not hex."""
    tokens = value.split()
    if not tokens:
        return None
    raw: bytes
    try:
        if all(len(t) == 2 for t in tokens):
            raw = bytes.fromhex(" ".join(tokens))
        else:  # a line break fell inside a byte ("6\n5"): drop all whitespace
            compact = "".join(tokens)
            if len(compact) % 2:
                return None
            raw = bytes.fromhex(compact)
    except ValueError:
        return None
    return raw.decode("utf-8", "surrogateescape")


def _same_text(decoded: str, text: str) -> bool:
    def norm(s: str) -> str:
        return s.replace("\r\n", "\n").replace("\r", "\n").strip()

    return decoded == text or norm(decoded) == norm(text)


def _choose(d: ServerError, what: str, text: str | None, hexbytes: str | None) -> str | None:
    """Prefer the exact bytes when they decode and agree with the text."""
    decoded = _decode_hex_bytes(hexbytes) if hexbytes else None
    if hexbytes and decoded is None:
        d.notes.append(f"{what}Bytes is not hex; using {what}")
    if decoded is None:
        return text
    if text is None:
        d.notes.append(f"{what} taken from {what}Bytes (no text form)")
        return decoded
    if _same_text(decoded, text):
        return decoded
    d.notes.append(f"{what}Bytes disagrees with {what}; using the text form")
    return text


# --- XML ------------------------------------------------------------------------------------

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_XML_UNSAFE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.I)
_TAG = r"[A-Za-z_][\w.\-:]*"
_LEAF = re.compile(
    rf"<(?P<t>{_TAG})(?:\s[^<>]*?)?(?:/>|>(?P<v>[^<]*)</(?P=t)\s*>)",
)
_TRUNCATED_LEAF = re.compile(rf"<(?P<t>{_TAG})(?:\s[^<>]*?)?>(?P<v>[^<]+)\Z")
_ROOT = re.compile(rf"<(?P<t>{_TAG})")
_ENTITY = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6})|(lt|gt|amp|quot|apos));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _xml_unescape(value: str) -> str:
    def repl(m: re.Match[str]) -> str:
        try:
            if m.group(1):
                return chr(int(m.group(1)))
            if m.group(2):
                return chr(int(m.group(2), 16))
        except (ValueError, OverflowError):
            return m.group(0)
        return _NAMED[m.group(3)]

    return _ENTITY.sub(repl, value)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _xml_leaves(data: bytes, notes: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """The root's local name and every leaf element (name, text) in document order.

    ElementTree first (a DOCTYPE or ENTITY declaration is refused, so no entity is ever
    expanded); a body it cannot parse (truncated, XML 1.0-invalid character references
    such as S3's ``&#11;``) falls back to a leaf-level scan that expands nothing but the
    five predefined entities and character references.
    """
    text = _XML_DECL.sub("", _decode(data), count=1)
    if _XML_UNSAFE.search(text):
        notes.append("DOCTYPE/ENTITY declaration refused; scanned without an XML parser")
    else:
        try:
            root = ET.fromstring(text)
        except (ET.ParseError, ValueError, RecursionError):
            pass
        else:
            leaves: list[tuple[str, str]] = []
            for el in root.iter():
                if el is not root and len(el) == 0:
                    leaves.append((_local(str(el.tag)), el.text or ""))
                    if len(leaves) >= _MAX_LEAVES:
                        break
            return _local(str(root.tag)), leaves
        notes.append("body is not well-formed XML; scanned leaf by leaf")
    root_m = _ROOT.search(text)
    if root_m is None:
        return None
    leaves = []
    end = 0
    for m in _LEAF.finditer(text):
        leaves.append((_local(m.group("t")), _xml_unescape(m.group("v") or "")))
        end = m.end()
        if len(leaves) >= _MAX_LEAVES:
            break
    tail = _TRUNCATED_LEAF.search(text, end)
    if tail is not None and len(leaves) < _MAX_LEAVES:
        leaves.append((_local(tail.group("t")), _xml_unescape(tail.group("v"))))
        notes.append(f"body ends inside <{_local(tail.group('t'))}> (truncated)")
    return _local(root_m.group("t")), leaves


def _fill_from_xml(d: ServerError, data: bytes) -> bool:
    parsed = _xml_leaves(data, d.notes)
    if parsed is None:
        return False
    root, leaves = parsed
    first: dict[str, str] = {}
    for name, value in leaves:
        first.setdefault(name, value)
    has_code = bool(first.get("Code", "").strip())
    if root == "Error" and has_code:
        d.protocol = "s3-xml"
    elif root == "ErrorResponse" and has_code:
        d.protocol = "query-xml"
    elif root == "Response" and has_code:
        d.protocol = "ec2-xml"
    elif root.endswith("Exception") and "Message" in first:
        # API Gateway's XML rendering: <MissingAuthenticationTokenException><Message>...
        d.protocol = "unknown"
        d.code = root
    elif has_code and "Message" in first:
        d.protocol = "unknown"
    else:
        return False

    def get(name: str) -> str | None:
        v = first.get(name)
        return v if v is not None and v.strip() else None

    def get_stripped(name: str) -> str | None:
        v = get(name)
        return v.strip() if v is not None else None

    d.code = get_stripped("Code") or d.code
    d.message = get("Message")
    d.request_id = get_stripped("RequestId") or get_stripped("RequestID") or d.request_id
    d.access_key_id = get_stripped("AWSAccessKeyId")
    d.signature_provided = get_stripped("SignatureProvided")
    d.string_to_sign = _choose(d, "StringToSign", get("StringToSign"), get("StringToSignBytes"))
    d.canonical_request = _choose(
        d, "CanonicalRequest", get("CanonicalRequest"), get("CanonicalRequestBytes")
    )
    d.server_time = parse_error_time(get("ServerTime"))
    d.request_time = parse_error_time(get("RequestTime"))
    d.expires = parse_error_time(get("Expires"))
    skew = get_stripped("MaxAllowedSkewMilliseconds")
    if skew is not None and skew.isdigit() and len(skew) < 16:
        d.max_skew_ms = int(skew)
    d.expected_region = get_stripped("Region")
    hns = get("HeadersNotSigned")
    if hns:
        d.headers_not_signed = [h.strip() for h in hns.split(",") if h.strip()]
    d.header_named = get_stripped("Header")
    d.client_sha256 = get_stripped("ClientComputedContentSHA256")
    d.server_sha256 = get_stripped("S3ComputedContentSHA256")
    for name, value in leaves:
        if name in S3_ERROR_FIELDS or name in d.extra or not value.strip():
            continue
        if len(d.extra) >= _MAX_EXTRA:
            d.notes.append("more elements than kept in extra")
            break
        if name.startswith("Token-"):  # ExpiredToken/InvalidToken echo the session token
            value = redact_token(value.strip())
        d.extra[name] = value.strip()[:_MAX_EXTRA_VALUE]
    return True


# --- JSON -----------------------------------------------------------------------------------

_JSON_STR_FIELD = re.compile(
    r'"(?P<k>__type|code|Code|message|Message|errorMessage)"\s*:\s*"(?P<v>(?:[^"\\]|\\.)*)"'
)


def _loose_json(text: str) -> dict[str, Any] | None:
    """Pick ``__type``/``code``/``message`` out of a truncated or broken JSON body."""
    found: dict[str, Any] = {}
    for m in _JSON_STR_FIELD.finditer(text[:MAX_BODY]):
        try:
            found.setdefault(m.group("k"), json.loads('"' + m.group("v") + '"'))
        except ValueError:
            found.setdefault(m.group("k"), m.group("v"))
    return found or None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _fill_from_json(d: ServerError, data: bytes) -> bool:
    text = _decode(data)
    obj: Any
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = _loose_json(text)
        if obj is not None:
            d.notes.append("body is not valid JSON; fields picked out of it")
    if not isinstance(obj, dict):
        return False
    code = _str_or_none(obj.get("__type")) or _str_or_none(obj.get("code"))
    code = code or _str_or_none(obj.get("Code"))
    message = (
        _str_or_none(obj.get("message"))
        or _str_or_none(obj.get("Message"))
        or _str_or_none(obj.get("errorMessage"))
    )
    nested = obj.get("Error")
    if isinstance(nested, dict):  # {"Error": {"Code", "Message", "Type"}, "RequestId"}
        code = code or _str_or_none(nested.get("Code"))
        message = message or _str_or_none(nested.get("Message"))
        if _str_or_none(nested.get("Type")):
            d.extra["Type"] = str(nested["Type"])[:_MAX_EXTRA_VALUE]
    errors = obj.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = code or _str_or_none(errors[0].get("code"))
        message = message or _str_or_none(errors[0].get("message"))
    if code is None and message is None:
        return False
    d.protocol = "json"
    d.code = normalize_code(code)
    d.message = message
    d.request_id = (
        _str_or_none(obj.get("RequestId")) or _str_or_none(obj.get("requestId")) or d.request_id
    )
    for k, v in obj.items():
        if len(d.extra) >= _MAX_EXTRA:
            break
        if k in ("__type", "code", "Code", "message", "Message", "errorMessage", "RequestId"):
            continue
        if isinstance(v, str | int | float | bool) and str(v).strip():
            d.extra[str(k)[:128]] = str(v)[:_MAX_EXTRA_VALUE]
    return True


# --- what the message says ------------------------------------------------------------------

_CANON_HEAD = "The Canonical String for this request should have been"
_STS_HEAD = "The String-to-Sign should have been"
_TS = r"\d{8}T\d{6}Z"
_EXPIRED = re.compile(
    rf"Signature expired:\s*(?P<req>{_TS})\s+is now earlier than\s+(?P<lim>{_TS})\s*"
    rf"\(\s*(?P<srv>{_TS})\s*-\s*(?P<min>\d{{1,4}})\s*min\.?\s*\)"
)
_NOT_YET = re.compile(
    rf"Signature not yet current:\s*(?P<req>{_TS})\s+is still later than\s+(?P<lim>{_TS})\s*"
    rf"\(\s*(?P<srv>{_TS})\s*\+\s*(?P<min>\d{{1,4}})\s*min\.?\s*\)"
)
_REGION_WRONG = re.compile(
    r"the region '(?P<wrong>[^']{0,64})' is wrong; expecting '(?P<exp>[^']{1,64})'"
)
_SERVICE_SCOPE = re.compile(
    r"Credential should be scoped to correct service: '(?P<svc>[^']{1,64})'"
)
_AUTH_DIGEST = re.compile(r"Authorization=(?P<d>[A-Za-z0-9+/]{43}=)(?![A-Za-z0-9+/=])")
_TIMESTAMP_DATE = re.compile(r"Timestamp date(?: is|:)\s*(?P<t>[0-9][0-9TZ:.+\-]{7,40})")


def _quoted_section(text: str) -> str | None:
    """The ``'...'`` block that follows a "should have been" line (quotes removed)."""
    seg = text.strip()
    if not seg.startswith("'"):
        return None
    return seg[1:-1] if len(seg) >= 2 and seg.endswith("'") else seg[1:]


def _fill_from_message(d: ServerError) -> None:
    msg = d.message
    if not msg:
        return
    msg = msg.replace("\r\n", "\n")
    i = msg.find(_CANON_HEAD)
    j = msg.find(_STS_HEAD)
    if i >= 0 and d.canonical_request is None:
        seg = msg[i + len(_CANON_HEAD) : j if j > i else len(msg)]
        creq = _quoted_section(seg)
        if creq is not None and "\n" in creq:
            d.canonical_request = creq
        elif creq is not None:
            d.notes.append("canonical string echoed without line breaks; not used")
    if j >= 0 and d.string_to_sign is None:
        sts = _quoted_section(msg[j + len(_STS_HEAD) :])
        if sts is not None and "\n" in sts:
            d.string_to_sign = sts
    m = _EXPIRED.search(msg) or _NOT_YET.search(msg)
    if m is not None:
        d.request_time = d.request_time or parse_error_time(m.group("req"))
        d.server_time = d.server_time or parse_error_time(m.group("srv"))
        if d.max_skew_ms is None:
            d.max_skew_ms = int(m.group("min")) * 60_000
    elif d.request_time is None:
        t = _TIMESTAMP_DATE.search(msg)
        if t is not None:
            d.request_time = parse_error_time(t.group("t").rstrip("."))
    r = _REGION_WRONG.search(msg)
    if r is not None and d.expected_region is None:
        d.expected_region = r.group("exp")
    s = _SERVICE_SCOPE.search(msg)
    if s is not None:
        d.expected_service = s.group("svc")
    a = _AUTH_DIGEST.search(msg)
    if a is not None:
        d.authorization_digest = a.group("d")
    elif "Authorization=" in msg:
        d.notes.append("the message echoes the Authorization header itself, not its digest")


# --- the entry point ------------------------------------------------------------------------


def _header_map(headers: Sequence[tuple[str, str]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in headers or ():
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(name, str) and isinstance(value, str):
            out.setdefault(name.strip().lower(), value.strip())
    return out


def parse_error_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes | None
) -> ServerError | None:
    """Parse an AWS error response; None for a 1xx/2xx/3xx status or a body that is not
    an AWS error. A 4xx/5xx with an ``x-amzn-ErrorType`` header, or with no body at all
    (a HEAD answer), still gives a ServerError (the code is then the header's, or the
    status as botocore reports it: ``"403"``). Never raises; reads at most 1 MiB."""
    try:
        return _parse(status, headers, body)
    except Exception as exc:  # defensive: a parser bug must not break the flow
        try:
            st = int(status)
        except Exception:
            return None
        if not 400 <= st <= 599:
            return None
        return ServerError(
            protocol="unknown",
            status=st,
            code=str(st),
            message=_reason(st),
            notes=[f"parser failed: {type(exc).__name__}"],
        )


def _parse(
    status: int, headers: Sequence[tuple[str, str]], body: bytes | None
) -> ServerError | None:
    if isinstance(status, bool):
        return None
    st = int(status)
    if not 400 <= st <= 599:
        return None
    hdrs = _header_map(headers)
    raw = bytes(body) if body else b""
    d = ServerError(status=st)
    if len(raw) > MAX_BODY:
        d.notes.append(f"body of {len(raw)} bytes; only the first {MAX_BODY} read")
        raw = raw[:MAX_BODY]
    d.date_header = parse_error_time(hdrs.get("date"))
    d.request_id = hdrs.get("x-amzn-requestid") or hdrs.get("x-amz-request-id") or None
    header_code = normalize_code(hdrs.get("x-amzn-errortype")) or normalize_code(
        hdrs.get("x-amzn-query-error")
    )
    start = raw.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    parsed = False
    if start == b"<" or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        parsed = _fill_from_xml(d, raw)
    elif start == b"{":
        parsed = _fill_from_json(d, raw)
    if not parsed:
        if header_code is not None:
            d.protocol = "unknown"
            d.code = header_code
        elif not raw.strip():
            d.code = str(st)
            d.message = _reason(st)
            if st == 400 and hdrs.get("x-amz-bucket-region"):
                # S3 answers a HEAD in the wrong region with a bare 400 and this header.
                d.expected_region = hdrs["x-amz-bucket-region"]
        else:
            return None
    if d.code is None:
        d.code = header_code
    _fill_from_message(d)
    d.message = redact_secrets(d.message)
    return d
