"""The finding codes of report.md and their order: which finding a person reads first.

Findings are sorted by severity (error, warning, info) and, within a severity, by rank:
1. causes, most specific first (what is wrong in this request, or where it changed): the
   parts that make a signature differ, then the scheme, tokens, scope and time; a cause the
   server's own answer confirms (SIGV2_DEPRECATED after "Please use AWS4-HMAC-SHA256")
   comes before the others;
2. evidence of a change that names no single part (SERVER_CANONICAL_DIFF, then
   CHANGED_AFTER_PROXY);
3. the generic SIGNATURE_MISMATCH;
4. context (SERVER_REJECTED, PERMISSION_DENIED);
5. the rest.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Every finding code of report.md. A ``StrEnum``: the record writes the plain name."""

    # causes, in the order they are shown when several apply
    MALFORMED_AUTHORIZATION = "MALFORMED_AUTHORIZATION"
    SIGNED_HEADER_MISSING = "SIGNED_HEADER_MISSING"
    HEADER_MODIFIED = "HEADER_MODIFIED"
    HOST_MISMATCH = "HOST_MISMATCH"
    URI_ENCODING = "URI_ENCODING"
    QUERY_ENCODING = "QUERY_ENCODING"
    PAYLOAD_HASH_MISMATCH = "PAYLOAD_HASH_MISMATCH"
    CHUNK_SIGNATURE_MISMATCH = "CHUNK_SIGNATURE_MISMATCH"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    SECRET_MISMATCH = "SECRET_MISMATCH"
    SIGV2_DEPRECATED = "SIGV2_DEPRECATED"
    SECURITY_TOKEN_MISSING = "SECURITY_TOKEN_MISSING"
    STS_GLOBAL_TOKEN_SIGV4A = "STS_GLOBAL_TOKEN_SIGV4A"
    STS_GLOBAL_TOKEN_OPT_IN_REGION = "STS_GLOBAL_TOKEN_OPT_IN_REGION"
    CREDENTIALS_EXPIRED = "CREDENTIALS_EXPIRED"
    SCOPE_DATE_MISMATCH = "SCOPE_DATE_MISMATCH"
    SCOPE_REGION_MISMATCH = "SCOPE_REGION_MISMATCH"
    SCOPE_SERVICE_MISMATCH = "SCOPE_SERVICE_MISMATCH"
    SCOPE_TERMINATOR = "SCOPE_TERMINATOR"
    MRAP_REQUIRES_SIGV4A = "MRAP_REQUIRES_SIGV4A"
    CLOCK_SKEW = "CLOCK_SKEW"
    SIGNED_TOO_EARLY = "SIGNED_TOO_EARLY"
    PRESIGN_EXPIRED = "PRESIGN_EXPIRED"
    PRESIGN_NOT_YET_VALID = "PRESIGN_NOT_YET_VALID"
    PRESIGN_EXPIRES_TOO_LONG = "PRESIGN_EXPIRES_TOO_LONG"
    PRESIGN_OUTLIVES_CREDENTIALS = "PRESIGN_OUTLIVES_CREDENTIALS"
    POST_POLICY_EXPIRED = "POST_POLICY_EXPIRED"
    POST_POLICY_CONDITION_FAILED = "POST_POLICY_CONDITION_FAILED"
    POST_POLICY_EXTRA_FIELD = "POST_POLICY_EXTRA_FIELD"
    S3_CONTENT_SHA256_MISSING = "S3_CONTENT_SHA256_MISSING"
    UNSIGNED_AMZ_HEADER = "UNSIGNED_AMZ_HEADER"
    TRANSFER_ENCODING_UNSUPPORTED = "TRANSFER_ENCODING_UNSUPPORTED"
    CHECKSUM_DEFAULTS_UNSUPPORTED = "CHECKSUM_DEFAULTS_UNSUPPORTED"
    # evidence of a change that names no single part
    SERVER_CANONICAL_DIFF = "SERVER_CANONICAL_DIFF"
    CHANGED_AFTER_PROXY = "CHANGED_AFTER_PROXY"
    # the generic mismatch
    SIGNATURE_MISMATCH = "SIGNATURE_MISMATCH"
    # context
    SERVER_REJECTED = "SERVER_REJECTED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    # the rest
    HOP_BY_HOP_SIGNED = "HOP_BY_HOP_SIGNED"
    VOLATILE_HEADER_SIGNED = "VOLATILE_HEADER_SIGNED"
    ENCODING_AMBIGUOUS = "ENCODING_AMBIGUOUS"
    INPUT_LOST_BYTES = "INPUT_LOST_BYTES"
    PAYLOAD_NOT_VERIFIED = "PAYLOAD_NOT_VERIFIED"
    UNKNOWN_ACCESS_KEY = "UNKNOWN_ACCESS_KEY"
    CHECK_UNAVAILABLE = "CHECK_UNAVAILABLE"
    ANALYSIS_BUDGET_EXCEEDED = "ANALYSIS_BUDGET_EXCEEDED"
    UNSIGNED_PAYLOAD = "UNSIGNED_PAYLOAD"
    UNSIGNED_REQUEST = "UNSIGNED_REQUEST"
    FINDINGS_TRUNCATED = "FINDINGS_TRUNCATED"


CAUSES: tuple[Code, ...] = tuple(Code)[: list(Code).index(Code.SERVER_CANONICAL_DIFF)]

_RANK: dict[Code, tuple[int, int]] = {}
for _i, _code in enumerate(Code):
    if _code in CAUSES:
        _RANK[_code] = (1, _i)
    elif _code is Code.SERVER_CANONICAL_DIFF:
        _RANK[_code] = (2, 0)
    elif _code is Code.CHANGED_AFTER_PROXY:
        _RANK[_code] = (2, 1)
    elif _code is Code.SIGNATURE_MISMATCH:
        _RANK[_code] = (3, 0)
    elif _code in (Code.SERVER_REJECTED, Code.PERMISSION_DENIED):
        _RANK[_code] = (4, _i)
    else:
        _RANK[_code] = (5, _i)

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def rank(code: str) -> tuple[int, int]:
    """The rank of a code within its severity (lower comes first); unknown codes last."""
    try:
        return _RANK[Code(code)]
    except ValueError:
        return (6, 0)
