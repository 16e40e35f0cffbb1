"""A local AWS-like endpoint for end-to-end tests of the sigv4-inspector addons.

One process serves plain HTTP and HTTPS on 127.0.0.1 (a throwaway CA and leaf certificate are
generated into ``--certdir``) and answers a small subset of three AWS protocols:

* S3 (REST-XML): PutObject (plain or ``aws-chunked`` with checksum trailers), GetObject,
  HeadObject, DeleteObject, ListObjectsV2, ListBuckets, CreateBucket, presigned GET/PUT.
* DynamoDB (JSON 1.0): PutItem, GetItem, ListTables.
* STS (Query): AssumeRole, GetSessionToken, GetCallerIdentity, issuing temporary credentials
  (v1-format session tokens from the global host ``sts.localhost``, v2-format from
  ``sts.<region>.localhost``) that later requests may be signed with.

Every request's signature is re-verified *independently of the project's own verifier*: the
request is rebuilt as a ``botocore.awsrequest.AWSRequest`` and botocore's signer classes
recompute the canonical request, string to sign and signature, with the signed header list
taken from the request's SignedHeaders. SigV4a is verified with a local P-256 key derivation
and ``cryptography``. Failures are answered with the byte shapes AWS uses (S3 XML with the
echoed CanonicalRequest, JSON ``InvalidSignatureException`` with the Canonical String, STS
``ErrorResponse``), so the addons' server-side diagnosis can be exercised offline.

Routing is by Host header (port ignored); when the Host is an IP address or plain
``localhost`` the service is taken from the credential scope, ``X-Amz-Target`` or the form
``Action``.

Run: ``python scripts/fakeaws.py --http-port 0 --https-port 0 --certdir DIR --ready-file F``
(the ready file gets ``{"http_port": .., "https_port": .., "ca": ..}`` once listening), or
import :func:`start_fakeaws` for an in-process server in threads.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import secrets
import signal
import ssl
import string
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape as _xml_escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

EXAMPLE_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "ap-east-1",
    "af-south-1",
)
#: Regions that must be enabled by the account: v1 (global-endpoint) tokens are not valid there.
OPT_IN_REGIONS = frozenset({"ap-east-1", "af-south-1", "me-south-1", "eu-south-1", "ap-south-2"})
V1_TOKEN_PREFIXES = ("FQoGZXIvYXdz", "FwoGZXIvYXdz", "FQoDYXdz")
SIGV4 = "AWS4-HMAC-SHA256"
SIGV4A = "AWS4-ECDSA-P256-SHA256"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
MAX_PRESIGN_EXPIRES = 604800
#: Allowed clock skew per service, in seconds (S3 15 minutes; JSON services 5 minutes).
SKEW_SECONDS = {"s3": 900, "dynamodb": 300, "sts": 900}
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
AMZ_FMT = "%Y%m%dT%H%M%SZ"
SIG_MISMATCH_S3 = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
SIG_MISMATCH_CORAL = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
UNSUPPORTED_SIGNATURE = (
    "The provided request is signed with an unsupported STS Token version "
    "or the signature version is not supported."
)
CORAL_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.coral.service/"

# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigv4-inspector test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_ca(certdir: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    """Create a throwaway CA in ``certdir``; return its key, certificate and PEM path."""
    certdir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{name} CA"))
        .issuer_name(_name(f"{name} CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = certdir / f"{name}-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: Iterable[str],
    certdir: Path,
    stem: str,
) -> tuple[Path, Path]:
    """Issue a server certificate for ``names`` (DNS names or IP addresses); return (cert, key)."""
    names = list(dict.fromkeys(names))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0][:64]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=29))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = certdir / f"{stem}.pem"
    key_path = certdir / f"{stem}-key.pem"
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def fakeaws_names(regions: Iterable[str] = REGIONS) -> list[str]:
    """Host names the fakeaws leaf certificate covers (``*.localhost`` alone is not valid)."""
    names = ["localhost", "127.0.0.1", "s3.localhost", "*.s3.localhost", "sts.localhost"]
    for r in regions:
        names += [f"s3.{r}.localhost", f"*.s3.{r}.localhost"]
        names += [f"sts.{r}.localhost", f"dynamodb.{r}.localhost"]
    return names


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


@dataclass
class ReceivedRequest:
    """One request exactly as it arrived on the wire."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_body: bytes
    scheme: str
    http_version: str
    received_at: float
    status: int | None = None

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    no_body: bool = False  # HEAD: keep Content-Length, send no bytes


@dataclass
class TempCredential:
    access_key: str
    secret_key: str
    token: str
    expiration: dt.datetime
    issuer_host: str
    token_version: int
    arn: str
    user_id: str


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    etag: str
    last_modified: dt.datetime
    metadata: list[tuple[str, str]]
    checksums: dict[str, str]


@dataclass
class Route:
    service: str  # "s3" | "dynamodb" | "sts"
    region: str | None  # expected scope region; None: accept the scope's
    bucket: str | None = None  # virtual-host bucket
    sts_global: bool = False


@dataclass
class SigInfo:
    algorithm: str
    access_key: str
    date: str
    region: str | None
    service: str
    terminator: str
    signed_headers: list[str]
    signature: str
    amz_date: str
    presigned: bool
    expires: int | None = None
    token: str | None = None
    region_set: str | None = None
    payload_hash: str | None = None  # presigned X-Amz-Content-Sha256


class AuthError(Exception):
    """Raised with a ready-made error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def xml_escape(s: str) -> str:
    return _xml_escape(s, {'"': "&quot;"})


def hex_bytes(s: str) -> str:
    return " ".join(f"{b:02x}" for b in s.encode("utf-8"))


def iso8601(t: dt.datetime, millis: bool = False) -> str:
    if millis:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def checksum_b64(algorithm: str, data: bytes) -> str:
    """Base64 checksum as S3 puts it in ``x-amz-checksum-<algorithm>``."""
    algorithm = algorithm.lower()
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "crc32c":
        from awscrt import checksums

        raw = checksums.crc32c(data).to_bytes(4, "big")
    elif algorithm == "crc64nvme":
        from awscrt import checksums

        raw = checksums.crc64nvme(data).to_bytes(8, "big")
    elif algorithm == "sha1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(algorithm)
    return base64.b64encode(raw).decode()


CHECKSUM_NAMES = {
    "crc32": "CRC32",
    "crc32c": "CRC32C",
    "crc64nvme": "CRC64NVME",
    "sha1": "SHA1",
    "sha256": "SHA256",
}


def decode_aws_chunked(data: bytes) -> tuple[bytes, list[tuple[str, str]]]:
    """Undo ``aws-chunked`` framing: return (payload, trailers). Raises ValueError."""
    pos = 0
    out = bytearray()
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("aws-chunked: missing chunk header")
        size = int(data[pos:eol].split(b";", 1)[0].strip(), 16)
        pos = eol + 2
        if size == 0:
            break
        chunk = data[pos : pos + size]
        if len(chunk) != size or data[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError("aws-chunked: truncated chunk")
        out += chunk
        pos += size + 2
    trailers: list[tuple[str, str]] = []
    while pos < len(data):
        eol = data.find(b"\r\n", pos)
        line = data[pos:] if eol < 0 else data[pos:eol]
        pos = len(data) if eol < 0 else eol + 2
        if not line:
            break
        name, _, value = line.decode("latin-1").partition(":")
        trailers.append((name.strip().lower(), value.strip()))
    return bytes(out), trailers


def sigv4a_private_key(access_key: str, secret_key: str) -> ec.EllipticCurvePrivateKey:
    """Derive the SigV4a P-256 key (NIST SP 800-108 counter-mode HMAC-SHA256)."""
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


def make_session_token(version: int, region: str) -> str:
    """A session token in the observed v1 (global STS) or v2 (regional STS) format."""
    if version == 1:
        raw = b"\x15\n\x06er/aws" + secrets.token_bytes(261)  # ~360 base64 chars
    else:
        reg = region.encode()
        raw = (
            b"!\n\torigin_ec"
            + b"\x10\x1a"
            + bytes([len(reg)])
            + reg
            + b'"G0E\x02!'
            + secrets.token_bytes(560 - len(reg))
        )
    return base64.b64encode(raw).decode()


# --------------------------------------------------------------------------------------------
# Independent signature verification (botocore signer classes, pinned to the request)
# --------------------------------------------------------------------------------------------


class _PinnedMixin:
    """Make a botocore signer canonicalise exactly what arrived.

    SignedHeaders come from the request (never recomputed), the payload hash is given, the
    timestamp is the request's, and the query is either botocore's raw pairs or re-encoded.
    """

    def pin(self, signed: list[str], payload_hash: str, query_mode: str) -> None:
        self._signed = signed
        self._payload_hash = payload_hash
        self._query_mode = query_mode

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        hm = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() in self._signed:
                hm[name.lower()] = value
        for name in self._signed:
            if name not in hm:
                hm[name] = ""
        return hm

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash

    def canonical_query_string(self, request: AWSRequest) -> str:
        query = urlsplit(request.url).query
        if self._query_mode == "raw" or not query:
            return SigV4Auth._canonical_query_string_url(self, urlsplit(request.url))  # type: ignore[arg-type]
        pairs = []
        for pair in query.split("&"):
            k, _, v = pair.partition("=")
            pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
        return "&".join(f"{k}={v}" for k, v in sorted(pairs))


class _V4Header(_PinnedMixin, SigV4Auth):
    pass


class _V4S3Header(_PinnedMixin, S3SigV4Auth):
    pass


class _V4Query(_PinnedMixin, SigV4QueryAuth):
    pass


class _V4S3Query(_PinnedMixin, S3SigV4QueryAuth):
    pass


@dataclass
class Verification:
    ok: bool
    canonical_request: str
    string_to_sign: str
    query_mode: str


def verify_signature(
    req: ReceivedRequest,
    sig: SigInfo,
    secret_key: str,
    host: str,
) -> Verification:
    """Recompute the signature of ``req`` with botocore and compare it with the provided one."""
    is_s3 = sig.service == "s3"
    if sig.presigned:
        cls: type[_PinnedMixin] = _V4S3Query if is_s3 else _V4Query
        kept = [p for p in req.query.split("&") if p.partition("=")[0] != "X-Amz-Signature"]
        query = "&".join(kept)
        if sig.payload_hash:
            payload_hash = sig.payload_hash
        elif is_s3:
            payload_hash = "UNSIGNED-PAYLOAD"
        else:
            payload_hash = hashlib.sha256(req.body).hexdigest()
    else:
        cls = _V4S3Header if is_s3 else _V4Header
        query = req.query
        payload_hash = req.header("x-amz-content-sha256") or hashlib.sha256(req.body).hexdigest()
    url = f"{req.scheme}://{host}{req.path}" + (f"?{query}" if query else "")
    aws_req = AWSRequest(method=req.method, url=url, data=req.body)
    for name, value in req.headers:
        if sig.presigned and name.lower() == "x-amz-content-sha256":
            continue
        aws_req.headers[name] = value
    aws_req.context["timestamp"] = sig.amz_date
    creds = Credentials(sig.access_key, secret_key, sig.token)
    first: Verification | None = None
    for mode in ("raw", "encoded"):
        signer = cls(creds, sig.service, sig.region or "")  # type: ignore[call-arg]
        signer.pin(sig.signed_headers, payload_hash, mode)
        creq = signer.canonical_request(aws_req)  # type: ignore[attr-defined]
        if sig.algorithm == SIGV4A:
            sts = "\n".join(
                [
                    SIGV4A,
                    sig.amz_date,
                    f"{sig.date}/{sig.service}/{sig.terminator}",
                    hashlib.sha256(creq.encode()).hexdigest(),
                ]
            )
            try:
                pub = sigv4a_private_key(sig.access_key, secret_key).public_key()
                pub.verify(
                    binascii.unhexlify(sig.signature), sts.encode(), ec.ECDSA(hashes.SHA256())
                )
                ok = True
            except (InvalidSignature, ValueError, binascii.Error):
                ok = False
        else:
            sts = signer.string_to_sign(aws_req, creq)  # type: ignore[attr-defined]
            ok = hmac.compare_digest(signer.signature(sts, aws_req), sig.signature)  # type: ignore[attr-defined]
        result = Verification(ok, creq, sts, mode)
        if ok:
            return result
        first = first or result
        if "?" not in url:
            break
    assert first is not None
    return first


# --------------------------------------------------------------------------------------------
# Parsing of the signature information
# --------------------------------------------------------------------------------------------


class Malformed(Exception):
    pass


def parse_authorization(value: str) -> dict[str, str]:
    """Split ``ALG Credential=..., SignedHeaders=..., Signature=...``. Raises Malformed."""
    alg, _, rest = value.strip().partition(" ")
    fields: dict[str, str] = {"algorithm": alg}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise Malformed(
                f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization header"
            )
        k, _, v = part.partition("=")
        fields[k.strip()] = v.strip()
    return fields


def parse_credential(cred: str, algorithm: str) -> tuple[str, str, str | None, str, str]:
    parts = cred.split("/")
    if algorithm == SIGV4A and len(parts) == 4:
        return parts[0], parts[1], None, parts[2], parts[3]
    if len(parts) != 5:
        raise Malformed("the Credential is mal-formed")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


# --------------------------------------------------------------------------------------------
# The server state and protocol logic
# --------------------------------------------------------------------------------------------


class FakeAWS:
    """State shared by the HTTP and HTTPS listeners; also the handle :func:`start_fakeaws` returns.

    Switches (attributes, settable at any time):

    * ``clock_offset``: seconds added to the server clock (skew / expiry failures).
    * ``echo_canonical``: when False, S3 SignatureDoesNotMatch omits StringToSign and
      CanonicalRequest (like MinIO and other S3-compatible stores).
    * ``reject_checksum_trailers``: answer ``aws-chunked``/``x-amz-checksum-*``/trailer uploads
      with 501 NotImplemented, like an S3-compatible store without the 2025 SDK defaults.
    * ``server_header``: the ``Server`` header on S3 responses (default ``AmazonS3``).
    * ``ip_region``: expected scope region when the Host is an IP (None: accept any).
    * ``ip_sts_global``: treat STS requests to an IP Host as the global endpoint.
    """

    def __init__(self, credentials: dict[str, str] | None = None) -> None:
        self.lock = threading.RLock()
        self.credentials: dict[str, str] = {EXAMPLE_ACCESS_KEY: EXAMPLE_SECRET_KEY}
        self.credentials.update(credentials or {})
        self.temp_credentials: dict[str, TempCredential] = {}
        self.requests: list[ReceivedRequest] = []
        self.buckets: dict[str, dict[str, StoredObject]] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.clock_offset: float = 0.0
        self.echo_canonical: bool = True
        self.reject_checksum_trailers: bool = False
        self.server_header: str = "AmazonS3"
        self.ip_region: str | None = None
        self.ip_sts_global: bool = False
        self.http_port: int = 0
        self.https_port: int = 0
        self.ca_path: Path | None = None
        self._servers: list[http.server.ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # ---- handle API ----------------------------------------------------------------------

    def add_credential(self, access_key: str, secret_key: str) -> None:
        """Accept a long-term key pair."""
        with self.lock:
            self.credentials[access_key] = secret_key

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_offset)

    def clear(self) -> None:
        """Forget recorded requests."""
        with self.lock:
            self.requests.clear()

    def stop(self) -> None:
        """Shut the listeners down."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> FakeAWS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- dispatch -------------------------------------------------------------------------

    def record(self, req: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(req)

    def handle(self, req: ReceivedRequest) -> Response:
        host = req.header("host") or ""
        route = self.route(host, req)
        try:
            if route.service == "s3":
                resp = self.handle_s3(req, route, host)
            elif route.service == "dynamodb":
                resp = self.handle_dynamodb(req, route, host)
            else:
                resp = self.handle_sts(req, route, host)
        except AuthError as e:
            resp = e.response
        if req.method == "HEAD":
            resp.no_body = True
        req.status = resp.status
        return resp

    def route(self, host: str, req: ReceivedRequest) -> Route:
        h = host.strip().lower()
        if h.startswith("["):
            h = h[1 : h.find("]")]
        elif h.count(":") == 1:
            h = h.split(":", 1)[0]
        h = h.rstrip(".")
        if h.endswith(".localhost"):
            labels = h[: -len(".localhost")].split(".")
            if labels == ["sts"]:
                return Route("sts", DEFAULT_REGION, sts_global=True)
            if len(labels) == 2 and labels[0] == "sts":
                return Route("sts", labels[1])
            if len(labels) == 2 and labels[0] == "dynamodb":
                return Route("dynamodb", labels[1])
            if labels == ["s3"]:
                return Route("s3", DEFAULT_REGION)
            if len(labels) == 2 and labels[0] == "s3":
                return Route("s3", labels[1])
            if len(labels) >= 3 and labels[-2] == "s3":
                return Route("s3", labels[-1], bucket=".".join(labels[:-2]))
            if len(labels) >= 2 and labels[-1] == "s3":
                return Route("s3", DEFAULT_REGION, bucket=".".join(labels[:-1]))
        # IP address, plain localhost or unknown name: infer the service.
        service = self._scope_service(req)
        if service is None:
            if req.header("x-amz-target"):
                service = "dynamodb"
            elif b"Action=" in req.body[:200] or "Action=" in req.query:
                service = "sts"
            else:
                service = "s3"
        if service not in ("s3", "dynamodb", "sts"):
            service = "s3"
        return Route(service, self.ip_region, sts_global=service == "sts" and self.ip_sts_global)

    @staticmethod
    def _scope_service(req: ReceivedRequest) -> str | None:
        auth = req.header("authorization") or ""
        cred = ""
        if "Credential=" in auth:
            cred = auth.split("Credential=", 1)[1].split(",", 1)[0]
        else:
            for k, v in parse_qsl(req.query, keep_blank_values=True):
                if k == "X-Amz-Credential":
                    cred = v
        parts = cred.strip().split("/")
        if len(parts) == 5:
            return parts[3]
        if len(parts) == 4:
            return parts[2]
        return None

    # ---- authentication -------------------------------------------------------------------

    def extract_sig(self, req: ReceivedRequest, err: ErrorFactory) -> SigInfo | None:
        """Parse the signature fields; None for an anonymous request."""
        auth = req.header("authorization")
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        if auth is not None:
            if auth.startswith("AWS ") or auth.startswith("AWS3"):
                raise AuthError(err.sigv2())
            try:
                f = parse_authorization(auth)
            except Malformed as e:
                raise AuthError(err.malformed(str(e), auth)) from None
            alg = f["algorithm"]
            if alg not in (SIGV4, SIGV4A):
                raise AuthError(err.malformed(f"Unsupported AWS 'algorithm': '{alg}'", auth))
            missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in f]
            if missing:
                raise AuthError(
                    err.malformed(
                        " ".join(
                            f"Authorization header requires '{k}' parameter." for k in missing
                        ),
                        auth,
                    )
                )
            try:
                akid, date, region, service, term = parse_credential(f["Credential"], alg)
            except Malformed as e:
                raise AuthError(err.malformed(str(e), auth)) from None
            amz_date = req.header("x-amz-date")
            if amz_date is None and req.header("date"):
                try:
                    amz_date = parsedate_to_datetime(req.header("date") or "").strftime(AMZ_FMT)
                except (TypeError, ValueError):
                    amz_date = None
            if amz_date is None:
                raise AuthError(
                    err.malformed(
                        "Authorization header requires existence of either a 'X-Amz-Date' or "
                        "a 'Date' header.",
                        auth,
                    )
                )
            return SigInfo(
                algorithm=alg,
                access_key=akid,
                date=date,
                region=region,
                service=service,
                terminator=term,
                signed_headers=[h.strip().lower() for h in f["SignedHeaders"].split(";")],
                signature=f["Signature"],
                amz_date=amz_date,
                presigned=False,
                token=req.header("x-amz-security-token"),
                region_set=req.header("x-amz-region-set"),
            )
        if "AWSAccessKeyId" in query and "Signature" in query:
            raise AuthError(err.sigv2())
        if "X-Amz-Algorithm" in query or "X-Amz-Credential" in query:
            alg = query.get("X-Amz-Algorithm", "")
            needed = [
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Signature",
                "X-Amz-Date",
                "X-Amz-SignedHeaders",
                "X-Amz-Expires",
            ]
            missing = [k for k in needed if k not in query]
            if missing or alg not in (SIGV4, SIGV4A):
                raise AuthError(
                    err.query_params(
                        "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                        "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                        "and X-Amz-Expires parameters."
                    )
                )
            try:
                akid, date, region, service, term = parse_credential(query["X-Amz-Credential"], alg)
                expires = int(query["X-Amz-Expires"])
            except (Malformed, ValueError):
                raise AuthError(
                    err.query_params(
                        "Error parsing the X-Amz-Credential parameter; the Credential is "
                        'mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
                    )
                ) from None
            return SigInfo(
                algorithm=alg,
                access_key=akid,
                date=date,
                region=region,
                service=service,
                terminator=term,
                signed_headers=[h.strip().lower() for h in query["X-Amz-SignedHeaders"].split(";")],
                signature=query["X-Amz-Signature"],
                amz_date=query["X-Amz-Date"],
                presigned=True,
                expires=expires,
                token=query.get("X-Amz-Security-Token"),
                region_set=query.get("X-Amz-Region-Set"),
                payload_hash=query.get("X-Amz-Content-Sha256"),
            )
        return None

    def authenticate(
        self, req: ReceivedRequest, route: Route, host: str, err: ErrorFactory
    ) -> SigInfo:
        """Verify the request or raise AuthError with the protocol's error response."""
        sig = self.extract_sig(req, err)
        if sig is None:
            raise AuthError(err.anonymous())
        # Scope checks.
        if sig.terminator != "aws4_request":
            raise AuthError(
                err.scope(
                    f"incorrect terminal '{sig.terminator}'. This endpoint uses 'aws4_request'.",
                    None,
                )
            )
        if sig.amz_date[:8] != sig.date:
            raise AuthError(
                err.scope("Invalid credential date. Date is not the same as X-Amz-Date.", None)
            )
        if sig.service != route.service:
            raise AuthError(
                err.scope(
                    f"incorrect service '{sig.service}'. This endpoint belongs to "
                    f"'{route.service}'.",
                    None,
                )
            )
        if sig.algorithm == SIGV4 and route.region and sig.region != route.region:
            raise AuthError(
                err.scope(
                    f"the region '{sig.region}' is wrong; expecting '{route.region}'",
                    route.region,
                )
            )
        if sig.presigned and sig.expires is not None and sig.expires > MAX_PRESIGN_EXPIRES:
            raise AuthError(
                err.query_params(
                    "X-Amz-Expires must be less than a week (in seconds) that is 604800"
                )
            )
        # Credentials.
        with self.lock:
            secret = self.credentials.get(sig.access_key)
            temp = self.temp_credentials.get(sig.access_key)
        if temp is not None:
            if not sig.token:
                raise AuthError(err.unknown_key(sig.access_key))
            if sig.token != temp.token:
                raise AuthError(err.invalid_token(sig.token))
            if self.now() >= temp.expiration:
                raise AuthError(err.expired_token(sig.token))
            secret = temp.secret_key
        elif secret is None:
            raise AuthError(err.unknown_key(sig.access_key))
        elif sig.token:
            raise AuthError(err.invalid_token(sig.token))
        if sig.token and sig.token.startswith(V1_TOKEN_PREFIXES):
            if sig.algorithm == SIGV4A:
                raise AuthError(err.unsupported_signature())
            if sig.region in OPT_IN_REGIONS:
                raise AuthError(err.invalid_token(sig.token))
        # Time.
        try:
            req_time = dt.datetime.strptime(sig.amz_date, AMZ_FMT).replace(tzinfo=dt.UTC)
        except ValueError:
            raise AuthError(
                err.malformed(f"Invalid X-Amz-Date '{sig.amz_date}'", req.header("authorization"))
            ) from None
        now = self.now()
        if sig.presigned:
            expiry = req_time + dt.timedelta(seconds=sig.expires or 0)
            if now > expiry:
                raise AuthError(err.presign_expired(sig.expires or 0, expiry, now))
            if req_time - now > dt.timedelta(seconds=SKEW_SECONDS[route.service]):
                raise AuthError(err.skew(sig.amz_date, req_time, now))
        elif abs((now - req_time).total_seconds()) > SKEW_SECONDS[route.service]:
            raise AuthError(err.skew(sig.amz_date, req_time, now))
        # Unsigned x-amz-* headers (S3 refuses them).
        if route.service == "s3":
            unsigned = sorted(
                {
                    k.lower()
                    for k, _ in req.headers
                    if k.lower().startswith("x-amz-") and k.lower() not in sig.signed_headers
                }
            )
            if unsigned:
                raise AuthError(err.headers_not_signed(unsigned))
            if not sig.presigned and req.header("x-amz-content-sha256") is None:
                raise AuthError(
                    err.invalid_request(
                        "Missing required header for this request: x-amz-content-sha256"
                    )
                )
        if "host" not in sig.signed_headers and sig.algorithm == SIGV4:
            raise AuthError(err.signature_mismatch(sig, None))
        result = verify_signature(req, sig, secret, host)
        if not result.ok:
            raise AuthError(err.signature_mismatch(sig, result))
        return sig

    # ---- S3 -------------------------------------------------------------------------------

    def handle_s3(self, req: ReceivedRequest, route: Route, host: str) -> Response:
        err = S3Errors(self, req)
        sig = self.authenticate(req, route, host, err)
        path = req.path
        if route.bucket is not None:
            bucket, key = route.bucket, unquote(path[1:])
        else:
            parts = path[1:].split("/", 1)
            bucket = unquote(parts[0])
            key = unquote(parts[1]) if len(parts) > 1 else ""
        query = dict(parse_qsl(req.query, keep_blank_values=True))
        if not bucket:
            if req.method == "GET":
                return self.s3_list_buckets(err)
            return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")
        with self.lock:
            objects = self.buckets.setdefault(bucket, {})
        if not key:
            if req.method == "PUT":
                return err.ok(headers=[("Location", f"/{bucket}")])
            if req.method in ("GET", "HEAD"):
                return self.s3_list(bucket, objects, query, err)
            return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")
        if req.method == "PUT":
            return self.s3_put(req, sig, bucket, key, objects, err)
        if req.method in ("GET", "HEAD"):
            with self.lock:
                obj = objects.get(key)
            if obj is None:
                return err.error(
                    404, "NoSuchKey", "The specified key does not exist.", [("Key", key)]
                )
            return self.s3_get(req, obj, err)
        if req.method == "DELETE":
            with self.lock:
                objects.pop(key, None)
            return err.ok(status=204)
        return err.error(405, "MethodNotAllowed", "The specified method is not allowed.")

    def s3_put(
        self,
        req: ReceivedRequest,
        sig: SigInfo,
        bucket: str,
        key: str,
        objects: dict[str, StoredObject],
        err: S3Errors,
    ) -> Response:
        content_encoding = [
            e.strip().lower() for e in (req.header("content-encoding") or "").split(",") if e
        ]
        te = (req.header("transfer-encoding") or "").lower()
        payload_hash = "UNSIGNED-PAYLOAD" if sig.presigned else req.header("x-amz-content-sha256")
        if sig.presigned and sig.payload_hash:
            payload_hash = sig.payload_hash
        streaming = (payload_hash or "").startswith(
            "STREAMING-"
        ) or "aws-chunked" in content_encoding
        checksum_headers = [
            k.lower() for k, _ in req.headers if k.lower().startswith("x-amz-checksum-")
        ]
        if self.reject_checksum_trailers:
            for name in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm", *checksum_headers):
                if req.header(name) is not None:
                    return err.error(
                        501,
                        "NotImplemented",
                        "A header you provided implies functionality that is not implemented",
                        [("Header", name)],
                    )
            if streaming:
                return err.error(
                    501,
                    "NotImplemented",
                    "A header you provided implies functionality that is not implemented",
                    [("Header", "Transfer-Encoding" if te else "Content-Encoding")],
                )
        if "chunked" in te and not streaming:
            return err.error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
                [("Header", "Transfer-Encoding")],
            )
        trailers: list[tuple[str, str]] = []
        data = req.body
        if streaming:
            try:
                data, trailers = decode_aws_chunked(req.body)
            except ValueError:
                return err.error(400, "IncompleteBody", "The request body terminated unexpectedly")
            declared = req.header("x-amz-decoded-content-length")
            if declared is not None and declared.isdigit() and int(declared) != len(data):
                return err.error(
                    400,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header",
                )
            content_encoding = [e for e in content_encoding if e != "aws-chunked"]
        elif payload_hash and payload_hash != "UNSIGNED-PAYLOAD":
            computed = hashlib.sha256(data).hexdigest()
            if computed != payload_hash:
                return err.error(
                    400,
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    [
                        ("ClientComputedContentSHA256", payload_hash),
                        ("S3ComputedContentSHA256", computed),
                    ],
                )
        md5 = req.header("content-md5")
        if md5 is not None and base64.b64encode(hashlib.md5(data).digest()).decode() != md5:
            return err.error(
                400, "BadDigest", "The Content-MD5 you specified did not match what we received."
            )
        checksums: dict[str, str] = {}
        for name, value in [*req.headers, *trailers]:
            lname = name.lower()
            if lname.startswith("x-amz-checksum-") and lname != "x-amz-checksum-type":
                alg = lname[len("x-amz-checksum-") :]
                if alg not in CHECKSUM_NAMES:
                    return err.error(
                        400, "InvalidRequest", f"Value for x-amz-checksum-{alg} is invalid."
                    )
                if checksum_b64(alg, data) != value:
                    return err.error(
                        400,
                        "BadDigest",
                        f"The {CHECKSUM_NAMES[alg]} you specified did not match the calculated "
                        "checksum.",
                    )
                checksums[alg] = value
        declared_trailer = (req.header("x-amz-trailer") or "").strip().lower()
        if declared_trailer and declared_trailer not in {n for n, _ in trailers}:
            return err.error(
                400,
                "MalformedTrailerError",
                "The request contained trailing data that was not well-formed or did not "
                "conform to our published schema.",
            )
        metadata = [(k, v) for k, v in req.headers if k.lower().startswith("x-amz-meta-")]
        ctype = req.header("content-type") or "binary/octet-stream"
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        obj = StoredObject(data, ctype, etag, self.now(), metadata, checksums)
        with self.lock:
            objects[key] = obj
        headers = [("ETag", etag), ("x-amz-server-side-encryption", "AES256")]
        for alg, value in checksums.items():
            headers.append((f"x-amz-checksum-{alg}", value))
        if checksums:
            headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
        return err.ok(headers=headers)

    def s3_get(self, req: ReceivedRequest, obj: StoredObject, err: S3Errors) -> Response:
        headers = [
            ("Last-Modified", formatdate(obj.last_modified.timestamp(), usegmt=True)),
            ("ETag", obj.etag),
            ("x-amz-server-side-encryption", "AES256"),
            *obj.metadata,
        ]
        if (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED":
            for alg, value in obj.checksums.items():
                headers.append((f"x-amz-checksum-{alg}", value))
            if obj.checksums:
                headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
        headers += [("Accept-Ranges", "bytes"), ("Content-Type", obj.content_type)]
        data = obj.data
        status = 200
        rng = req.header("range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            start_s, _, end_s = rng[6:].partition("-")
            size = len(data)
            try:
                if start_s:
                    start = int(start_s)
                    end = min(int(end_s), size - 1) if end_s else size - 1
                else:
                    start, end = max(size - int(end_s), 0), size - 1
            except ValueError:
                start, end = 0, size - 1
            if start >= size:
                return err.error(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                    [("RangeRequested", rng), ("ActualObjectSize", str(size))],
                )
            data = data[start : end + 1]
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            headers = [h for h in headers if not h[0].lower().startswith("x-amz-checksum")]
        return err.ok(status=status, headers=headers, body=data, content_type=None)

    def s3_list(
        self, bucket: str, objects: dict[str, StoredObject], query: dict[str, str], err: S3Errors
    ) -> Response:
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        max_keys = int(query.get("max-keys", "1000") or 1000)
        url_enc = query.get("encoding-type") == "url"

        def enc(s: str) -> str:
            return xml_escape(quote(s, safe="/") if url_enc else s)

        with self.lock:
            keys = sorted(k for k in objects if k.startswith(prefix))
            snapshot = {k: objects[k] for k in keys}
        start_after = query.get("start-after", "")
        token = query.get("continuation-token", "")
        after = token or start_after
        keys = [k for k in keys if k > after] if after else keys
        contents: list[str] = []
        common: list[str] = []
        truncated = False
        next_token = ""
        for k in keys:
            if len(contents) + len(common) >= max_keys:
                truncated = True
                break
            if delimiter:
                rest = k[len(prefix) :]
                idx = rest.find(delimiter)
                if idx >= 0:
                    cp = prefix + rest[: idx + len(delimiter)]
                    if cp not in common:
                        common.append(cp)
                    next_token = k
                    continue
            o = snapshot[k]
            algs = "".join(
                f"<ChecksumAlgorithm>{CHECKSUM_NAMES[a]}</ChecksumAlgorithm>" for a in o.checksums
            )
            contents.append(
                f"<Contents><Key>{enc(k)}</Key>"
                f"<LastModified>{iso8601(o.last_modified, millis=True)}</LastModified>"
                f"<ETag>{xml_escape(o.etag)}</ETag>{algs}"
                f"{'<ChecksumType>FULL_OBJECT</ChecksumType>' if o.checksums else ''}"
                f"<Size>{len(o.data)}</Size><StorageClass>STANDARD</StorageClass></Contents>"
            )
            next_token = k
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{S3_NS}">'
            f"<Name>{xml_escape(bucket)}</Name><Prefix>{enc(prefix)}</Prefix>"
        )
        if "continuation-token" in query:
            body += f"<ContinuationToken>{xml_escape(token)}</ContinuationToken>"
        if truncated:
            body += f"<NextContinuationToken>{xml_escape(next_token)}</NextContinuationToken>"
        body += f"<KeyCount>{len(contents) + len(common)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
        if delimiter:
            body += f"<Delimiter>{enc(delimiter)}</Delimiter>"
        if url_enc:
            body += "<EncodingType>url</EncodingType>"
        body += f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        body += "".join(contents)
        body += "".join(
            f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>" for p in common
        )
        body += "</ListBucketResult>"
        return err.ok(body=body.encode())

    def s3_list_buckets(self, err: S3Errors) -> Response:
        with self.lock:
            names = sorted(self.buckets)
        created = iso8601(self.now(), millis=True)
        items = "".join(
            f"<Bucket><Name>{xml_escape(n)}</Name><CreationDate>{created}</CreationDate></Bucket>"
            for n in names
        )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="{S3_NS}">'
            f"<Owner><ID>{'7' * 64}</ID><DisplayName>fakeaws</DisplayName></Owner>"
            f"<Buckets>{items}</Buckets></ListAllMyBucketsResult>"
        )
        return err.ok(body=body.encode())

    # ---- DynamoDB ------------------------------------------------------------------------

    def handle_dynamodb(self, req: ReceivedRequest, route: Route, host: str) -> Response:
        err = JsonErrors(self, req)
        self.authenticate(req, route, host, err)
        target = req.header("x-amz-target") or ""
        prefix, _, op = target.partition(".")
        if req.method != "POST" or prefix != "DynamoDB_20120810":
            return err.coral(400, "UnknownOperationException", None)
        try:
            params = json.loads(req.body or b"{}")
        except ValueError:
            return err.coral(
                400, "SerializationException", "Start of structure or map found where not expected."
            )
        table = params.get("TableName", "")
        if op == "PutItem":
            item = params.get("Item") or {}
            with self.lock:
                self.tables.setdefault(table, []).append(item)
            return err.ok({})
        if op == "GetItem":
            key = params.get("Key") or {}
            with self.lock:
                items = self.tables.get(table)
                if items is None:
                    return err.dynamo(
                        400, "ResourceNotFoundException", "Requested resource not found"
                    )
                for item in reversed(items):
                    if all(item.get(k) == v for k, v in key.items()):
                        return err.ok({"Item": item})
            return err.ok({})
        if op == "ListTables":
            with self.lock:
                names = sorted(self.tables)
            return err.ok({"TableNames": names})
        return err.coral(400, "UnknownOperationException", None)

    # ---- STS ------------------------------------------------------------------------------

    def handle_sts(self, req: ReceivedRequest, route: Route, host: str) -> Response:
        err = StsErrors(self, req)
        sig = self.authenticate(req, route, host, err)
        params = dict(parse_qsl(req.query, keep_blank_values=True))
        if req.method == "POST":
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        action = params.get("Action", "")
        with self.lock:
            temp = self.temp_credentials.get(sig.access_key)
        if action == "GetCallerIdentity":
            if temp is not None:
                arn, user_id = temp.arn, temp.user_id
            else:
                arn = f"arn:aws:iam::{ACCOUNT_ID}:user/fakeaws"
                user_id = "AIDA" + hashlib.sha256(sig.access_key.encode()).hexdigest()[:17].upper()
            return err.ok(
                action,
                f"    <Arn>{xml_escape(arn)}</Arn>\n    <UserId>{user_id}</UserId>\n"
                f"    <Account>{ACCOUNT_ID}</Account>\n",
            )
        if action not in ("AssumeRole", "GetSessionToken"):
            return err.error(
                400,
                "InvalidAction",
                f"Could not find operation {action} for version {params.get('Version', '')}",
            )
        try:
            duration = int(params.get("DurationSeconds", "3600"))
        except ValueError:
            duration = 3600
        if action == "AssumeRole":
            role_arn = params.get("RoleArn", "")
            session = params.get("RoleSessionName", "")
            if not role_arn or not session:
                missing = "roleArn" if not role_arn else "roleSessionName"
                return err.error(
                    400,
                    "ValidationError",
                    f"1 validation error detected: Value null at '{missing}' failed to satisfy "
                    "constraint: Member must not be null",
                )
            role_name = role_arn.rsplit("/", 1)[-1]
            role_id = "AROA" + hashlib.sha256(role_arn.encode()).hexdigest()[:17].upper()
            arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role_name}/{session}"
            user_id = f"{role_id}:{session}"
        else:
            arn = f"arn:aws:iam::{ACCOUNT_ID}:user/fakeaws"
            user_id = "AIDA" + hashlib.sha256(sig.access_key.encode()).hexdigest()[:17].upper()
        cred = self.issue_credentials(duration, route, host, arn, user_id)
        creds_xml = (
            "    <Credentials>\n"
            f"      <AccessKeyId>{cred.access_key}</AccessKeyId>\n"
            f"      <SecretAccessKey>{cred.secret_key}</SecretAccessKey>\n"
            f"      <SessionToken>{cred.token}</SessionToken>\n"
            f"      <Expiration>{iso8601(cred.expiration)}</Expiration>\n"
            "    </Credentials>\n"
        )
        if action == "AssumeRole":
            inner = (
                "    <AssumedRoleUser>\n"
                f"      <AssumedRoleId>{xml_escape(user_id)}</AssumedRoleId>\n"
                f"      <Arn>{xml_escape(arn)}</Arn>\n"
                "    </AssumedRoleUser>\n" + creds_xml
            )
        else:
            inner = creds_xml
        return err.ok(action, inner)

    def issue_credentials(
        self, duration: int, route: Route, host: str, arn: str, user_id: str
    ) -> TempCredential:
        """Create and remember temporary credentials (v1 token from the global host)."""
        version = 1 if route.sts_global else 2
        region = route.region or DEFAULT_REGION
        cred = TempCredential(
            access_key="ASIA" + _rand(string.ascii_uppercase + "234567", 16),
            secret_key=_rand(string.ascii_letters + string.digits + "+/", 40),
            token=make_session_token(version, region),
            expiration=(self.now() + dt.timedelta(seconds=duration)).replace(microsecond=0),
            issuer_host=host,
            token_version=version,
            arn=arn,
            user_id=user_id,
        )
        with self.lock:
            self.temp_credentials[cred.access_key] = cred
        return cred


# --------------------------------------------------------------------------------------------
# Error shapes per protocol
# --------------------------------------------------------------------------------------------


class ErrorFactory:
    """Builds the protocol's responses; subclasses give each auth failure its AWS shape."""

    def __init__(self, state: FakeAWS, req: ReceivedRequest) -> None:
        self.state = state
        self.req = req

    def anonymous(self) -> Response:
        raise NotImplementedError

    def sigv2(self) -> Response:
        raise NotImplementedError

    def malformed(self, detail: str, auth: str | None) -> Response:
        raise NotImplementedError

    def query_params(self, message: str) -> Response:
        raise NotImplementedError

    def scope(self, detail: str, region: str | None) -> Response:
        raise NotImplementedError

    def unknown_key(self, access_key: str) -> Response:
        raise NotImplementedError

    def invalid_token(self, token: str) -> Response:
        raise NotImplementedError

    def expired_token(self, token: str) -> Response:
        raise NotImplementedError

    def unsupported_signature(self) -> Response:
        raise NotImplementedError

    def presign_expired(self, expires: int, expiry: dt.datetime, now: dt.datetime) -> Response:
        raise NotImplementedError

    def skew(self, amz_date: str, req_time: dt.datetime, now: dt.datetime) -> Response:
        raise NotImplementedError

    def headers_not_signed(self, names: list[str]) -> Response:
        raise NotImplementedError

    def invalid_request(self, message: str) -> Response:
        raise NotImplementedError

    def signature_mismatch(self, sig: SigInfo, result: Verification | None) -> Response:
        raise NotImplementedError

    def canonical_message(self, result: Verification | None) -> str:
        if result is None:
            return SIG_MISMATCH_CORAL
        return (
            f"{SIG_MISMATCH_CORAL}\n\nThe Canonical String for this request should have been\n"
            f"'{result.canonical_request}'\n\nThe String-to-Sign should have been\n"
            f"'{result.string_to_sign}'\n"
        )

    def skew_message(
        self, amz_date: str, req_time: dt.datetime, now: dt.datetime, minutes: int
    ) -> str:
        bound = dt.timedelta(minutes=minutes)
        if req_time < now:
            return (
                f"Signature expired: {amz_date} is now earlier than "
                f"{(now - bound).strftime(AMZ_FMT)} ({now.strftime(AMZ_FMT)} - {minutes} min.)"
            )
        return (
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + bound).strftime(AMZ_FMT)} ({now.strftime(AMZ_FMT)} + {minutes} min.)"
        )


class S3Errors(ErrorFactory):
    def __init__(self, state: FakeAWS, req: ReceivedRequest) -> None:
        super().__init__(state, req)
        self.request_id = secrets.token_hex(8).upper()
        self.host_id = base64.b64encode(secrets.token_bytes(57)).decode()

    def _headers(self) -> list[tuple[str, str]]:
        return [
            ("x-amz-id-2", self.host_id),
            ("x-amz-request-id", self.request_id),
            ("Date", formatdate(self.state.now().timestamp(), usegmt=True)),
        ]

    def ok(
        self,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = "application/xml",
    ) -> Response:
        h = self._headers() + list(headers or [])
        if body and content_type:
            h.append(("Content-Type", content_type))
        h.append(("Server", self.state.server_header))
        return Response(status, h, body)

    def error(
        self, status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None
    ) -> Response:
        fields = "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in extra or [])
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>{fields}"
            f"<RequestId>{self.request_id}</RequestId><HostId>{self.host_id}</HostId></Error>"
        )
        h = [
            ("x-amz-request-id", self.request_id),
            ("x-amz-id-2", self.host_id),
            ("Content-Type", "application/xml"),
            ("Date", formatdate(self.state.now().timestamp(), usegmt=True)),
            ("Server", self.state.server_header),
        ]
        return Response(status, h, body.encode())

    def anonymous(self) -> Response:
        return self.error(403, "AccessDenied", "Access Denied")

    def sigv2(self) -> Response:
        return self.error(
            400,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. "
            "Please use AWS4-HMAC-SHA256.",
        )

    def malformed(self, detail: str, auth: str | None) -> Response:
        return self.error(
            400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; {detail}"
        )

    def query_params(self, message: str) -> Response:
        return self.error(400, "AuthorizationQueryParametersError", message)

    def scope(self, detail: str, region: str | None) -> Response:
        extra = [("Region", region)] if region else []
        if "X-Amz-Credential" in self.req.query:
            return self.error(
                400,
                "AuthorizationQueryParametersError",
                f"Error parsing the X-Amz-Credential parameter; {detail}",
                extra,
            )
        return self.error(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; {detail}",
            extra,
        )

    def unknown_key(self, access_key: str) -> Response:
        return self.error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            [("AWSAccessKeyId", access_key)],
        )

    def invalid_token(self, token: str) -> Response:
        return self.error(
            400,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
            [("Token-0", token)],
        )

    def expired_token(self, token: str) -> Response:
        return self.error(
            400, "ExpiredToken", "The provided token has expired.", [("Token-0", token)]
        )

    def unsupported_signature(self) -> Response:
        return self.error(400, "UnsupportedSignature", UNSUPPORTED_SIGNATURE)

    def presign_expired(self, expires: int, expiry: dt.datetime, now: dt.datetime) -> Response:
        return self.error(
            403,
            "AccessDenied",
            "Request has expired",
            [
                ("X-Amz-Expires", str(expires)),
                ("Expires", iso8601(expiry)),
                ("ServerTime", iso8601(now)),
            ],
        )

    def skew(self, amz_date: str, req_time: dt.datetime, now: dt.datetime) -> Response:
        return self.error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            [
                ("RequestTime", amz_date),
                ("ServerTime", iso8601(now)),
                ("MaxAllowedSkewMilliseconds", "900000"),
            ],
        )

    def headers_not_signed(self, names: list[str]) -> Response:
        return self.error(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            [("HeadersNotSigned", ", ".join(names))],
        )

    def invalid_request(self, message: str) -> Response:
        return self.error(400, "InvalidRequest", message)

    def signature_mismatch(self, sig: SigInfo, result: Verification | None) -> Response:
        extra = [("AWSAccessKeyId", sig.access_key)]
        if result is not None and self.state.echo_canonical:
            extra += [
                ("StringToSign", result.string_to_sign),
                ("SignatureProvided", sig.signature),
                ("StringToSignBytes", hex_bytes(result.string_to_sign)),
                ("CanonicalRequest", result.canonical_request),
                ("CanonicalRequestBytes", hex_bytes(result.canonical_request)),
            ]
        else:
            extra.append(("SignatureProvided", sig.signature))
        return self.error(403, "SignatureDoesNotMatch", SIG_MISMATCH_S3, extra)


class _ServiceErrors(ErrorFactory):
    """The auth failures of the JSON and query (STS) services: the same messages, with
    each protocol's status and code (``CODES``) and wire shape (``fail``)."""

    SERVICE = ""  # named in the scope error
    SKEW_MINUTES = 5
    CODES: dict[str, tuple[int, str]] = {}

    def fail(self, status: int, code: str, message: str) -> Response:
        raise NotImplementedError

    def _fail(self, what: str, message: str) -> Response:
        status, code = self.CODES[what]
        return self.fail(status, code, message)

    def anonymous(self) -> Response:
        return self._fail("anonymous", "Request is missing Authentication Token")

    def sigv2(self) -> Response:
        return self.malformed(
            "Authorization header requires 'Credential' parameter. Authorization header requires "
            "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
            self.req.header("authorization"),
        )

    def malformed(self, detail: str, auth: str | None) -> Response:
        digest = base64.b64encode(hashlib.sha256((auth or "").encode()).digest()).decode()
        return self._fail("incomplete", f"{detail} Authorization={digest}")

    def query_params(self, message: str) -> Response:
        return self._fail("incomplete", message)

    def scope(self, detail: str, region: str | None) -> Response:
        if "region" in detail and region:
            msg = (
                f"Credential should be scoped to a valid region, not '{detail.split(chr(39))[1]}'. "
            )
        elif "service" in detail:
            msg = f"Credential should be scoped to correct service: '{self.SERVICE}'. "
        else:
            msg = detail
        return self._fail("signature", msg)

    def unknown_key(self, access_key: str) -> Response:
        return self._fail("unknown_key", "The security token included in the request is invalid.")

    def invalid_token(self, token: str) -> Response:
        return self.unknown_key("")

    def expired_token(self, token: str) -> Response:
        return self._fail("expired_token", "The security token included in the request is expired")

    def unsupported_signature(self) -> Response:
        return self.fail(400, "UnsupportedSignature", UNSUPPORTED_SIGNATURE)

    def presign_expired(self, expires: int, expiry: dt.datetime, now: dt.datetime) -> Response:
        return self._fail(
            "signature",
            f"Signature expired: {expiry.strftime(AMZ_FMT)} is now earlier than "
            f"{now.strftime(AMZ_FMT)}",
        )

    def skew(self, amz_date: str, req_time: dt.datetime, now: dt.datetime) -> Response:
        return self._fail(
            "signature", self.skew_message(amz_date, req_time, now, self.SKEW_MINUTES)
        )

    def headers_not_signed(self, names: list[str]) -> Response:
        return self._fail("signature", "Unsigned headers: " + ", ".join(names))

    def invalid_request(self, message: str) -> Response:
        return self._fail("invalid_request", message)

    def signature_mismatch(self, sig: SigInfo, result: Verification | None) -> Response:
        return self._fail("signature", self.canonical_message(result))


class JsonErrors(_ServiceErrors):
    """AWS JSON 1.0 (DynamoDB) responses."""

    SERVICE = "dynamodb"
    SKEW_MINUTES = 5
    CODES = {
        "anonymous": (400, "MissingAuthenticationTokenException"),
        "incomplete": (400, "IncompleteSignatureException"),
        "signature": (400, "InvalidSignatureException"),
        "unknown_key": (400, "UnrecognizedClientException"),
        "expired_token": (400, "ExpiredTokenException"),
        "invalid_request": (400, "ValidationException"),
    }

    def __init__(self, state: FakeAWS, req: ReceivedRequest) -> None:
        super().__init__(state, req)
        self.request_id = _rand(string.ascii_uppercase + string.digits, 52)

    def _response(self, status: int, obj: dict[str, Any], error_type: str | None) -> Response:
        body = json.dumps(obj, separators=(",", ":")).encode()
        h = [("Server", "Server"), ("Date", formatdate(self.state.now().timestamp(), usegmt=True))]
        h += [("Content-Type", "application/x-amz-json-1.0")]
        if error_type:
            h.append(("x-amzn-ErrorType", error_type))
        h += [("x-amzn-RequestId", self.request_id), ("x-amz-crc32", str(zlib.crc32(body)))]
        return Response(status, h, body)

    def ok(self, obj: dict[str, Any]) -> Response:
        return self._response(200, obj, None)

    def coral(self, status: int, name: str, message: str | None) -> Response:
        obj: dict[str, Any] = {"__type": f"com.amazon.coral.service#{name}"}
        if message is not None:
            obj["message"] = message
        return self._response(status, obj, name + CORAL_ERROR_TYPE_SUFFIX)

    def dynamo(self, status: int, name: str, message: str) -> Response:
        obj = {"__type": f"com.amazonaws.dynamodb.v20120810#{name}", "message": message}
        return self._response(status, obj, None)

    def fail(self, status: int, code: str, message: str) -> Response:
        return self.coral(status, code, message)


class StsErrors(_ServiceErrors):
    """AWS Query protocol (STS) responses."""

    SERVICE = "sts"
    SKEW_MINUTES = 15
    CODES = {
        "anonymous": (403, "MissingAuthenticationToken"),
        "incomplete": (400, "IncompleteSignature"),
        "signature": (403, "SignatureDoesNotMatch"),
        "unknown_key": (403, "InvalidClientTokenId"),
        "expired_token": (400, "ExpiredToken"),
        "invalid_request": (400, "InvalidParameterValue"),
    }

    def __init__(self, state: FakeAWS, req: ReceivedRequest) -> None:
        super().__init__(state, req)
        self.request_id = str(uuid.uuid4())

    def _headers(self) -> list[tuple[str, str]]:
        return [
            ("x-amzn-RequestId", self.request_id),
            ("Content-Type", "text/xml"),
            ("Date", formatdate(self.state.now().timestamp(), usegmt=True)),
        ]

    def ok(self, action: str, inner: str) -> Response:
        body = (
            f'<{action}Response xmlns="{STS_NS}">\n  <{action}Result>\n{inner}  </{action}Result>\n'
            f"  <ResponseMetadata>\n    <RequestId>{self.request_id}</RequestId>\n"
            f"  </ResponseMetadata>\n</{action}Response>\n"
        )
        return Response(200, self._headers(), body.encode())

    def error(self, status: int, code: str, message: str, kind: str = "Sender") -> Response:
        body = (
            f'<ErrorResponse xmlns="{STS_NS}">\n  <Error>\n    <Type>{kind}</Type>\n'
            f"    <Code>{code}</Code>\n    <Message>{xml_escape(message)}</Message>\n  </Error>\n"
            f"  <RequestId>{self.request_id}</RequestId>\n</ErrorResponse>\n"
        )
        return Response(status, self._headers(), body.encode())

    def fail(self, status: int, code: str, message: str) -> Response:
        return self.error(status, code, message)


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _TeeReader:
    """Records the header lines ``http.client.parse_headers`` reads."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.inner.readline(limit)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def parse_header_lines(lines: list[bytes]) -> list[tuple[str, str]]:
    """Raw header lines -> [(name as sent, value without surrounding whitespace)]."""
    out: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            continue
        if line[0] in " \t" and out:  # obsolete line folding
            name, value = out[-1]
            out[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        out.append((name, value.strip(" \t")))
    return out


def read_chunked(rfile: Any) -> tuple[bytes, bytes]:
    """Read an HTTP/1.1 chunked body: (decoded body, raw wire bytes)."""
    raw = bytearray()
    body = bytearray()
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("eof in chunked body")
        raw += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:
                tline = rfile.readline(65537)
                raw += tline
                if tline in (b"\r\n", b"\n", b""):
                    return bytes(body), bytes(raw)
        data = rfile.read(size + 2)
        raw += data
        body += data[:size]


class _Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    protocol_version = "HTTP/1.1"
    server_version = "AmazonS3"
    sys_version = ""
    server: _Server

    def parse_request(self) -> bool:
        real = self.rfile
        tee = _TeeReader(real)
        self.rfile = tee  # type: ignore[assignment]
        try:
            ok = super().parse_request()
        finally:
            self.rfile = real
        self.raw_header_lines = tee.lines
        return ok

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state_verbose:
            sys.stderr.write(f"fakeaws: {format % args}\n")

    def _serve(self) -> None:
        requestline = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        words = requestline.split()
        target = words[1] if len(words) >= 2 else "/"
        headers = parse_header_lines(self.raw_header_lines)
        te = ",".join(v for k, v in headers if k.lower() == "transfer-encoding").lower()
        if "chunked" in te:
            body, raw = read_chunked(self.rfile)
        else:
            length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            n = int(length) if length.strip().isdigit() else 0
            body = self.rfile.read(n) if n else b""
            raw = body
        req = ReceivedRequest(
            method=self.command,
            target=target,
            headers=headers,
            body=body,
            raw_body=raw,
            scheme=self.server.scheme,
            http_version=self.request_version,
            received_at=time.time(),
        )
        state = self.server.state
        state.record(req)
        try:
            resp = state.handle(req)
        except Exception as e:  # keep serving; report as an AWS-like 500
            import traceback

            traceback.print_exc()
            resp = Response(
                500,
                [("Content-Type", "application/xml")],
                (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                    f"<Message>We encountered an internal error. Please try again. "
                    f"({xml_escape(type(e).__name__)})</Message></Error>"
                ).encode(),
            )
            req.status = 500
        self.send_response_only(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not resp.no_body and resp.body:
            self.wfile.write(resp.body)

    def send_response_only(self, code: int, message: str | None = None) -> None:
        super().send_response_only(code, message)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        addr: tuple[str, int],
        state: FakeAWS,
        scheme: str,
        ssl_ctx: ssl.SSLContext | None,
        verbose: bool = False,
    ) -> None:
        self.state = state
        self.scheme = scheme
        self.ssl_ctx = ssl_ctx
        self.state_verbose = verbose
        super().__init__(addr, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the per-connection thread, never in the accept loop.
        if self.ssl_ctx is not None:
            request.settimeout(30)
            try:
                request = self.ssl_ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def start_fakeaws(
    certdir: str | Path,
    *,
    http_port: int = 0,
    https_port: int = 0,
    credentials: dict[str, str] | None = None,
    clock_offset: float = 0.0,
    extra_names: Iterable[str] = (),
    verbose: bool = False,
) -> FakeAWS:
    """Start fakeaws in background threads on 127.0.0.1 and return its handle.

    The handle has ``http_port``, ``https_port``, ``ca_path``, ``requests``
    (:class:`ReceivedRequest` list), ``add_credential()``, the switches documented on
    :class:`FakeAWS`, and ``stop()``.
    """
    certdir = Path(certdir).resolve()
    state = FakeAWS(credentials)
    state.clock_offset = clock_offset
    ca_key, ca_cert, ca_path = make_ca(certdir, "fakeaws")
    cert_path, key_path = make_leaf(
        ca_key, ca_cert, [*fakeaws_names(), *extra_names], certdir, "fakeaws-leaf"
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    ctx.set_alpn_protocols(["http/1.1"])
    state.ca_path = ca_path
    for port, scheme, sctx in ((http_port, "http", None), (https_port, "https", ctx)):
        srv = _Server(("127.0.0.1", port), state, scheme, sctx, verbose)
        t = threading.Thread(target=srv.serve_forever, name=f"fakeaws-{scheme}", daemon=True)
        t.start()
        state._servers.append(srv)
        state._threads.append(t)
        if scheme == "http":
            state.http_port = srv.server_address[1]
        else:
            state.https_port = srv.server_address[1]
    return state


def _parse_credential_arg(value: str) -> tuple[str, str]:
    akid, sep, secret = value.partition(":")
    if not sep or not akid or not secret:
        raise argparse.ArgumentTypeError("expected AKID:SECRET")
    return akid, secret


def announce_and_wait(info: dict[str, Any], ready_file: str | None) -> None:
    """Print the listening info (and write it atomically to ``ready_file``), then block
    until SIGTERM or Ctrl-C. Shared by fakeaws and badhop."""
    if ready_file:
        tmp = Path(ready_file + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(ready_file)
    print(json.dumps(info), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--https-port", type=int, default=0)
    p.add_argument("--certdir", required=True, help="where the CA and leaf certificate go")
    p.add_argument("--ready-file", help="write {http_port, https_port, ca} JSON here when ready")
    p.add_argument(
        "--credentials",
        action="append",
        type=_parse_credential_arg,
        default=[],
        metavar="AKID:SECRET",
        help="accept this long-term key pair (repeatable; the AWS example pair is built in)",
    )
    p.add_argument("--clock-offset", type=float, default=0.0, help="seconds added to the clock")
    p.add_argument("--no-echo", action="store_true", help="S3 errors omit the canonical request")
    p.add_argument(
        "--reject-checksum-trailers",
        action="store_true",
        help="answer aws-chunked/x-amz-checksum uploads with 501 NotImplemented",
    )
    p.add_argument("--server-header", default="AmazonS3")
    p.add_argument("--ip-region", help="expected region when the Host is an IP address")
    p.add_argument("--ip-sts-global", action="store_true", help="STS on an IP Host acts global")
    p.add_argument("--extra-name", action="append", default=[], help="extra certificate name")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    state = start_fakeaws(
        args.certdir,
        http_port=args.http_port,
        https_port=args.https_port,
        credentials=dict(args.credentials),
        clock_offset=args.clock_offset,
        extra_names=args.extra_name,
        verbose=args.verbose,
    )
    state.echo_canonical = not args.no_echo
    state.reject_checksum_trailers = args.reject_checksum_trailers
    state.server_header = args.server_header
    state.ip_region = args.ip_region
    state.ip_sts_global = args.ip_sts_global
    info = {"http_port": state.http_port, "https_port": state.https_port, "ca": str(state.ca_path)}
    announce_and_wait(info, args.ready_file)
    state.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
