"""Constants, the request/response data model and small helpers shared by every fakeaws module."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import zlib
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _xml_escape

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
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
MAX_PRESIGN_EXPIRES = 604800
#: Allowed clock skew per service, in seconds (S3 15 minutes; JSON services 5 minutes).
SKEW_SECONDS = {"s3": 900, "dynamodb": 300, "sts": 900}
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
    secret: str = ""  # the secret the request is verified with, once known


class AuthError(Exception):
    """Raised with a ready-made error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def xml_escape(s: str) -> str:
    return _xml_escape(s, {'"': "&quot;"})


def hex_bytes(s: str) -> str:
    return " ".join(f"{b:02x}" for b in s.encode("utf-8"))


def iso8601(t: dt.datetime, millis: bool = False) -> str:
    if millis:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_string(alphabet: str, n: int) -> str:
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
