"""fakeaws: a local AWS-like endpoint for end-to-end tests of the sigv4-inspector addons.

One process serves plain HTTP and HTTPS on 127.0.0.1 (a throwaway CA and leaf certificate are
generated into ``--certdir``) and answers a small subset of three AWS protocols:

* S3 (REST-XML, :mod:`.s3`): PutObject (plain or ``aws-chunked`` with chunk/trailer
  signatures and checksum trailers), GetObject, HeadObject, DeleteObject, ListObjectsV2,
  ListBuckets, CreateBucket, presigned GET/PUT, POST Object (browser uploads).
* DynamoDB (JSON 1.0, :mod:`.dynamodb`): PutItem, GetItem, ListTables.
* STS (Query, :mod:`.sts`): AssumeRole, GetSessionToken, GetCallerIdentity, issuing
  temporary credentials (v1-format session tokens from the global host ``sts.localhost``,
  v2-format from ``sts.<region>.localhost``) that later requests may be signed with.

Every request's signature is re-verified *independently of the project's own verifier and
of any signer*: :mod:`.sigv4` computes what AWS's servers compute (query and S3 path decoded
then re-encoded, other services' paths normalised then encoded again, headers trimmed and
collapsed), each rule next to its evidence; SigV4a with a local P-256 key derivation;
aws-chunked chunk and trailer signatures in :mod:`.chunked`. A signature that matches only
another canonical form is refused, as AWS refuses it. Failures are answered with the byte
shapes AWS uses (:mod:`.errors`: S3 XML with the echoed CanonicalRequest, JSON
``InvalidSignatureException`` with the Canonical String, STS ``ErrorResponse``), so the
addons' server-side diagnosis can be exercised offline.

Routing is by Host header (port ignored); when the Host is an IP address or plain
``localhost`` the service is taken from the credential scope, ``X-Amz-Target`` or the form
``Action``.

Run: ``python scripts/fakeaws.py --http-port 0 --https-port 0 --certdir DIR --ready-file F``
(the ready file gets ``{"http_port": .., "https_port": .., "ca": ..}`` once listening), or
import :func:`start_fakeaws` for an in-process server in threads.
"""

from __future__ import annotations

from .certs import fakeaws_names, make_ca, make_leaf
from .chunked import decode_aws_chunked, parse_aws_chunked
from .errors import ErrorFactory, JsonErrors, S3Errors, StsErrors
from .model import (
    ACCOUNT_ID,
    AMZ_FMT,
    CHECKSUM_NAMES,
    DEFAULT_REGION,
    EXAMPLE_ACCESS_KEY,
    EXAMPLE_SECRET_KEY,
    MAX_PRESIGN_EXPIRES,
    OPT_IN_REGIONS,
    REGIONS,
    S3_NS,
    SIG_MISMATCH_CORAL,
    SIG_MISMATCH_S3,
    SKEW_SECONDS,
    STS_NS,
    UNSUPPORTED_SIGNATURE,
    V1_TOKEN_PREFIXES,
    AuthError,
    ReceivedRequest,
    Response,
    Route,
    SigInfo,
    StoredObject,
    TempCredential,
    checksum_b64,
)
from .server import (
    FakeAWS,
    _Handler,
    _Server,
    announce_and_wait,
    main,
    parse_header_lines,
    read_chunked,
    start_fakeaws,
)
from .sigv4 import SIGV4, SIGV4A, Verification, sigv4a_private_key
from .sts import make_session_token

__all__ = [
    "ACCOUNT_ID",
    "AMZ_FMT",
    "CHECKSUM_NAMES",
    "DEFAULT_REGION",
    "EXAMPLE_ACCESS_KEY",
    "EXAMPLE_SECRET_KEY",
    "MAX_PRESIGN_EXPIRES",
    "OPT_IN_REGIONS",
    "REGIONS",
    "S3_NS",
    "SIG_MISMATCH_CORAL",
    "SIG_MISMATCH_S3",
    "SIGV4",
    "SIGV4A",
    "SKEW_SECONDS",
    "STS_NS",
    "UNSUPPORTED_SIGNATURE",
    "V1_TOKEN_PREFIXES",
    "AuthError",
    "ErrorFactory",
    "FakeAWS",
    "JsonErrors",
    "ReceivedRequest",
    "Response",
    "Route",
    "S3Errors",
    "SigInfo",
    "StoredObject",
    "StsErrors",
    "TempCredential",
    "Verification",
    "_Handler",
    "_Server",
    "announce_and_wait",
    "checksum_b64",
    "decode_aws_chunked",
    "fakeaws_names",
    "main",
    "make_ca",
    "make_leaf",
    "make_session_token",
    "parse_aws_chunked",
    "parse_header_lines",
    "read_chunked",
    "sigv4a_private_key",
    "start_fakeaws",
]
