"""What AWS's servers compute for a SigV4 / SigV4a signature, written from AWS's published
rules and test vectors, independently of any signer (no botocore signer class, nothing from
``sigv4_inspector``).

Conventions: the request's method, path, query and header values are *wire strings*: each
character is one byte as received (the HTTP plumbing decodes the request line and headers as
latin-1), so raw UTF-8 in a request line survives byte for byte. ``bytes`` are accepted too.
The canonical request and the string to sign are returned as wire strings and hashed as the
same bytes; :func:`display` turns one into readable text (UTF-8) for an error echo.

Every rule cites its evidence. Abbreviations used below:

* [DOC-CR] AWS SigV4 documentation, "Create a canonical request" (IAM User Guide, "Create a
  signed AWS API request", step 1; formerly general/latest/gr/sigv4-create-canonical-request):
  CanonicalURI is "the URI-encoded version of the absolute path component"; "each path
  segment must be URI-encoded twice (except for Amazon S3 which only gets URI-encoded
  once)"; normalise the path ("remove redundant and relative path components") except for
  S3; CanonicalQueryString: "URI-encode each parameter name and value", "sort the encoded
  parameters ... by key name", "if a parameter has no value, use an empty string";
  CanonicalHeaders: lowercase names, "trim any leading or trailing spaces", "convert
  sequential spaces to a single space", repeated headers' values joined with commas.
* [DOC-S3] Amazon S3 API Reference, "Signature Calculations for the Authorization Header"
  (sig-v4-header-based-auth), ``UriEncode()``: unreserved ``A-Za-z0-9-_.~`` stay, every
  other byte becomes ``%XY`` with uppercase hex, space is ``%20`` (never ``+``), ``/`` kept
  in the object key name; "x-amz-content-sha256 ... is required for all AWS Signature
  Version 4 requests" to S3.
* [VEC] the AWS suites in ``../shared/vectors`` (aws-c-auth ``v4``/``v4a``, botocore's
  ``aws4_testsuite``, ``s3-examples.json``), cited by case name.
* [ECHO] servers' own canonical requests, echoed in public issues:
  aws/aws-sdk-js#853 (S3 canonicalises ``/%3Fa=b%20c`` as ``/%3Fa%3Db%20c``, Elasticsearch
  as ``/%253Fa%3Db%2520c``); mhart/aws4#12 and inreachventures/aws-signing-request-
  interceptor#22 (raw ``*`` in an ES path echoed as ``%2A``); xcir/libvmod-awsrest#24 (S3's
  CanonicalRequest shows a valueless ``x`` as ``x=``); aws-amplify/amplify-js#2356 and
  inreachventures/aws-signing-request-interceptor#31 (raw ``*!()`` in a query refused by
  API Gateway / ES); awslabs/aws-sdk-rust#330 (S3 refuses a raw ``{``/``}`` prefix).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

SIGV4 = "AWS4-HMAC-SHA256"
SIGV4A = "AWS4-ECDSA-P256-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

#: Services whose canonical URI is the path decoded and encoded once, never normalised
#: ([DOC-CR] "except for Amazon S3"; [VEC] the ``*-unnormalized`` cases, context
#: ``normalize:false``, and botocore's ``normalize-path/normalize-path.txt`` note).
S3_SERVICES = frozenset({"s3", "s3-object-lambda", "s3-outposts", "s3express"})

#: THE reading of a raw '+' in a query string and in an S3 path: a space (%20); '%2B' stays a
#: plus. Evidence: [ECHO] API Gateway zirkelc/aws-signature-v4#4 ('id+eq+123' canonicalised
#: 'id%20eq%20123'); AWS's 2011 suite post-vanilla-query-nonunreserved (a parameter named '+'
#: is '%20'); S3 accepted '+' signed as '%20' (mhart/aws4fetch#83); S3 path echoes
#: nginx/nginx-s3-gateway#77, ex-aws/ex_aws#176, durch/rust-s3#148 ('+' -> '%20').
#: docs/aws-canonicalization.md section 4.
QUERY_PLUS_IS_SPACE = True

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
#: Header whitespace AWS collapses: SP and HTAB, plus the CR/LF of an obs-fold continuation
#: ([DOC-CR] "sequential spaces"; [VEC] get-header-value-trim collapses runs inside double
#: quotes, get-header-value-multiline turns each fold into one space).
_HEADER_WS = " \t\r\n"


def wire(value: str | bytes) -> bytes:
    """The bytes of a wire string (latin-1; a character above U+00FF means the caller handed
    in decoded text, which is then taken as UTF-8)."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def display(value: str) -> str:
    """A wire string as readable text (UTF-8, undecodable bytes replaced)."""
    return wire(value).decode("utf-8", "replace")


def uri_encode(data: bytes, *, keep_slash: bool = False) -> str:
    """[DOC-S3] ``UriEncode``: every byte outside ``A-Za-z0-9-_.~`` becomes ``%XY``
    (uppercase hex); ``/`` is kept when ``keep_slash``."""
    out = []
    for b in data:
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def percent_decode(data: bytes, *, plus_is_space: bool = False) -> bytes:
    """Decode ``%XY`` escapes; a ``%`` not followed by two hex digits stays literal (and is
    then re-encoded as ``%25``)."""
    if plus_is_space:
        data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x25 and i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(b)
        i += 1
    return bytes(out)


# ---- canonical URI ---------------------------------------------------------------------------


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 plus removal of empty segments, as services other than S3 do
    ([DOC-CR] "normalize URI paths"; [VEC] get-relative(-relative), get-slash(es),
    get-slash-dot-slash, get-slash-pointless-dot ``*-normalized``: ``/example/..`` -> ``/``,
    ``//example//`` -> ``/example/``). A ``..`` above the root is dropped."""
    if not path:
        return "/"
    kept: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if kept:
                kept.pop()
            continue
        kept.append(seg)
    trailing = "/" if path.endswith("/") and kept else ""
    return "/" + "/".join(kept) + trailing


def canonical_uri(path: str | bytes, service: str) -> str:
    """The CanonicalURI line.

    S3 family: percent-decode the path as received, then encode every byte outside the
    unreserved set once, keeping ``/``; no normalisation (``//`` and dot segments stay).
    Evidence: [DOC-CR] (S3 encoded once, not normalised); [ECHO] aws/aws-sdk-js#853 (S3
    turns ``/%3Fa=b%20c`` into ``/%3Fa%3Db%20c``: decoded, then ``=`` encoded); [VEC]
    ``*-unnormalized`` (``//example//`` kept, raw space -> ``%20``), s3-examples.json
    (``/test$file.text`` -> ``/test%24file.text``).

    Other services: normalise the path as received, then encode it (``%`` becomes ``%25``)
    once more. Evidence: [DOC-CR] ("URI-encoded twice"); [ECHO] aws/aws-sdk-js#853 (ES
    ``/%253Fa%3Db%2520c``), mhart/aws4#12 (``*`` -> ``%2A``); [VEC] get-utf8,
    get-space-normalized, botocore normalize-path/get-special-character (``$`` -> ``%24``).
    """
    raw = wire(path) or b"/"
    if service in S3_SERVICES:  # a raw '+' in an S3 path is a space (see QUERY_PLUS_IS_SPACE)
        return uri_encode(percent_decode(raw, plus_is_space=QUERY_PLUS_IS_SPACE), keep_slash=True)
    return uri_encode(remove_dot_segments(raw.decode("latin-1")).encode("latin-1"), keep_slash=True)


# ---- canonical query -------------------------------------------------------------------------


def query_pairs(query: str | bytes) -> list[tuple[bytes, bytes]]:
    """Split a raw query on ``&``, each pair on its first ``=`` (a pair without ``=`` has an
    empty value: [DOC-CR]; [ECHO] xcir/libvmod-awsrest#24); empty pieces are skipped."""
    out = []
    for part in wire(query).split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        out.append((name, value))
    return out


def canonical_query(query: str | bytes, *, exclude: Iterable[str] = ()) -> str:
    """The CanonicalQueryString line: percent-decode each name and value, re-encode with
    [DOC-S3] ``UriEncode`` (so a raw ``* ! ' ( ) : / @ , { }`` becomes ``%2A %21 %27 %28 %29
    %3A %2F %40 %2C %7B %7D`` and a pre-encoded ``%E1%88%B4`` stays as it is), then sort by
    encoded name and value in byte order ([DOC-CR] "sort ... by key name"; [VEC]
    get-vanilla-query-order-encoded gives ``%E1%88%B4=Value1&Param=Value2&Param-3=Value3``,
    get-vanilla-query-order-key/-value sort repeated names by value, get-vanilla-utf8-query,
    get-vanilla-query-unreserved; [ECHO] amplify-js#2356, aws-signing-request-interceptor#31,
    aws-sdk-rust#330). ``exclude`` names parameters (decoded) to leave out, e.g.
    ``X-Amz-Signature`` of a presigned URL ([DOC-S3] query-string auth: the canonical query
    holds every parameter "except X-Amz-Signature")."""
    skip = {e.encode() for e in exclude}
    items: list[tuple[str, str]] = []
    for name, value in query_pairs(query):
        dname = percent_decode(name, plus_is_space=QUERY_PLUS_IS_SPACE)
        if dname in skip:
            continue
        dvalue = percent_decode(value, plus_is_space=QUERY_PLUS_IS_SPACE)
        items.append((uri_encode(dname), uri_encode(dvalue)))
    items.sort()
    return "&".join(f"{k}={v}" for k, v in items)


def query_dict(query: str | bytes) -> dict[str, str]:
    """Every parameter, decoded (wire strings; a repeated name keeps its last value)."""
    return {
        percent_decode(n, plus_is_space=QUERY_PLUS_IS_SPACE).decode("latin-1"): percent_decode(
            v, plus_is_space=QUERY_PLUS_IS_SPACE
        ).decode("latin-1")
        for n, v in query_pairs(query)
    }


def query_param(query: str | bytes, name: str) -> str | None:
    """The first value of parameter ``name`` (decoded, as a wire string), or None."""
    want = name.encode()
    for n, v in query_pairs(query):
        if percent_decode(n, plus_is_space=QUERY_PLUS_IS_SPACE) == want:
            return percent_decode(v, plus_is_space=QUERY_PLUS_IS_SPACE).decode("latin-1")
    return None


# ---- canonical headers -----------------------------------------------------------------------


def canonical_header_value(value: str) -> str:
    """Trim and collapse runs of whitespace to one space ([DOC-CR]; [VEC]
    get-header-value-trim, get-header-value-multiline)."""
    out: list[str] = []
    run = False
    for ch in value:
        if ch in _HEADER_WS:
            run = True
            continue
        if run and out:
            out.append(" ")
        run = False
        out.append(ch)
    return "".join(out)


def canonical_headers(headers: Sequence[tuple[str, str]], signed: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header, names lower-cased and sorted, repeated
    headers joined with ``,`` in the order received ([DOC-CR]; [VEC]
    get-header-key-duplicate ``value2,value2,value1``, get-header-value-order, post-header-
    key-case, post-header-key-sort). A signed header that is absent gets an empty value."""
    wanted: dict[str, list[str]] = {h.lower(): [] for h in signed}
    for name, value in headers:
        bucket = wanted.get(name.lower())
        if bucket is not None:
            bucket.append(canonical_header_value(value))
    return "".join(f"{h}:{','.join(wanted[h])}\n" for h in sorted(wanted))


def canonical_request(
    method: str,
    path: str | bytes,
    query: str | bytes,
    headers: Sequence[tuple[str, str]],
    signed: Sequence[str],
    payload_hash: str,
    service: str,
    *,
    exclude_query: Iterable[str] = (),
) -> str:
    """The six-line canonical request ([DOC-CR]; [VEC] every ``*-canonical-request.txt``)."""
    lsigned = sorted({h.lower() for h in signed})
    return "\n".join(
        [
            method,
            canonical_uri(path, service),
            canonical_query(query, exclude=exclude_query),
            canonical_headers(headers, lsigned),
            ";".join(lsigned),
            payload_hash,
        ]
    )


def string_to_sign(algorithm: str, amz_date: str, scope: str, creq: str) -> str:
    """[DOC-CR] "Create a string to sign": algorithm, timestamp, scope, hex SHA-256 of the
    canonical request ([VEC] every ``*-string-to-sign.txt``; SigV4a's scope has no region)."""
    digest = hashlib.sha256(wire(creq)).hexdigest()
    return f"{algorithm}\n{amz_date}\n{scope}\n{digest}"


# ---- keys and signatures ---------------------------------------------------------------------


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 key: HMAC chain over date, region, service, ``aws4_request`` (AWS SigV4
    docs, "Calculate the signature")."""
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def hmac_hex(key: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of a wire string."""
    return hmac.new(key, wire(text), hashlib.sha256).hexdigest()


def sigv4a_private_key(access_key: str, secret_key: str) -> ec.EllipticCurvePrivateKey:
    """Derive the SigV4a P-256 key (NIST SP 800-108 counter-mode HMAC-SHA256; the vectors'
    README section 1 ``public-key.json``)."""
    key = b"AWS4A" + secret_key.encode()
    for counter in range(1, 255):
        fixed = (
            b"\x00\x00\x00\x01"
            + SIGV4A.encode()
            + b"\x00"
            + access_key.encode()
            + bytes([counter])
            + b"\x00\x00\x01\x00"
        )
        k0 = int.from_bytes(hmac.new(key, fixed, hashlib.sha256).digest(), "big")
        if k0 <= P256_ORDER - 2:
            return ec.derive_private_key(k0 + 1, ec.SECP256R1())
    raise ValueError("SigV4a key derivation did not converge")


def sigv4a_verify(public_key: ec.EllipticCurvePublicKey, text: str, signature_hex: str) -> bool:
    """Verify a hex DER ECDSA-P256/SHA-256 signature over a wire string. Chunk signatures
    may be right-padded with ``*`` (the vectors' README, ``*-signature.txt``)."""
    try:
        der = binascii.unhexlify(signature_hex.rstrip("*"))
        public_key.verify(der, wire(text), ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError, binascii.Error):
        return False


# ---- request verification --------------------------------------------------------------------


@dataclass
class Verification:
    """The outcome of one verification, with the strings AWS would echo."""

    ok: bool
    canonical_request: str
    string_to_sign: str


@dataclass
class SignedRequest:
    """What the verifier needs of a received request."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


def payload_hash_for(
    req: SignedRequest, service: str, *, presigned: bool, presigned_hash: str | None
) -> str:
    """The canonical request's last line.

    S3, header auth: the ``x-amz-content-sha256`` value as sent ([DOC-S3]; a missing header
    is refused before this, see auth). S3, presigned: ``X-Amz-Content-Sha256`` from the query
    if there, else ``UNSIGNED-PAYLOAD`` ([DOC-S3] query-string auth; [VEC] s3-examples.json
    example 7). Other services: hex SHA-256 of the body received ([DOC-CR] "HashedPayload";
    [VEC] post-x-www-form-urlencoded, header and query)."""
    if service in S3_SERVICES:
        if presigned:
            return presigned_hash or UNSIGNED_PAYLOAD
        for k, v in req.headers:
            if k.lower() == "x-amz-content-sha256":
                return v.strip()
        return hashlib.sha256(req.body).hexdigest()
    return hashlib.sha256(req.body).hexdigest()


def verify_request(
    req: SignedRequest,
    *,
    algorithm: str,
    access_key: str,
    secret: str,
    date: str,
    region: str | None,
    service: str,
    amz_date: str,
    signed_headers: Sequence[str],
    signature: str,
    presigned: bool,
    presigned_hash: str | None = None,
) -> Verification:
    """Recompute the request's canonical request and string to sign the way AWS does and
    check ``signature`` (HMAC for SigV4, ECDSA verification for SigV4a)."""
    creq = canonical_request(
        req.method,
        req.path,
        req.query,
        req.headers,
        signed_headers,
        payload_hash_for(req, service, presigned=presigned, presigned_hash=presigned_hash),
        service,
        exclude_query=("X-Amz-Signature",) if presigned else (),
    )
    if algorithm == SIGV4A:
        sts = string_to_sign(SIGV4A, amz_date, f"{date}/{service}/aws4_request", creq)
        pub = sigv4a_private_key(access_key, secret).public_key()
        return Verification(sigv4a_verify(pub, sts, signature), creq, sts)
    sts = string_to_sign(SIGV4, amz_date, f"{date}/{region}/{service}/aws4_request", creq)
    key = signing_key(secret, date, region or "", service)
    ok = hmac.compare_digest(hmac_hex(key, sts), signature)
    return Verification(ok, creq, sts)
