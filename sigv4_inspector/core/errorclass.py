"""What an AWS error answer means: :func:`classify` names the cause of a parsed
:class:`~sigv4_inspector.core.servererror.ServerError` as an :class:`ErrorClass`.

The decision is a table read in order (:data:`TABLE`): the first row that matches names
the class. A row matches on the bare code (one of :mod:`sigv4_inspector.core.awserrors`'
code sets), on words of the message, or on a test of its own where AWS reuses one code for
several causes. The message is therefore consulted before the code where that matters:
``InvalidSignatureException`` for clock skew, ``AccessDenied`` for expired presigned URLs
and unsigned headers, ``AuthorizationHeaderMalformed`` for a wrong region.
``BadDigest``/``InvalidDigest`` (Content-MD5 and checksum mismatches) are not payload-hash
mismatches and stay ``other``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sigv4_inspector.core import awserrors as E

if TYPE_CHECKING:
    from sigv4_inspector.core.servererror import ServerError

__all__ = ["CLASSIFICATIONS", "TABLE", "ErrorClass", "Row", "bare_code", "classify"]


class ErrorClass(StrEnum):
    """The cause an AWS error names (the ``classification`` of SERVER_REJECTED's evidence)."""

    SIGNATURE_MISMATCH = "signature_mismatch"
    INCOMPLETE_SIGNATURE = "incomplete_signature"
    CLOCK_SKEW = "clock_skew"
    PRESIGN_EXPIRED = "presign_expired"
    WRONG_REGION = "wrong_region"
    UNSUPPORTED_SIGNATURE = "unsupported_signature"
    HEADERS_NOT_SIGNED = "headers_not_signed"
    INVALID_ACCESS_KEY = "invalid_access_key"
    INVALID_TOKEN = "invalid_token"
    EXPIRED_TOKEN = "expired_token"
    PAYLOAD_HASH_MISMATCH = "payload_hash_mismatch"
    TRANSFER_ENCODING_UNSUPPORTED = "transfer_encoding_unsupported"
    SIGV2_REJECTED = "sigv2_rejected"
    MISSING_AUTHENTICATION = "missing_authentication"
    POST_POLICY_REJECTED = "post_policy_rejected"
    PERMISSION_DENIED = "permission_denied"
    OTHER = "other"


#: Every value :func:`classify` can return.
CLASSIFICATIONS: tuple[ErrorClass, ...] = tuple(ErrorClass)


def bare_code(code: str | None) -> str:
    """A code as the table holds it: stripped, lower-cased, a trailing ``Exception`` dropped."""
    c = (code or "").strip().lower()
    return c[: -len("exception")] if c.endswith("exception") and len(c) > 9 else c


#: A row's own test: (the error, its bare code, its message and ``<Header>`` lower-cased).
Test = Callable[["ServerError", str, str, str], bool]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: ``cls`` when the bare code is one of ``codes``, the message
    contains one of ``says``, or ``test`` holds."""

    cls: ErrorClass
    codes: frozenset[str] = frozenset()
    says: tuple[str, ...] = ()
    test: Test | None = None

    def matches(self, err: ServerError, code: str, msg: str, header: str) -> bool:
        if code in self.codes:
            return True
        for t in self.says:  # a loop, not any(): this runs for every row on every error
            if t in msg:
                return True
        return self.test is not None and self.test(err, code, msg, header)


def _chunked_upload_refused(err: ServerError, code: str, msg: str, header: str) -> bool:
    """S3's NotImplemented naming Transfer-Encoding, in the ``<Header>`` or the message."""
    if code == E.NOT_IMPLEMENTED and header == E.TRANSFER_ENCODING:
        return True
    return E.NOT_IMPLEMENTED_TEXT in msg and (
        header == E.TRANSFER_ENCODING or E.TRANSFER_ENCODING in msg
    )


def _policy_text(err: ServerError, code: str, msg: str, header: str) -> bool:
    return msg.startswith(E.POST_POLICY_PREFIX)


def _presigned(err: ServerError) -> bool:
    return err.expires is not None or "X-Amz-Expires" in err.extra


def _presign_expired(err: ServerError, code: str, msg: str, header: str) -> bool:
    """AccessDenied and friends about a presigned URL's validity; EC2/query RequestExpired
    is clock skew unless the request was presigned."""
    if code in E.PRESIGN_EXPIRY_CODES and (
        any(t in msg for t in E.PRESIGN_EXPIRED_TEXT) or _presigned(err)
    ):
        return True
    return code == E.PRESIGNED_REQUEST_EXPIRED and _presigned(err)


def _region_named(err: ServerError, code: str, msg: str, header: str) -> bool:
    """A malformed-authorization code that names the expected region, or S3's bare 400
    to a HEAD in the wrong region (``x-amz-bucket-region``)."""
    if code in E.REGION_CODES and err.expected_region is not None and E.REGION_WORD in msg:
        return True
    return code == E.BARE_400 and err.expected_region is not None


def _unsigned_named(err: ServerError, code: str, msg: str, header: str) -> bool:
    return bool(err.headers_not_signed)


def _denial_code(err: ServerError, code: str, msg: str, header: str) -> bool:
    return code.endswith(E.PERMISSION_SUFFIX)


C = ErrorClass
#: The decision, in order: the first row that matches names the class.
TABLE: tuple[Row, ...] = (
    Row(
        C.TRANSFER_ENCODING_UNSUPPORTED,
        E.MISSING_CONTENT_LENGTH_CODES,
        test=_chunked_upload_refused,
    ),
    Row(C.POST_POLICY_REJECTED, E.POST_POLICY_CODES, E.POST_POLICY_TEXT, _policy_text),
    Row(C.CLOCK_SKEW, says=E.SKEW_SIGNATURE_TEXT),
    Row(C.PRESIGN_EXPIRED, test=_presign_expired),
    Row(C.CLOCK_SKEW, E.SKEW_CODES, E.SKEW_TEXT),
    Row(C.WRONG_REGION, says=E.REGION_TEXT, test=_region_named),
    Row(C.SIGV2_REJECTED, says=E.SIGV2_TEXT),
    Row(C.UNSUPPORTED_SIGNATURE, E.UNSUPPORTED_SIGNATURE_CODES, E.UNSUPPORTED_SIGNATURE_TEXT),
    Row(C.HEADERS_NOT_SIGNED, says=E.HEADERS_NOT_SIGNED_TEXT, test=_unsigned_named),
    Row(C.PAYLOAD_HASH_MISMATCH, E.PAYLOAD_HASH_CODES, E.PAYLOAD_HASH_TEXT),
    Row(C.EXPIRED_TOKEN, E.EXPIRED_TOKEN_CODES, E.EXPIRED_TOKEN_TEXT),
    Row(C.INVALID_TOKEN, E.INVALID_TOKEN_CODES, E.INVALID_TOKEN_TEXT),
    Row(C.INVALID_ACCESS_KEY, E.INVALID_ACCESS_KEY_CODES),
    Row(C.MISSING_AUTHENTICATION, E.MISSING_AUTHENTICATION_CODES, E.MISSING_AUTHENTICATION_TEXT),
    Row(C.INCOMPLETE_SIGNATURE, E.INCOMPLETE_SIGNATURE_CODES, E.INCOMPLETE_TEXT),
    Row(C.SIGNATURE_MISMATCH, E.SIGNATURE_MISMATCH_CODES, E.SIGNATURE_MISMATCH_TEXT),
    Row(C.PERMISSION_DENIED, E.PERMISSION_CODES, E.PERMISSION_TEXT, _denial_code),
)


def classify(err: ServerError) -> ErrorClass:
    """Name the cause of an AWS error: the class of the first row of :data:`TABLE` that
    matches, else ``other``."""
    code = bare_code(err.code)
    msg = (err.message or "").lower()
    header = (err.header_named or "").lower()
    for row in TABLE:
        if row.matches(err, code, msg, header):
            return row.cls
    return ErrorClass.OTHER
