"""Forensic search: when a signature does not match and the secret is known, re-sign
plausible variants of the request (the mistakes real signers and intermediaries make) and
report the one that reproduces the signature sent.

Bounded by counts, never by time, so a flow gets the same diagnosis on any machine however
busy: at most ``MAX_VARIANTS`` candidates and ``MAX_SEARCH_BYTES`` of canonical requests
hashed (a request with 20,000 signed headers stops after a few variants). The bounds are
checked before every candidate. Each variant is described in words (``"path: '+' instead
of '%20'"``) for the finding. The encodings AWS's model knows signers get wrong are tried
by the verifier itself (``awsmodel.SIGNER_FORMS``), so they are not repeated here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from sigv4_inspector.core import canonical as c
from sigv4_inspector.core.model import (
    Credential,
    Verification,
    WireRequest,
    header_index,
    index_values,
)
from sigv4_inspector.core.verify import header_list_for_signing, is_s3, make_checker, scope_string

MAX_VARIANTS = 200
MAX_SEARCH_BYTES = 1 << 20  # canonical requests hashed per flow (a typical one is under 1 KB)
MAX_HEADERS_EXAMINED = 64  # signed headers whose value variants are tried
MAX_SIGNED_FOR_HEADER_VARIANTS = 1000  # more signed headers: no header value variants
COMMON_MEDIA_TYPES = (
    "text/csv",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
    "application/json",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
    "application/zip",
    "application/xml",
    "text/xml",
    "text/html",
    "video/mp4",
    "audio/mpeg",
    "application/gzip",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain; charset=utf-8",
    "application/json; charset=utf-8",
    "text/csv; charset=utf-8",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


@dataclass(slots=True)
class Candidate:
    kind: str  # "path", "query", "host", "header", "payload", "secret"
    description: str
    creq: str | None = None  # the canonical request to try (None: reuse the primary)
    secret: str | None = None  # an alternative secret to try
    evidence: dict[str, Any] | None = None


@dataclass(slots=True)
class ForensicResult:
    """What the search found: ``explained`` when a variant reproduced the signature sent
    (``kind`` and ``description`` say which, ``evidence`` the values), ``tried`` the
    variants signed, ``truncated`` when a bound stopped it first. Never holds a computed
    signature or a secret."""

    explained: bool = False
    kind: str | None = None
    description: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    tried: int = 0
    truncated: bool = False


def _lines(creq: str) -> list[str]:
    return creq.split("\n")


class _Lines:
    """The primary canonical request split once; variants replace one line by index."""

    def __init__(self, creq: str) -> None:
        self.lines = _lines(creq)
        self._header_at: dict[str, int] | None = None  # built when a header variant needs it

    @property
    def header_at(self) -> dict[str, int]:
        if self._header_at is None:
            self._header_at = {}
            for i, ln in enumerate(self.lines[3:], start=3):
                if not ln:
                    break  # the blank line that ends the canonical headers
                self._header_at.setdefault(ln.partition(":")[0], i)
        return self._header_at

    def with_line(self, index: int, value: str) -> str:
        lines = self.lines.copy()
        lines[index] = value
        return "\n".join(lines)

    def with_header(self, name: str, value: str) -> str:
        i = self.header_at.get(name)
        if i is None:
            return "\n".join(self.lines)
        return self.with_line(i, f"{name}:{value}")


def candidates(
    req: WireRequest, v: Verification, cred: Credential
) -> Generator[Candidate, None, None]:
    """The catalogue of known mistakes, most common first."""
    auth = v.auth
    creq = v.canonical_request or ""
    if not creq:
        return
    cl = _Lines(creq)
    lines = cl.lines
    payload = lines[-1]
    s3 = is_s3(auth)
    path = req.path

    # Path encoding and normalisation: none of these changes a plain path (unreserved
    # characters and single slashes, no dot segment), so then none is built.
    if not c.is_plain_path(path):
        alts = (
            ("S3 path rules (no normalisation, single encoding)", path, False, False),
            ("non-S3 path rules (normalised, encoded twice)", path, True, True),
            ("the path encoded twice without normalisation", path, False, True),
            ("the path normalised and encoded once", path, True, False),
            ("'%20' where the request has '+'", path.replace("+", "%20"), not s3, not s3),
            ("'+' where the request has '%20'", path.replace("%20", "+"), not s3, not s3),
            (
                "'/' where the request has '%2F'",
                path.replace("%2F", "/").replace("%2f", "/"),
                not s3,
                not s3,
            ),
            ("the decoded path (not encoded at all)", path, None, None),
            ("'//' collapsed", path.replace("//", "/"), not s3, not s3),
        )
        seen = {lines[1]}
        for desc, p, normalize, double in alts:
            if normalize is None:
                uri = c.percent_decode(p).decode("utf-8", "surrogateescape")
            else:
                uri = c.canonical_uri(p, normalize=normalize, double_encode=bool(double))
            if uri in seen:
                continue
            seen.add(uri)
            yield Candidate(
                "path",
                f"the signer used {desc}: {uri!r}",
                cl.with_line(1, uri),
                evidence={"signed_uri": uri, "uri_here": lines[1]},
            )

    # Query: a valueless parameter signed without '=' (AWS's form has 'name=').
    pairs = c.split_query(req.raw_query)
    exclude = ("X-Amz-Signature",) if auth.location == "query" else ()
    if any(val is None for _, val in pairs):
        no_eq = "&".join(
            sorted(
                (
                    c.uri_encode(c.percent_decode(k))
                    + ("" if val is None else "=" + c.uri_encode(c.percent_decode(val)))
                )
                for k, val in pairs
                if k not in exclude
            )
        )
        if no_eq != lines[2]:
            yield Candidate(
                "query",
                f"the signer used valueless parameters without '=': {no_eq[:80]!r}",
                cl.with_line(2, no_eq),
                evidence={"signed_query": no_eq, "query_here": lines[2]},
            )

    # Host with/without the default port, X-Forwarded-Host.
    host = req.host
    hosts = []
    if ":" in host:
        hosts.append(("Host without its port", host.rsplit(":", 1)[0]))
    else:
        default = "443" if req.scheme == "https" else "80"
        hosts.append((f"Host with the default port :{default}", f"{host}:{default}"))
        hosts.append(
            ("Host with the other default port", f"{host}:{'80' if default == '443' else '443'}")
        )
    xfh = req.header("x-forwarded-host")
    if xfh:
        hosts.append(("the X-Forwarded-Host value as Host", xfh.strip()))
    if "host" in auth.signed_headers:
        for desc, h in hosts:
            yield Candidate(
                "host",
                f"the client signed {desc} ({h!r}) but the request carries {host!r}",
                cl.with_header("host", h),
                evidence={"signed_host": h, "host_here": host},
            )

    # Each signed header: untrimmed/uncollapsed value, charset variants, duplicates joined by
    # ', '. Only a header sent twice, or whose value canonicalisation changes, or
    # Content-Type, has such variants; at most MAX_HEADERS_EXAMINED are looked at.
    # (not looked at for more than MAX_SIGNED_FOR_HEADER_VARIANTS signed headers: AWS refuses
    # such a header section before it checks a signature, e.g. S3's RequestHeaderSectionTooLarge
    # past 8 KB, https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html)
    varied = (
        auth.signed_headers if len(auth.signed_headers) <= MAX_SIGNED_FOR_HEADER_VARIANTS else []
    )
    # one pass, not one per header
    index = header_index(header_list_for_signing(req, auth)) if varied else {}
    examined = 0
    for name in varied:
        vals = index_values(index, name)
        if not vals:
            continue
        if len(vals) == 1 and name != "content-type" and " " not in vals[0] and "\t" not in vals[0]:
            continue  # one plain value: every option below equals it
        examined += 1
        if examined > MAX_HEADERS_EXAMINED:
            break
        joined = ",".join(c.canonical_header_value(x) for x in vals)
        options = {
            "its raw value (whitespace kept)": ",".join(vals),
            "duplicates joined with ', '": ", ".join(c.canonical_header_value(x) for x in vals),
            "only the first of repeated values": c.canonical_header_value(vals[0]),
            "only the last of repeated values": c.canonical_header_value(vals[-1]),
        }
        if name == "content-type":
            base = joined.split(";")[0].strip()
            options["without the '; charset=...' part"] = base
            options["with '; charset=UTF-8'"] = base + "; charset=UTF-8"
            options["with '; charset=utf-8'"] = base + "; charset=utf-8"
            options["lower-cased"] = joined.lower()
        for desc, val in options.items():
            if val != joined:
                yield Candidate(
                    "header",
                    f"header '{name}' was signed as {desc}: {val[:80]!r}, sent as {joined[:80]!r}",
                    cl.with_header(name, val),
                    evidence={"header": name, "signed_value": val, "value_here": joined},
                )

    # The value of a signed Content-Type that was not sent (or sent differently by the user
    # of a presigned URL): the common media types, so the finding can say which value to
    # send. Not for header-signed requests that carry one: the client signed what it sent.
    if "content-type" in auth.signed_headers and (
        auth.location == "query" or "content-type" in v.missing_headers
    ):
        sent = c.canonical_header_value(req.header("content-type") or "")
        for mt in COMMON_MEDIA_TYPES:
            if mt != sent:
                yield Candidate(
                    "header",
                    f"header 'content-type' was signed as {mt!r}, sent as {sent!r}",
                    cl.with_header("content-type", mt),
                    evidence={"header": "content-type", "signed_value": mt, "value_here": sent},
                )

    # Payload hash modes.
    body = req.body if req.body is not None else b""
    for desc, ph in (
        ("the SHA-256 of an empty body", c.EMPTY_SHA256),
        ("UNSIGNED-PAYLOAD", c.UNSIGNED_PAYLOAD),
        ("the SHA-256 of the body as sent", hashlib.sha256(body).hexdigest()),
        ("the SHA-256 of '{}'", hashlib.sha256(b"{}").hexdigest()),
    ):
        if ph != payload:
            yield Candidate(
                "payload",
                f"the payload line was {desc}",
                cl.with_line(len(lines) - 1, ph),
                evidence={"signed_payload": ph, "payload_here": payload},
            )


def secret_candidates(cred: Credential) -> Iterator[Candidate]:
    """The secret with stray whitespace (no canonical request to build or hash: tried even
    when the byte budget is spent)."""
    s = cred.secret_access_key
    for desc, alt in (
        ("with a trailing newline", s + "\n"),
        ("with a trailing space", s + " "),
        ("with a leading space", " " + s),
        ("with surrounding quotes", f'"{s}"'),
        ("with a trailing carriage return", s + "\r"),
    ):
        yield Candidate("secret", f"the secret was used {desc}", None, secret=alt)


def search(req: WireRequest, v: Verification, cred: Credential) -> ForensicResult:
    """Try the catalogue, most common mistakes first, within the count bounds."""
    auth = v.auth
    result = ForensicResult()
    if not v.canonical_request or auth.scope is None or auth.scheme not in ("sigv4", "sigv4a"):
        return result
    check = make_checker(auth, cred)
    prefix = f"{auth.algorithm}\n{auth.amz_date or ''}\n{scope_string(auth)}\n"
    primary_sts = prefix + c.hash_hex(v.canonical_request)
    hashed = 0
    # the header value variants are skipped past a bound (see candidates): a bound hit
    result.truncated = len(auth.signed_headers) > MAX_SIGNED_FOR_HEADER_VARIANTS
    candidates_left = candidates(req, v, cred)
    for cand in itertools.chain(candidates_left, secret_candidates(cred)):
        size = len(cand.creq) if cand.creq is not None else 0
        if result.tried >= MAX_VARIANTS:
            result.truncated = True
            break
        if hashed + size > MAX_SEARCH_BYTES:  # the rest of the catalogue is skipped; the
            result.truncated = True  # secret variants below hash nothing new and still run
            candidates_left.close()  # the chain goes on with the secret variants
            continue
        result.tried += 1
        hashed += size
        sts = primary_sts if cand.creq is None else prefix + c.hash_hex(cand.creq)
        chk = (
            check
            if cand.secret is None
            else make_checker(auth, Credential(cred.access_key_id, cand.secret))
        )
        if chk(sts, auth.signature):
            result.explained = True
            result.kind = cand.kind
            result.description = cand.description
            result.evidence = cand.evidence or {}
            break
    return result


__all__ = ["Candidate", "ForensicResult", "candidates", "search", "secret_candidates"]
