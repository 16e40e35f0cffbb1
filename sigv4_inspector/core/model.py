"""Plain data types shared by every core module: the request as seen on the wire, the
credentials a verifier may use, the parsed authentication, findings and the verification.

No behaviour lives here beyond small accessors, so every other module can import it.

The types built for every flow (``WireRequest``, ``Scope``, ``ParsedAuth``, ``Finding``)
are treated as immutable but are not ``frozen``: a frozen dataclass sets each field
through ``object.__setattr__`` and costs about five times as much to build (ParsedAuth:
9.9 against 2.0 µs), paid on every flow on mitmproxy's event loop, where the addon
inspects flows (one process). Use ``dataclasses.replace`` (``ParsedAuth.with_payload``
where verification swaps the payload on most flows).
"""

from __future__ import annotations

import hashlib
from base64 import b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

if TYPE_CHECKING:
    from sigv4_inspector.core.postpolicy import PolicyEvaluation, PostUpload

Scheme = Literal["sigv4", "sigv4a", "sigv2", "none"]
# "form": an S3 POST upload, whose signing fields and policy are multipart/form-data fields
Location = Literal["header", "query", "form"]
Severity = Literal["error", "warning", "info"]


class Verdict(StrEnum):
    """The record's ``verdict`` (report.md): the outcome of the cryptographic check on the
    request as seen. A ``StrEnum``: the record writes the plain value."""

    VALID = "valid"  # recomputed the way AWS's servers compute it, and it matches
    INVALID = "invalid"  # it does not match, or cannot match
    UNVERIFIED = "unverified"  # no secret is known, or the scheme is not checked
    UNSIGNED = "unsigned"  # an AWS endpoint reached with no signature at all


class Reason(StrEnum):
    """Why a request is ``invalid`` or ``unverified`` (:attr:`Verification.reason`); the
    diagnosis rules turn each into findings."""

    SIGNATURE_MISMATCH = "signature_mismatch"
    SIGNED_HEADER_MISSING = "signed_header_missing"
    PATH_ENCODING = "path_encoding"  # the signature matches a signer's form of the path
    QUERY_ENCODING = "query_encoding"  # ... of the query
    PAYLOAD_HASH_MISMATCH = "payload_hash_mismatch"
    AWS_CHUNKED_FRAMING = "aws_chunked_framing"
    DECODED_LENGTH_MISMATCH = "decoded_length_mismatch"
    CHUNK_SIGNATURE_MISMATCH = "chunk_signature_mismatch"
    MALFORMED_AUTHORIZATION = "malformed_authorization"
    UNKNOWN_ACCESS_KEY = "unknown_access_key"
    BODY_UNKNOWN = "body_unknown"  # the payload hash needs a body that was not seen
    FORM_UNKNOWN = "form_unknown"  # a multipart POST whose form was not seen
    INTERNAL_ERROR = "internal_error"  # the check itself failed (never on valid input)


class AuthErrorDetail(TypedDict, total=False):
    """What makes an authorization malformed, beside :attr:`ParsedAuth.error`."""

    authorization_sha256_b64: str  # base64(SHA-256(raw header)), as AWS prints it
    problems: list[str]  # each problem found, in words


class EncodingForm(TypedDict):
    """The signer's canonical form a signature matched when AWS's does not
    (:attr:`Verification.encoding`): its lines and the characters that differ."""

    part: Literal["path", "query"]
    form: str  # the form's name (awsmodel)
    signer_did: str  # what that signer did, in words
    aws_line: str  # the canonical line as AWS's servers compute it
    signed_line: str  # the line the signature matches
    raw: list[tuple[str, str]]  # characters left raw, each with AWS's escape
    over_encoded: list[str]  # escapes AWS does not make


class Ambiguity(TypedDict):
    """A contested reading the verdict rests on (:attr:`Verification.ambiguity`)."""

    reading: str
    part: str
    character: str
    model_reading: str  # how the decided model (awsmodel) reads it
    other_reading: str
    matches: str  # the reading the signature matches
    evidence: list[str]


class ReasonDetail(TypedDict, total=False):
    """The evidence of :attr:`Verification.reason`; which keys are set depends on it."""

    error: str | None  # in words (malformed_authorization, framing, internal_error, ...)
    also: list[Reason]  # the other reasons found, after the first
    # malformed_authorization
    authorization_sha256_b64: str
    problems: list[str]
    # signed_header_missing: the headers, and their signed values when known (SigV2 URLs)
    headers: list[str]
    values: dict[str, str]
    # payload_hash_mismatch
    signed: str
    body: str
    # aws_chunked_framing, decoded_length_mismatch, chunk_signature_mismatch
    after_decoded_bytes: int
    declared: int
    decoded: int
    chunk: int | str
    # form_unknown
    bytes_seen: int
    # path_encoding, query_encoding: the matched form (:class:`EncodingForm`)
    part: str
    form: str
    signer_did: str
    aws_line: str
    signed_line: str
    raw: list[tuple[str, str]]
    over_encoded: list[str]


#: Each header's value by lower-cased name: the value itself when sent once (a string: no
#: container per header, so a flood of headers allocates little for the garbage collector
#: to scan), all its values in order when sent more than once.
HeaderIndex = dict[str, str | list[str]]


def header_index(headers: Iterable[tuple[str, str]]) -> HeaderIndex:
    """Each header's values by lower-cased name, names and values in the order sent: built
    once per message, for the many case-insensitive lookups the rules make. Linear, however
    often a header repeats."""
    index: HeaderIndex = {}
    for k, v in headers:
        lk = k.lower()
        got = index.get(lk)
        if got is None:
            index[lk] = v
        elif isinstance(got, str):
            index[lk] = [got, v]
        else:
            got.append(v)
    return index


def index_values(index: HeaderIndex, name: str) -> list[str]:
    """All values of the (lower-cased) header ``name`` in ``index``, in order."""
    got = index.get(name)
    if got is None:
        return []
    return [got] if isinstance(got, str) else got


def index_joined(index: HeaderIndex, name: str) -> str | None:
    """The values of the (lower-cased) header ``name`` joined with ',' (as SigV4 joins
    them), or None if absent."""
    got = index.get(name)
    if got is None or isinstance(got, str):
        return got
    return ",".join(got)


@dataclass(slots=True, unsafe_hash=True)
class WireRequest:
    """A request exactly as it crossed the wire.

    ``target`` is the raw request target (path and query, percent-encoding untouched).
    ``headers`` keeps order, case and duplicates. ``body`` is the raw body bytes as sent
    (aws-chunked framing included, outer HTTP chunked framing removed); ``None`` means the
    body is unknown (streamed, or not stored), which is not the same as empty.
    ``authority`` is the host[:port] the request was delivered to, used when there is no
    Host header (HTTP/2).
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None = b""
    authority: str = ""
    scheme: str = "https"
    _index: HeaderIndex | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] | Mapping[str, str],
        body: bytes | None = b"",
        authority: str = "",
        scheme: str = "https",
    ) -> WireRequest:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return cls(
            method, target, tuple((str(k), str(v)) for k, v in items), body, authority, scheme
        )

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def raw_query(self) -> str:
        _, sep, q = self.target.partition("?")
        return q if sep else ""

    def index(self) -> HeaderIndex:
        """The header index of :func:`header_index` (built once, then shared)."""
        index = self._index
        if index is None:
            self._index = index = header_index(self.headers)
        return index

    def header_values(self, name: str) -> list[str]:
        """All values of a header (case-insensitive), in order."""
        return index_values(self.index(), name.lower())

    def header_names(self) -> Iterable[str]:
        """Each header's name once, lower-cased, in the order first sent."""
        return self.index().keys()

    def header(self, name: str) -> str | None:
        """The values of a header joined with ',' (as SigV4 joins them), or None if absent."""
        return index_joined(self.index(), name.lower())

    @property
    def host(self) -> str:
        """The Host header, else the authority."""
        h = self.header("host")
        return h if h is not None else self.authority


@dataclass(frozen=True, slots=True)
class Credential:
    """One secret the verifier may use. ``source`` names where it came from (report.md's
    ``credential_source``: ``env``, ``profile:NAME``, ``learned:sts-assume-role`` ...)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = "unknown"
    expiry: datetime | None = None
    issued_by: str | None = None  # host that issued temporary credentials (STS endpoint)
    issued_at: datetime | None = None


class Keyring(Protocol):
    """Anything that finds the credential for an access key id."""

    def lookup(self, access_key_id: str) -> Credential | None: ...


class DictKeyring:
    """A keyring backed by a dict; the simplest :class:`Keyring`."""

    def __init__(self, creds: Iterable[Credential] = ()) -> None:
        self._by_id: dict[str, Credential] = {}
        for c in creds:
            self.add(c)

    def add(self, cred: Credential) -> None:
        self._by_id.setdefault(cred.access_key_id, cred)

    def lookup(self, access_key_id: str) -> Credential | None:
        return self._by_id.get(access_key_id)

    def __len__(self) -> int:
        return len(self._by_id)


@dataclass(slots=True, unsafe_hash=True)
class Scope:
    date: str
    region: str | None  # None for SigV4a
    service: str
    terminator: str

    def __str__(self) -> str:
        parts = [self.date] + ([self.region] if self.region is not None else [])
        return "/".join(parts + [self.service, self.terminator])

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"date": self.date, "service": self.service}
        if self.region is not None:
            d["region"] = self.region
        return d


@dataclass(slots=True)
class ParsedAuth:
    """The authentication a request carries, as parsed (not yet verified). For an S3 POST
    upload (``location`` ``form``) it is read from the form's fields: ``signature`` is the
    form's ``x-amz-signature`` (SigV2: ``signature``), ``session_token`` its
    ``x-amz-security-token``, ``signed_headers`` empty (reported as null)."""

    scheme: Scheme
    location: Location | None
    algorithm: str = ""
    access_key_id: str | None = None
    scope: Scope | None = None
    signed_headers: tuple[str, ...] = ()
    signature: str = ""
    amz_date: str | None = None
    payload: str | None = None  # signed payload hash or mode
    region_set: str | None = None  # SigV4a
    expires: str | None = None  # presigned X-Amz-Expires / SigV2 Expires
    session_token: str | None = field(default=None, repr=False)
    raw_authorization: str | None = field(default=None, repr=False)
    error: str | None = None  # set when the authentication is malformed
    error_detail: AuthErrorDetail = field(default_factory=dict)  # type: ignore[assignment]

    @property
    def malformed(self) -> bool:
        return self.error is not None

    def with_payload(self, payload: str | None) -> ParsedAuth:
        """A copy with another ``payload``; a third of the cost of ``dataclasses.replace``,
        which verification pays on every request without a signed payload hash."""
        return ParsedAuth(
            self.scheme,
            self.location,
            self.algorithm,
            self.access_key_id,
            self.scope,
            self.signed_headers,
            self.signature,
            self.amz_date,
            payload,
            self.region_set,
            self.expires,
            self.session_token,
            self.raw_authorization,
            self.error,
            self.error_detail,
        )

    def as_dict(self) -> dict[str, Any]:
        """The record's ``auth`` object (report.md)."""
        scope: dict[str, Any] | None = self.scope.as_dict() if self.scope else None
        if scope is not None and self.scheme == "sigv4a":
            scope["region_set"] = self.region_set
        return {
            "scheme": self.scheme,
            "location": self.location,
            "access_key_id": self.access_key_id,
            "scope": scope,
            "signed_headers": None if self.location == "form" else list(self.signed_headers),
            "payload": self.payload,
        }


@dataclass(slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    fix: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
            "evidence": self.evidence,
        }

    def as_dict_short(self) -> dict[str, Any]:
        """The record's ``headline``: the finding without its evidence."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(slots=True)
class ChecksumResult:
    """One ``x-amz-checksum-*`` check: from a header or a trailer, the value the request
    declares (``expected``, None when an announced trailer never came) and the one computed
    over the (decoded) body. ``ok`` is None when it could not be computed here
    (``unavailable`` names the missing module)."""

    algorithm: str
    location: Literal["header", "trailer"]
    expected: str | None
    actual: str | None
    ok: bool | None
    unavailable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "location": self.location,
            "expected": self.expected,
            "actual": self.actual,
            "ok": self.ok,
            "unavailable": self.unavailable,
        }


@dataclass(slots=True)
class Verification:
    """The outcome of checking one request's signature: facts, not yet findings.

    ``reason`` names why a request is ``invalid`` or ``unverified`` (``signature_mismatch``,
    ``signed_header_missing``, ``payload_hash_mismatch``, ``chunk_signature_mismatch``,
    ``aws_chunked_framing``, ``malformed_authorization``, ``unknown_access_key``,
    ``body_unknown``, ``form_unknown``); ``detail`` carries the evidence. The diagnosis rules turn these facts
    into findings. ``credential`` is the one used (never serialised).
    """

    verdict: Verdict
    auth: ParsedAuth
    canonical_request: str | None = None
    string_to_sign: str | None = None
    credential: Credential | None = field(default=None, repr=False)
    reason: Reason | None = None
    detail: ReasonDetail = field(default_factory=dict)  # type: ignore[assignment]
    variant: str | None = None  # the signer's form the signature matched, when not AWS's
    encoding: EncodingForm | None = None  # that form's lines and the characters that differ
    ambiguity: list[Ambiguity] = field(default_factory=list)  # contested readings decided
    body_unchecked: str | None = None  # why the body was not checked, when the verdict holds
    missing_headers: list[str] = field(default_factory=list)
    payload_line: str | None = None
    body_sha256: str | None = None
    decoded_length: int | None = None
    chunks: int = 0
    chunks_verified: int = 0
    trailers: list[tuple[str, str]] = field(default_factory=list)
    checksums: list[ChecksumResult] = field(default_factory=list)
    signature_ok: bool | None = None
    # An S3 POST upload (auth.location "form"): the upload as read from the form, and its
    # policy checked against the form at the request time (None when not evaluated yet).
    post_upload: PostUpload | None = field(default=None, repr=False)
    post_policy: PolicyEvaluation | None = field(default=None, repr=False)

    @property
    def credential_source(self) -> str | None:
        return self.credential.source if self.credential else None


def fingerprint(value: str | bytes) -> str:
    """A short, non-reversible fingerprint of a signature or token for display."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    return "sha256:" + hashlib.sha256(value).hexdigest()[:12]


def aws_header_digest(raw: str) -> str:
    """base64(SHA-256(raw Authorization header)) as AWS prints it in
    IncompleteSignatureException messages."""
    return b64encode(hashlib.sha256(raw.encode("utf-8", "surrogateescape")).digest()).decode()
