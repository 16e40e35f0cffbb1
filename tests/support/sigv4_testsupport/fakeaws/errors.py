"""The byte shapes AWS answers with, per protocol: S3's REST-XML ``<Error>`` (with the
echoed ``CanonicalRequest`` / ``StringToSign`` of a SignatureDoesNotMatch), the AWS JSON 1.0
coral errors of DynamoDB (``The Canonical String for this request should have been ...``)
and the query protocol's ``ErrorResponse`` (STS). The canonical request echoed is the one
:mod:`.sigv4` computed, AWS's form, so a signer that signed another form sees the line
that differs, as it would at AWS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import string
import uuid
import zlib
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from .model import (
    AMZ_FMT,
    CORAL_ERROR_TYPE_SUFFIX,
    SIG_MISMATCH_CORAL,
    SIG_MISMATCH_S3,
    STS_NS,
    UNSUPPORTED_SIGNATURE,
    ReceivedRequest,
    Response,
    SigInfo,
    hex_bytes,
    iso8601,
    rand_string,
    xml_escape,
)
from .sigv4 import Verification, display

if TYPE_CHECKING:
    from .server import FakeAWS


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
            f"'{display(result.canonical_request)}'\n\nThe String-to-Sign should have been\n"
            f"'{display(result.string_to_sign)}'\n"
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
            creq, sts = display(result.canonical_request), display(result.string_to_sign)
            extra += [
                ("StringToSign", sts),
                ("SignatureProvided", sig.signature),
                ("StringToSignBytes", hex_bytes(sts)),
                ("CanonicalRequest", creq),
                ("CanonicalRequestBytes", hex_bytes(creq)),
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
        self.request_id = rand_string(string.ascii_uppercase + string.digits, 52)

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
