"""Tests for sigv4_inspector.core.servererror: AWS error bodies as AWS writes them.

Every sample body below is copied from (or shaped exactly like) an error quoted in a
public issue thread; the comment above each names the thread. Where a thread only shows
part of a body, the missing envelope follows the same service's shape from another
thread, and the comment says so. Identifiers (request ids, host ids, keys) are the ones
printed in those threads or obviously fake ones.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigv4_inspector.core.canonical_diff import canonical_diff, string_to_sign_diff
from sigv4_inspector.core.errorclass import CLASSIFICATIONS, classify
from sigv4_inspector.core.model import aws_header_digest, fingerprint
from sigv4_inspector.core.servererror import MAX_BODY, ServerError, parse_error_response


def _hex(text: str) -> str:
    """S3's ``...Bytes`` rendering: space-separated lowercase hex."""
    return " ".join(f"{b:02x}" for b in text.encode("utf-8", "surrogateescape"))


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parse(
    status: int, body: bytes | str | None, headers: list[tuple[str, str]] | None = None
) -> ServerError:
    raw = body.encode() if isinstance(body, str) else body
    err = parse_error_response(status, headers or [], raw)
    assert err is not None
    return err


# --- S3 SignatureDoesNotMatch with the server's canonical request ---------------------------
# aws/aws-cli#4356: StringToSign and StringToSignBytes verbatim, the CanonicalRequest (with
# the empty `range:` line that issue is about) completed with a shortened token; the
# CanonicalRequestBytes are the exact hex of that text, as S3 prints them
# (s3tools/s3cmd#1053, chef/chef-server#1911).
S3_STS = (
    "AWS4-HMAC-SHA256\n20190814T102134Z\n20190814/ap-northeast-2/s3/aws4_request\n"
    "8b1e07b140147c77ec722fd60085afc9dc9da050696f6a0dde05092dbbb33c33"
)
S3_STS_BYTES = (
    "41 57 53 34 2d 48 4d 41 43 2d 53 48 41 32 35 36 0a 32 30 31 39 30 38 31 34 54 31 30 32 "
    "31 33 34 5a 0a 32 30 31 39 30 38 31 34 2f 61 70 2d 6e 6f 72 74 68 65 61 73 74 2d 32 2f "
    "73 33 2f 61 77 73 34 5f 72 65 71 75 65 73 74 0a 38 62 31 65 30 37 62 31 34 30 31 34 37 "
    "63 37 37 65 63 37 32 32 66 64 36 30 30 38 35 61 66 63 39 64 63 39 64 61 30 35 30 36 39 "
    "36 66 36 61 30 64 64 65 30 35 30 39 32 64 62 62 62 33 33 63 33 33"
)
S3_TOKEN = "AgoJb3JpZ2luX2VjEHoaDmFwLW5vcnRoZWFzdC0yIkgwRgIhAMClTED3O1kpzp+H5S5rfCu6DeEbl99R"
S3_CREQ = (
    "GET\n/photos/8388608.test\n\n"
    "host:mybucket.s3.ap-northeast-2.amazonaws.com\n"
    "range:\n"
    "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    "x-amz-date:20190814T102134Z\n"
    f"x-amz-security-token:{S3_TOKEN}\n\n"
    "host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
S3_SIGNATURE_DOES_NOT_MATCH = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
    "does not match the signature you provided. Check your key and signing method.</Message>"
    "<AWSAccessKeyId>ASIAEXAMPLEPUBLIC001</AWSAccessKeyId>"
    f"<StringToSign>{S3_STS}</StringToSign>"
    "<SignatureProvided>e8840b94be41f1ba8cfe8d915c293903d3332834055cbc2dc600c197252e87bc"
    "</SignatureProvided>"
    f"<StringToSignBytes>{S3_STS_BYTES}</StringToSignBytes>"
    f"<CanonicalRequest>{S3_CREQ}</CanonicalRequest>"
    f"<CanonicalRequestBytes>{_hex(S3_CREQ)}</CanonicalRequestBytes>"
    "<RequestId>9E09E2E8D09D863C</RequestId>"
    "<HostId>CQl85Ol1ejSfxwCFffw880W3OsDNI+FtTYPrQFjJVtM6vmd4pWJaOCuNEWtZPUfjhYRHByziBxg=</HostId>"
    "</Error>"
)


def test_s3_signature_does_not_match_every_field() -> None:
    err = parse(
        403,
        S3_SIGNATURE_DOES_NOT_MATCH,
        [
            ("x-amz-request-id", "9E09E2E8D09D863C"),
            ("Date", "Wed, 14 Aug 2019 10:21:35 GMT"),
            ("Content-Type", "application/xml"),
        ],
    )
    assert err.protocol == "s3-xml"
    assert err.status == 403
    assert err.code == "SignatureDoesNotMatch"
    assert err.message == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )
    assert err.request_id == "9E09E2E8D09D863C"
    assert err.access_key_id == "ASIAEXAMPLEPUBLIC001"
    assert err.signature_provided == (
        "e8840b94be41f1ba8cfe8d915c293903d3332834055cbc2dc600c197252e87bc"
    )
    assert err.string_to_sign == S3_STS
    assert err.canonical_request == S3_CREQ
    assert err.date_header == _utc(2019, 8, 14, 10, 21, 35)
    assert err.server_time is None and err.request_time is None
    assert err.extra == {
        "HostId": "CQl85Ol1ejSfxwCFffw880W3OsDNI+FtTYPrQFjJVtM6vmd4pWJaOCuNEWtZPUfjhYRHByziBxg="
    }
    assert err.notes == []
    assert classify(err) == "signature_mismatch"


def test_s3_bytes_preferred_when_consistent_text_when_not() -> None:
    # The exact bytes keep a CR that the XML text form loses (XML normalises line ends).
    creq = S3_CREQ.replace("range:", "range:bytes=0-9\r")
    body = S3_SIGNATURE_DOES_NOT_MATCH.replace(
        f"<CanonicalRequestBytes>{_hex(S3_CREQ)}", f"<CanonicalRequestBytes>{_hex(creq)}"
    ).replace(f"<CanonicalRequest>{S3_CREQ}", f"<CanonicalRequest>{creq}")
    assert parse(403, body).canonical_request == creq
    # Bytes redacted (aws/aws-sdk-js-v3#7006 prints "redacted"): the text is used.
    body = S3_SIGNATURE_DOES_NOT_MATCH.replace(_hex(S3_CREQ), "redacted")
    err = parse(403, body)
    assert err.canonical_request == S3_CREQ
    assert any("not hex" in n for n in err.notes)
    # Bytes that decode to something else: the text is used and the disagreement noted.
    body = S3_SIGNATURE_DOES_NOT_MATCH.replace(_hex(S3_CREQ), _hex("PUT\n/other\n\n\nhost\nx"))
    err = parse(403, body)
    assert err.canonical_request == S3_CREQ
    assert any("disagrees" in n for n in err.notes)
    # Only the bytes (a server that omits the text form).
    body = S3_SIGNATURE_DOES_NOT_MATCH.replace(
        f"<CanonicalRequest>{S3_CREQ}</CanonicalRequest>", ""
    )
    assert parse(403, body).canonical_request == S3_CREQ


# chef/chef-server#1911: a presigned GET; the canonical query is XML-escaped (&amp;).
S3_PRESIGNED_MISMATCH = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
    "does not match the signature you provided. Check your key and signing method.</Message>"
    "<AWSAccessKeyId>AKIAEXAMPLEPUBLIC002</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n"
    "20200614T075800Z\n20200614/us-east-2/s3/aws4_request\n"
    "d9c0ac36c6b871b458a81cb63e3d948487e479e95368585d285628284c79ce29</StringToSign>"
    "<SignatureProvided>03a4dfedf01ec6ca899bf96a00bc5aca14fba2af15560c0d270d538b226d830b"
    "</SignatureProvided><CanonicalRequest>GET\n"
    "/lbaker-east-ohio/organization-0529aa2acf46010f707f56e88f20c191/"
    "checksum-c485dc9aa909e8a8cd20e9e74e72c51f\n"
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&amp;X-Amz-Credential=AKIAEXAMPLEPUBLIC002%2F20200614"
    "%2Fus-east-2%2Fs3%2Faws4_request&amp;X-Amz-Date=20200614T075800Z&amp;X-Amz-Expires=28800"
    "&amp;X-Amz-SignedHeaders=host\nhost:s3.us-east-2.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    "</CanonicalRequest><RequestId>A1B2C3D4E5F60718</RequestId><HostId>x</HostId></Error>"
)


def test_s3_presigned_canonical_request_unescaped() -> None:
    err = parse(403, S3_PRESIGNED_MISMATCH)
    assert err.canonical_request is not None
    assert err.canonical_request.split("\n")[2] == (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLEPUBLIC002%2F20200614"
        "%2Fus-east-2%2Fs3%2Faws4_request&X-Amz-Date=20200614T075800Z&X-Amz-Expires=28800"
        "&X-Amz-SignedHeaders=host"
    )
    assert err.canonical_request.endswith("\n\nhost\nUNSIGNED-PAYLOAD")
    assert err.string_to_sign is not None and err.string_to_sign.startswith("AWS4-HMAC-SHA256\n")
    assert err.access_key_id == "AKIAEXAMPLEPUBLIC002"
    assert err.request_id == "A1B2C3D4E5F60718"
    assert classify(err) == "signature_mismatch"


# --- time ----------------------------------------------------------------------------------
# versity/versitygw#1514 (verbatim S3 body).
S3_REQUEST_TIME_TOO_SKEWED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "   <Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request "
    "time and the current time is too large.</Message><RequestTime>20250901T162148Z"
    "</RequestTime><ServerTime>2025-09-03T16:21:50Z</ServerTime><MaxAllowedSkewMilliseconds>"
    "900000</MaxAllowedSkewMilliseconds><RequestId>2J8ZFVZVVRA4T7CF</RequestId><HostId>"
    "CRaDrKRM91F3Ea6WY8n+2BLxPeuJIpDDm+7fIUYYE2fvvRnGocv1/406lhxBURvCDnNt0K5M2oEj7G7NjTbhP18o"
    "rBtCmzj6</HostId></Error>"
)


def test_s3_request_time_too_skewed() -> None:
    err = parse(403, S3_REQUEST_TIME_TOO_SKEWED, [("Date", "Wed, 03 Sep 2025 16:21:50 GMT")])
    assert err.protocol == "s3-xml"
    assert err.code == "RequestTimeTooSkewed"
    assert err.message == (
        "The difference between the request time and the current time is too large."
    )
    assert err.request_time == _utc(2025, 9, 1, 16, 21, 48)
    assert err.server_time == _utc(2025, 9, 3, 16, 21, 50)
    assert err.date_header == _utc(2025, 9, 3, 16, 21, 50)
    assert err.max_skew_ms == 900000
    assert err.request_id == "2J8ZFVZVVRA4T7CF"
    assert set(err.extra) == {"HostId"}
    assert classify(err) == "clock_skew"


# remind101/logspout-kinesis#21 (message verbatim), in the JSON 1.1 envelope Kinesis uses.
JSON_SIGNATURE_EXPIRED = json.dumps(
    {
        "__type": "InvalidSignatureException",
        "message": "Signature expired: 20151120T200815Z is now earlier than 20151120T201846Z "
        "(20151120T202346Z - 5 min.)",
    }
)
# serverless/enterprise#11 (message verbatim), same envelope.
JSON_SIGNATURE_NOT_YET_CURRENT = json.dumps(
    {
        "__type": "com.amazon.coral.service#InvalidSignatureException",
        "message": "Signature not yet current: 20181120T211543Z is still later than "
        "20181120T211529Z (20181120T211029Z + 5 min.)",
    }
)


def test_json_signature_expired_gives_server_time() -> None:
    err = parse(
        400,
        JSON_SIGNATURE_EXPIRED,
        [("x-amzn-RequestId", "9a2bed25-8fc4-11e5-b0cc-6bf2f0e1ff85")],
    )
    assert err.protocol == "json"
    assert err.code == "InvalidSignatureException"
    assert err.request_id == "9a2bed25-8fc4-11e5-b0cc-6bf2f0e1ff85"
    assert err.request_time == _utc(2015, 11, 20, 20, 8, 15)
    assert err.server_time == _utc(2015, 11, 20, 20, 23, 46)
    assert err.max_skew_ms == 5 * 60_000
    assert err.canonical_request is None
    assert classify(err) == "clock_skew"
    # aws/aws-sdk-js#254: some services allow 15 minutes.
    fifteen = JSON_SIGNATURE_EXPIRED.replace("5 min.", "15 min.")
    assert parse(400, fifteen).max_skew_ms == 15 * 60_000


def test_json_signature_not_yet_current() -> None:
    err = parse(403, JSON_SIGNATURE_NOT_YET_CURRENT)
    assert err.code == "InvalidSignatureException"
    assert err.request_time == _utc(2018, 11, 20, 21, 15, 43)
    assert err.server_time == _utc(2018, 11, 20, 21, 10, 29)
    assert err.max_skew_ms == 300_000
    assert classify(err) == "clock_skew"


# --- JSON / query "should have been" echoes -------------------------------------------------
# xcir/libvmod-awsrest#8 (Amazon Elasticsearch, verbatim body; the x-amzn-ErrorType header
# is what API Gateway/ES send with it, see amzn/selling-partner-api-models#113).
ES_CANONICAL = (
    "GET\n/_plugin/kibana/\n\nhost:search-production-applicationlogs-omittied.us-east-1.es."
    "amazonaws.com\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca49599"
    "1b7852b855\nx-amz-date:20160210T173713Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
ES_STS = (
    "AWS4-HMAC-SHA256\n20160210T173713Z\n20160210/us-east-1/es/aws4_request\n"
    "fd25fa89477f88ffc390ea6ea90c5de2e35aea5c4e588ebb0ec972dc47b9e995"
)
JSON_CANONICAL_ECHO = json.dumps(
    {
        "message": "The request signature we calculated does not match the signature you "
        "provided. Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details.\n\nThe Canonical String for this request should have "
        f"been\n'{ES_CANONICAL}'\n\nThe String-to-Sign should have been\n'{ES_STS}'\n"
    }
)


def test_json_canonical_string_echo() -> None:
    err = parse(
        403,
        JSON_CANONICAL_ECHO,
        [
            ("x-amzn-RequestId", "491cbe4b-06e2-4095-9b64-f14a0970bbfb"),
            (
                "x-amzn-ErrorType",
                "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
        ],
    )
    assert err.protocol == "json"
    assert err.code == "InvalidSignatureException"
    assert err.request_id == "491cbe4b-06e2-4095-9b64-f14a0970bbfb"
    assert err.canonical_request == ES_CANONICAL
    assert err.string_to_sign == ES_STS
    assert err.message is not None and err.message.startswith("The request signature")
    assert classify(err) == "signature_mismatch"


# amzn/selling-partner-api-models#1101 (verbatim shape: an "errors" list, code InvalidSignature).
SPAPI_CANONICAL = (
    "GET\n/sellers/v1/marketplaceParticipations\nMarketplaceId=A21TJRUUN4KGV\n"
    "host:sellingpartnerapi-eu.amazon.com\nx-amz-access-token:Atza|IwEBIHmzrSnvzfJ7Q37ywQ\n"
    "x-amz-date:20210304T123122Z\nx-amz-security-token:\n\n"
    "host;x-amz-access-token;x-amz-date;x-amz-security-token\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
SPAPI_ERRORS = json.dumps(
    {
        "errors": [
            {
                "message": "The request signature we calculated does not match the signature "
                "you provided. Check your AWS Secret Access Key and signing method. Consult the "
                "service documentation for details.\n\nThe Canonical String for this request "
                f"should have been\n'{SPAPI_CANONICAL}'\n\nThe String-to-Sign should have been\n"
                "'AWS4-HMAC-SHA256\n20210304T123122Z\n20210304/eu-west-1/execute-api/aws4_request"
                "\n8dfb04e6992727694587fb8d3258dc23f4814d7c7d46fa8a7f711a53f260ca77'\n",
                "code": "InvalidSignature",
            }
        ]
    },
    indent=2,
)


def test_spapi_errors_list() -> None:
    err = parse(403, SPAPI_ERRORS)
    assert err.protocol == "json"
    assert err.code == "InvalidSignature"
    assert err.canonical_request == SPAPI_CANONICAL
    assert err.string_to_sign is not None
    assert err.string_to_sign.split("\n")[2] == "20210304/eu-west-1/execute-api/aws4_request"
    assert classify(err) == "signature_mismatch"


# aws/aws-cli#5341: the SQS message text verbatim; SQS (query protocol) wraps it in the
# <ErrorResponse> envelope shown in aws-azure-login/aws-azure-login#251.
SQS_CANONICAL = (
    "POST\n/\n\nhost:sqs.us-east-2.amazonaws.com\nx-amz-content-sha256:48a38266faf90970d6c7fea"
    "9b15e6ba366e5f6397c2970fc893f8a7b5e207bd0\nx-amz-date:20200708T203231Z\n\n"
    "host;x-amz-content-sha256;x-amz-date\n"
    "48a38266faf90970d6c7fea9b15e6ba366e5f6397c2970fc893f8a7b5e207bd0"
)
SQS_STS = (
    "AWS4-HMAC-SHA256\n20200708T203231Z\n20200708/us-east-2/sqs/aws4_request\n"
    "5df91ef18175156826cddb0f3c6519dcb884ff9649eecdf6a76705ad3ddd244e"
)
SQS_QUERY_MISMATCH = (
    '<?xml version="1.0"?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
    "<Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>The request "
    "signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details.\n\n"
    f"The Canonical String for this request should have been\n'{SQS_CANONICAL}'\n\n"
    f"The String-to-Sign should have been\n'{SQS_STS}'\n</Message><Detail/></Error>"
    "<RequestId>8cd8e8e3-3a6a-5f4b-9d76-1b2a7e0b6c1d</RequestId></ErrorResponse>"
)


def test_query_xml_canonical_echo() -> None:
    err = parse(403, SQS_QUERY_MISMATCH)
    assert err.protocol == "query-xml"
    assert err.code == "SignatureDoesNotMatch"
    assert err.request_id == "8cd8e8e3-3a6a-5f4b-9d76-1b2a7e0b6c1d"
    assert err.canonical_request == SQS_CANONICAL
    assert err.string_to_sign == SQS_STS
    assert err.extra == {"Type": "Sender"}
    assert classify(err) == "signature_mismatch"


# aws-azure-login/aws-azure-login#251 (verbatim STS body and headers).
STS_INVALID_CLIENT_TOKEN_ID = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n'
    "    <Type>Sender</Type>\n    <Code>InvalidClientTokenId</Code>\n"
    "    <Message>The security token included in the request is invalid</Message>\n"
    "  </Error>\n  <RequestId>16fc956c-311e-4199-bee1-1680236e9698</RequestId>\n"
    "</ErrorResponse>\n"
)


def test_query_xml_invalid_client_token_id() -> None:
    err = parse(
        403,
        STS_INVALID_CLIENT_TOKEN_ID,
        [
            ("x-amzn-RequestId", "16fc956c-311e-4199-bee1-1680236e9698"),
            ("Content-Type", "text/xml"),
            ("Date", "Wed, 02 Nov 2022 12:44:38 GMT"),
        ],
    )
    assert err.protocol == "query-xml"
    assert err.code == "InvalidClientTokenId"
    assert err.message == "The security token included in the request is invalid"
    assert err.request_id == "16fc956c-311e-4199-bee1-1680236e9698"
    assert err.date_header == _utc(2022, 11, 2, 12, 44, 38)
    assert err.extra == {"Type": "Sender"}
    assert classify(err) == "invalid_access_key"


# aws/aws-sdk-java-v2#2981 (verbatim EC2 body).
EC2_AUTH_FAILURE = (
    "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate "
    "the provided access credentials</Message></Error></Errors><RequestID>5b48c718-a402-4c2f-"
    "b776-8ebea01ae49d</RequestID></Response>"
)


def test_ec2_auth_failure() -> None:
    err = parse(401, EC2_AUTH_FAILURE)
    assert err.protocol == "ec2-xml"
    assert err.code == "AuthFailure"
    assert err.message == "AWS was not able to validate the provided access credentials"
    assert err.request_id == "5b48c718-a402-4c2f-b776-8ebea01ae49d"
    assert err.extra == {}
    assert classify(err) == "invalid_access_key"


# --- IncompleteSignature --------------------------------------------------------------------
# aws/aws-sdk-js#4285 (SSM; message verbatim, raw Authorization echoed) and the current form
# described in knowledge.md §4, where AWS prints base64(SHA-256(Authorization)) instead.
INCOMPLETE_RAW = json.dumps(
    {
        "__type": "IncompleteSignatureException",
        "message": "Authorization header requires 'Credential' parameter. Authorization header "
        "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
        "parameter. Authorization=AWS xxxxx:yyyyyyy",
    }
)
SENT_AUTHORIZATION = "AWS xxxxx:yyyyyyy"
INCOMPLETE_DIGEST = json.dumps(
    {
        "__type": "IncompleteSignatureException",
        "message": "Authorization header requires 'Credential' parameter. Authorization header "
        "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
        f"parameter. Authorization={aws_header_digest(SENT_AUTHORIZATION)}",
    }
)
# aws/aws-sdk-go#289 (CloudFormation, query protocol; message verbatim).
INCOMPLETE_KEY_VALUE = (
    '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error>'
    "<Type>Sender</Type><Code>IncompleteSignature</Code><Message>'/20150620/us-east-1/"
    "cloudformation/aws4_request' not a valid key=value pair (missing equal-sign) in "
    "Authorization header: 'AWS4-HMAC-SHA256 Credential=AKIAXXXXXXXXXX /20150620/us-east-1/"
    "cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=240c93ba3610c73bde"
    "4e52dd5a93dd61a80b3ba2871208d7365c9cc7032d5c6f'.</Message></Error>"
    "<RequestId>0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b</RequestId></ErrorResponse>"
)


def test_incomplete_signature_digest() -> None:
    err = parse(400, INCOMPLETE_DIGEST)
    assert err.code == "IncompleteSignatureException"
    assert err.authorization_digest == aws_header_digest(SENT_AUTHORIZATION)
    assert classify(err) == "incomplete_signature"
    raw = parse(400, INCOMPLETE_RAW)
    assert raw.authorization_digest is None
    assert any("echoes the Authorization header" in n for n in raw.notes)
    assert classify(raw) == "incomplete_signature"
    kv = parse(400, INCOMPLETE_KEY_VALUE)
    assert kv.protocol == "query-xml" and kv.code == "IncompleteSignature"
    assert classify(kv) == "incomplete_signature"


# --- region ---------------------------------------------------------------------------------
# jsoma/flatware#10 (verbatim body and headers).
S3_AUTH_HEADER_MALFORMED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AuthorizationHeaderMalformed</Code>'
    "<Message>The authorization header is malformed; the region 'us-east-1' is wrong; "
    "expecting 'eu-central-1'</Message><Region>eu-central-1</Region><RequestId>"
    "D5F2662865713BDC</RequestId><HostId>BisYpzkFJqTt3Aw5Lb9PtSGxim8A1nu7ndZrVp04DNNiga64JePe2g"
    "pklGTp6DWeycle6MJ4wI8=</HostId></Error>"
)
# The MRAP case of corpus.md (message verbatim), S3 envelope.
S3_QUERY_PARAMS_REGION = (
    "<Error><Code>AuthorizationQueryParametersError</Code><Message>Error parsing the "
    "X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting 'ap-south-1'"
    "</Message><Region>ap-south-1</Region><RequestId>R1</RequestId><HostId>H1</HostId></Error>"
)
# bryanjos/aws_auth#31 (verbatim, pretty-printed with line breaks).
S3_QUERY_PARAMS_EXPIRES = (
    "<Error>\n<Code>AuthorizationQueryParametersError</Code>\n<Message>\nX-Amz-Expires must be "
    "less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 "
    "seconds\n</Message>\n<RequestId>85DDB241260CEC72</RequestId>\n<HostId>\npUQGWiJp/zQ5Br8FT"
    "FLVmb7ux90BOTdn/H0UIB3dbnbdQ3vO3NJew03lnvd5z3HZPy8R9h9d9Es=\n</HostId>\n</Error>"
)


def test_authorization_header_malformed_region() -> None:
    err = parse(
        400,
        S3_AUTH_HEADER_MALFORMED,
        [
            ("Date", "Wed, 27 Apr 2016 15:51:39 GMT"),
            ("Server", "AmazonS3"),
            ("x-amz-bucket-region", "eu-central-1"),
            ("x-amz-request-id", "D5F2662865713BDC"),
        ],
    )
    assert err.code == "AuthorizationHeaderMalformed"
    assert err.expected_region == "eu-central-1"
    assert err.request_id == "D5F2662865713BDC"
    assert err.date_header == _utc(2016, 4, 27, 15, 51, 39)
    assert classify(err) == "wrong_region"
    # aws/aws-cli#2954: the region comes from the message when there is no <Region>.
    no_region = S3_AUTH_HEADER_MALFORMED.replace("<Region>eu-central-1</Region>", "")
    assert parse(400, no_region).expected_region == "eu-central-1"


def test_authorization_query_parameters_error() -> None:
    err = parse(400, S3_QUERY_PARAMS_REGION)
    assert err.expected_region == "ap-south-1"
    assert classify(err) == "wrong_region"
    week = parse(400, S3_QUERY_PARAMS_EXPIRES)
    assert week.message is not None and "604800" in week.message
    assert week.request_id == "85DDB241260CEC72"
    assert week.extra["HostId"].startswith("pUQGWiJp/")
    assert classify(week) == "presign_expired"


def test_service_scope_message() -> None:
    # corpus.md: {"message":"Credential should be scoped to correct service: 'batch'. "}
    err = parse(
        403,
        '{"message":"Credential should be scoped to correct service: \'batch\'. "}',
        [("x-amzn-ErrorType", "InvalidSignatureException")],
    )
    assert err.expected_service == "batch"
    assert classify(err) == "incomplete_signature"
    # corpus.md: {"__type":"#SignatureDoesNotMatch",...,"message":"Credential should be
    # scoped to a valid region, not 'execute-api'. "}
    region = parse(
        403,
        '{"__type":"#SignatureDoesNotMatch","message":"Credential should be scoped to a valid '
        "region, not 'execute-api'. \"}",
    )
    assert region.code == "SignatureDoesNotMatch"
    assert classify(region) == "wrong_region"


def test_head_400_without_body_names_bucket_region() -> None:
    err = parse(400, b"", [("x-amz-bucket-region", "us-west-2")])
    assert err.code == "400" and err.message == "Bad Request"
    assert err.expected_region == "us-west-2"
    assert classify(err) == "wrong_region"


# --- signature kinds ------------------------------------------------------------------------
# The message of corpus.md case C41 (verbatim), S3 envelope.
S3_UNSUPPORTED_SIGNATURE = (
    "<Error><Code>UnsupportedSignature</Code><Message>The provided request is signed with an "
    "unsupported STS Token version or the signature version is not supported.</Message>"
    "<RequestId>4E3F1A2B3C4D5E6F</RequestId><HostId>h</HostId></Error>"
)
# nukulb/s3-angular-file-upload#23 (verbatim).
S3_SIGV2_REJECTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRequest</Code><Message>The '
    "authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
    "</Message><RequestId>DF13A5EDD8C98F52</RequestId><HostId>adSPzJTLQlMCYRgvkVtvCZGPNgX4ePylN"
    "vyfnBiXNGWad9mxGdGVuj3pdErSQYqEG4YOHa5/JUw=</HostId></Error>"
)


def test_unsupported_signature_and_sigv2() -> None:
    err = parse(400, S3_UNSUPPORTED_SIGNATURE)
    assert err.code == "UnsupportedSignature"
    assert err.request_id == "4E3F1A2B3C4D5E6F"
    assert classify(err) == "unsupported_signature"
    v2 = parse(400, S3_SIGV2_REJECTED)
    assert v2.code == "InvalidRequest"
    assert v2.request_id == "DF13A5EDD8C98F52"
    assert classify(v2) == "sigv2_rejected"


# --- presigned URLs -------------------------------------------------------------------------
# lukejacksonn/react-slack-clone#27 (verbatim, pretty-printed).
S3_PRESIGN_EXPIRED = (
    "<Error>\n<Code>AccessDenied</Code>\n<Message>Request has expired</Message>\n"
    "<X-Amz-Expires>60</X-Amz-Expires>\n<Expires>2018-03-29T11:17:34Z</Expires>\n"
    "<ServerTime>2018-03-29T11:27:42Z</ServerTime>\n<RequestId>FED2CBD7BC00CFFC</RequestId>\n"
    "<HostId>\n0fKFeZ57PPIGTSbziuxnr9eF5rXaTvTVHurpzL6lpcawA50LxmiGv5c2sPISUdKFYR3sRdOg7tg=\n"
    "</HostId>\n</Error>"
)


def test_presign_expired() -> None:
    err = parse(403, S3_PRESIGN_EXPIRED)
    assert err.code == "AccessDenied"
    assert err.message == "Request has expired"
    assert err.expires == _utc(2018, 3, 29, 11, 17, 34)
    assert err.server_time == _utc(2018, 3, 29, 11, 27, 42)
    assert err.request_id == "FED2CBD7BC00CFFC"
    assert err.extra == {
        "X-Amz-Expires": "60",
        "HostId": "0fKFeZ57PPIGTSbziuxnr9eF5rXaTvTVHurpzL6lpcawA50LxmiGv5c2sPISUdKFYR3sRdOg7tg=",
    }
    assert classify(err) == "presign_expired"


def test_ec2_request_expired_is_clock_skew() -> None:
    # aws/aws-sdk-java#1443: EC2 "Request has expired." (code RequestExpired), EC2 envelope.
    body = (
        "<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired."
        "</Message></Error></Errors><RequestID>213aa903-1660-42b7-838f-176cbed53e74</RequestID>"
        "</Response>"
    )
    err = parse(400, body)
    assert err.protocol == "ec2-xml"
    assert classify(err) == "clock_skew"
    # python-amazon-mws/python-amazon-mws#92 (verbatim): the timestamp is in the message.
    mws = parse(
        400,
        '<?xml version="1.0"?>\n<ErrorResponse xmlns="http://mws.amazonaws.com/doc/2009-01-01/">'
        "\n  <Error>\n    <Type>Sender</Type>\n    <Code>RequestExpired</Code>\n    <Message>"
        "Request signature is too far in the past and has expired. Timestamp date: "
        "2018-09-23T10:04:57Z</Message>\n  </Error>\n  <RequestID>cc980489-5f56-4f50-ab65-"
        "ca7027d52c75</RequestID>\n</ErrorResponse>",
    )
    assert mws.request_time == _utc(2018, 9, 23, 10, 4, 57)
    assert mws.request_id == "cc980489-5f56-4f50-ab65-ca7027d52c75"
    assert classify(mws) == "clock_skew"


# --- headers not signed ---------------------------------------------------------------------
# apache/arrow-rs-object-store#484 (verbatim Code/Message/HeadersNotSigned).
S3_HEADERS_NOT_SIGNED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n\t<Code>AccessDenied</Code>\n\t<Message>'
    "There were headers present in the request which were not signed</Message>\n\t"
    "<HeadersNotSigned>x-amz-meta-s1, x-amz-tagging</HeadersNotSigned>\n\t<RequestId>"
    "1B3A26E9C5461594</RequestId>\n\t<HostId>h</HostId>\n</Error>"
)
# aws/aws-sdk-js#896 (verbatim): `&#11;` is not allowed in XML 1.0, so an XML parser rejects
# this body; the fallback scan must still read it.
S3_HEADERS_NOT_SIGNED_VT = (
    "<Error><Code>AccessDenied</Code><Message>There were headers present in the request which "
    "were not signed</Message><HeadersNotSigned>x-amz-server-side&#11;-encryption&#11;-customer"
    "-algorithm, x-amz-server-side&#11;-encryption&#11;-customer-key, x-amz-server-side&#11;"
    "-encryption&#11;-customer-key-md5</HeadersNotSigned><RequestId>1B3A26E9C5461594</RequestId>"
    "<HostId>V4pnht8YliwpfGEyqenAkeYuamDyRA0oumJx/Tl85Y08oIuiT9064VfRL0CY+IqI</HostId></Error>"
)


def test_headers_not_signed() -> None:
    err = parse(403, S3_HEADERS_NOT_SIGNED)
    assert err.code == "AccessDenied"
    assert err.headers_not_signed == ["x-amz-meta-s1", "x-amz-tagging"]
    assert err.request_id == "1B3A26E9C5461594"
    assert classify(err) == "headers_not_signed"
    vt = parse(403, S3_HEADERS_NOT_SIGNED_VT)
    assert vt.protocol == "s3-xml"
    assert vt.headers_not_signed == [
        "x-amz-server-side\x0b-encryption\x0b-customer-algorithm",
        "x-amz-server-side\x0b-encryption\x0b-customer-key",
        "x-amz-server-side\x0b-encryption\x0b-customer-key-md5",
    ]
    assert vt.extra["HostId"].startswith("V4pnht8Y")
    assert any("not well-formed" in n for n in vt.notes)
    assert classify(vt) == "headers_not_signed"


# --- keys and tokens ------------------------------------------------------------------------
# raster-foundry/raster-foundry#289 (verbatim).
S3_INVALID_ACCESS_KEY_ID = (
    "<Error>\n<Code>InvalidAccessKeyId</Code>\n<Message>The AWS Access Key Id you provided does "
    "not exist in our records.</Message>\n<AWSAccessKeyId>ASIAEXAMPLEPUBLIC003</AWSAccessKeyId>"
    "\n<RequestId>4F2659BDA1E78A41</RequestId>\n<HostId>ewmvzYmgbPxU1kXQzK544DKLcVjOUuhpqfuBIP16"
    "hTWi5EnEq3dCCglVb9tkCYJTwQbUKlFShHU=</HostId>\n</Error>"
)
SESSION_TOKEN = "FwoGZXIvYXdzELn//////////wEaDI0V1oGnnvgvZMm1NSK/ARNXXuAo0DzVe8QNFMUyBuVbn4uK"
# craftcms/aws-s3#182 (verbatim shape; the thread masks the token as XXX).
S3_EXPIRED_TOKEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code><Message>The '
    f"provided token has expired.</Message><Token-0>{SESSION_TOKEN}</Token-0><RequestId>"
    "C043EEA5A00B5DF8</RequestId><HostId>XXX</HostId></Error>"
)
# dvc-s3#25 / aws/aws-sdk-js#3534 (message verbatim), envelope as ExpiredToken above.
S3_INVALID_TOKEN = (
    "<Error><Code>InvalidToken</Code><Message>The provided token is malformed or otherwise "
    f"invalid.</Message><Token-0>{SESSION_TOKEN}</Token-0><RequestId>R</RequestId>"
    "<HostId>H</HostId></Error>"
)
# bustle/aws-sudo#11 (message verbatim), STS JSON-compatible envelope.
JSON_EXPIRED_TOKEN = json.dumps(
    {
        "__type": "com.amazon.coral.service#ExpiredTokenException",
        "message": "The security token included in the request is expired",
    }
)


def test_invalid_access_key_id() -> None:
    err = parse(403, S3_INVALID_ACCESS_KEY_ID)
    assert err.code == "InvalidAccessKeyId"
    assert err.access_key_id == "ASIAEXAMPLEPUBLIC003"
    assert err.request_id == "4F2659BDA1E78A41"
    assert classify(err) == "invalid_access_key"


def test_token_errors_and_token_redaction() -> None:
    err = parse(400, S3_EXPIRED_TOKEN)
    assert err.code == "ExpiredToken"
    assert err.message == "The provided token has expired."
    assert err.request_id == "C043EEA5A00B5DF8"
    assert SESSION_TOKEN not in err.extra["Token-0"]
    assert err.extra["Token-0"].startswith("FwoGZXIv")
    assert f"len {len(SESSION_TOKEN)}" in err.extra["Token-0"]
    assert classify(err) == "expired_token"
    assert SESSION_TOKEN not in json.dumps(err.as_dict())
    inv = parse(400, S3_INVALID_TOKEN)
    assert inv.code == "InvalidToken" and classify(inv) == "invalid_token"
    j = parse(403, JSON_EXPIRED_TOKEN)
    assert j.code == "ExpiredTokenException" and classify(j) == "expired_token"


# --- payload --------------------------------------------------------------------------------
# grosskur/lua-resty-aws#2 (verbatim).
S3_SHA256_MISMATCH = (
    "<Error><Code>XAmzContentSHA256Mismatch</Code><Message>The provided 'x-amz-content-sha256' "
    "header does not match what was computed.</Message><ClientComputedContentSHA256>e3b0c44298"
    "fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</ClientComputedContentSHA256>"
    "<S3ComputedContentSHA256>cbb11b06446575cbbed8bac98b3b23abfcb053c3ce9414d95eaf6d0c4dfc4bd6"
    "</S3ComputedContentSHA256><RequestId>D5BE775ED50BEBFE</RequestId><HostId>Mnd80K6ASh5UMkG9"
    "Zi/38nn6zGwl4AW834aVeNCbvzbGE603SfdjOcxhZjpQua/5oP3BDOVFGHg=</HostId></Error>"
)
# Code/Message/Header verbatim from corpus.md and aws/aws-sdk-js-v3#3403; S3 envelope.
S3_NOT_IMPLEMENTED_TE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code><Message>A '
    "header you provided implies functionality that is not implemented</Message><Header>"
    "Transfer-Encoding</Header><RequestId>5E3F2D1C0B9A8776</RequestId><HostId>h</HostId></Error>"
)


def test_payload_hash_mismatch() -> None:
    err = parse(400, S3_SHA256_MISMATCH)
    assert err.code == "XAmzContentSHA256Mismatch"
    assert err.client_sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert err.server_sha256 == "cbb11b06446575cbbed8bac98b3b23abfcb053c3ce9414d95eaf6d0c4dfc4bd6"
    assert err.request_id == "D5BE775ED50BEBFE"
    assert classify(err) == "payload_hash_mismatch"


def test_not_implemented_transfer_encoding() -> None:
    err = parse(501, S3_NOT_IMPLEMENTED_TE)
    assert err.code == "NotImplemented"
    assert err.header_named == "Transfer-Encoding"
    assert err.request_id == "5E3F2D1C0B9A8776"
    assert classify(err) == "transfer_encoding_unsupported"
    other = S3_NOT_IMPLEMENTED_TE.replace("Transfer-Encoding", "x-amz-checksum-crc32")
    assert classify(parse(501, other)) == "other"


# --- missing authentication -----------------------------------------------------------------
# API Gateway: body {"message":"Missing Authentication Token"} with the x-amzn-ErrorType header
# (amzn/selling-partner-api-models#749 names the header); the XML rendering from
# common-voice/common-voice#1599 (verbatim); the STS form from
# amzn/selling-partner-api-docs#3081 (verbatim).
APIGW_MISSING_TOKEN = '{"message":"Missing Authentication Token"}'
APIGW_MISSING_TOKEN_XML = (
    "<MissingAuthenticationTokenException>\n  <Message>Missing Authentication Token</Message>\n"
    "</MissingAuthenticationTokenException>\n"
)
STS_MISSING_TOKEN = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <Error>\n    '
    "<Type>Sender</Type>\n    <Code>MissingAuthenticationToken</Code>\n    <Message>Request is "
    "missing Authentication Token</Message>\n  </Error>\n  <RequestId>89b682e5-ac18-4fac-a917-"
    "2155723ed59b</RequestId>\n</ErrorResponse>"
)


def test_missing_authentication_token() -> None:
    err = parse(
        403, APIGW_MISSING_TOKEN, [("x-amzn-ErrorType", "MissingAuthenticationTokenException")]
    )
    assert err.protocol == "json"
    assert err.code == "MissingAuthenticationTokenException"
    assert err.message == "Missing Authentication Token"
    assert classify(err) == "missing_authentication"
    xml = parse(403, APIGW_MISSING_TOKEN_XML)
    assert xml.code == "MissingAuthenticationTokenException"
    assert xml.message == "Missing Authentication Token"
    assert classify(xml) == "missing_authentication"
    sts = parse(403, STS_MISSING_TOKEN)
    assert sts.protocol == "query-xml" and sts.code == "MissingAuthenticationToken"
    assert sts.request_id == "89b682e5-ac18-4fac-a917-2155723ed59b"
    assert classify(sts) == "missing_authentication"


# --- header-only and body-less answers ------------------------------------------------------


def test_header_only_and_bodyless() -> None:
    err = parse(
        403,
        b"",
        [
            ("x-amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/"),
            ("x-amzn-RequestId", "rid-1"),
        ],
    )
    assert err.protocol == "unknown"
    assert err.code == "InvalidSignatureException"
    assert err.request_id == "rid-1"
    assert classify(err) == "signature_mismatch"
    head = parse(403, None, [("x-amz-request-id", "HEADRID")])
    assert head.code == "403" and head.message == "Forbidden"
    assert head.request_id == "HEADRID"
    assert classify(head) == "permission_denied"


def test_non_errors_and_foreign_bodies_are_none() -> None:
    assert parse_error_response(200, [], S3_SIGNATURE_DOES_NOT_MATCH.encode()) is None
    assert parse_error_response(301, [], b"<Error><Code>PermanentRedirect</Code></Error>") is None
    assert parse_error_response(403, [], b"<html><body>403 Forbidden</body></html>") is None
    assert parse_error_response(500, [], b'{"foo": 1}') is None
    assert parse_error_response(502, [], b"Bad gateway") is None
    assert parse_error_response(403, [], b"\xff\xfe\x00garbage") is None


# --- permission denials ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (
            403,
            "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R"
            "</RequestId><HostId>H</HostId></Error>",
            [],
        ),
        (
            400,
            '{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: '
            "arn:aws:iam::123456789012:user/x is not authorized to perform: "
            'dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t"}',
            [],
        ),
        (
            403,
            "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not "
            "authorized to perform this operation.</Message></Error></Errors><RequestID>r"
            "</RequestID></Response>",
            [],
        ),
        (
            401,
            '{"Message":"User: anonymous is not authorized to perform: execute-api:Invoke on '
            'resource: arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/x"}',
            [],
        ),
        (403, '{"message":"Forbidden"}', [("x-amzn-ErrorType", "ForbiddenException")]),
    ],
)
def test_permission_denied(status: int, body: str, headers: list[tuple[str, str]]) -> None:
    assert classify(parse(status, body, headers)) == "permission_denied"


# --- robustness -----------------------------------------------------------------------------


def test_doctype_refused_no_entity_expansion() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        "<Error><Code>&lol2;</Code><Message>x</Message></Error>"
    )
    err = parse(403, laughs)
    assert err.code == "&lol2;"
    assert any("DOCTYPE" in n for n in err.notes)


def test_truncated_and_huge_bodies() -> None:
    cut = S3_SIGNATURE_DOES_NOT_MATCH[
        : S3_SIGNATURE_DOES_NOT_MATCH.index("<CanonicalRequestBytes>")
    ]
    err = parse(403, cut[:-40])
    assert err.code == "SignatureDoesNotMatch"
    assert err.canonical_request is not None and err.canonical_request.startswith("GET\n/photos")
    assert any("truncated" in n for n in err.notes)
    huge = S3_SIGNATURE_DOES_NOT_MATCH.replace("<HostId>", "<HostId>" + "A" * (MAX_BODY + 10))
    big = parse(403, huge)
    assert big.code == "SignatureDoesNotMatch"
    assert any("only the first" in n for n in big.notes)
    broken_json = JSON_SIGNATURE_EXPIRED[:-10]
    assert parse(400, broken_json).code == "InvalidSignatureException"


def test_as_dict_is_json_and_redacted() -> None:
    err = parse(403, S3_SIGNATURE_DOES_NOT_MATCH)
    d = err.as_dict()
    text = json.dumps(d)
    assert S3_TOKEN not in text
    assert d["signature_provided"] == fingerprint(err.signature_provided or "")
    assert d["classification"] == "signature_mismatch"
    assert d["canonical_request"].startswith("GET\n/photos/8388608.test\n")
    skew = parse(403, S3_REQUEST_TIME_TOO_SKEWED).as_dict()
    assert skew["server_time"] == "2025-09-03T16:21:50Z"
    assert skew["request_time"] == "2025-09-01T16:21:48Z"


# --- diffs ----------------------------------------------------------------------------------
LOCAL_CREQ = (
    "PUT\n/bucket/key.csv\nprefix=a%20b&uploads=\n"
    "content-type:text/csv\nhost:bucket.s3.amazonaws.com\n"
    "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20240101T000000Z\n"
    f"x-amz-security-token:{S3_TOKEN}\n\n"
    "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD"
)
SERVER_CREQ = (
    "PUT\n/bucket/key.csv\nprefix=a%2Bb&uploads=\n"
    "host:bucket.s3.amazonaws.com:443\n"
    "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20240101T000000Z\n"
    f"x-amz-security-token:{S3_TOKEN}X\n\n"
    "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)


def test_canonical_diff_parts() -> None:
    diff = canonical_diff(LOCAL_CREQ, SERVER_CREQ)
    by = {(d["part"], d["name"]): d for d in diff}
    assert by[("query", "prefix")] == {
        "part": "query",
        "name": "prefix",
        "local": "a%20b",
        "server": "a%2Bb",
    }
    assert ("query", "uploads") not in by
    assert by[("header", "content-type")] == {
        "part": "header",
        "name": "content-type",
        "local": "text/csv",
        "server": None,
    }
    assert by[("header", "host")]["local"] == "bucket.s3.amazonaws.com"
    assert by[("header", "host")]["server"] == "bucket.s3.amazonaws.com:443"
    assert by[("payload", None)] == {
        "part": "payload",
        "name": None,
        "local": "UNSIGNED-PAYLOAD",
        "server": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
    tok = by[("header", "x-amz-security-token")]
    assert S3_TOKEN not in json.dumps(tok)
    assert tok["local"] != tok["server"]
    assert [d["part"] for d in diff] == ["query", "header", "header", "header", "payload"]
    assert ("uri", None) not in by and ("method", None) not in by


def test_canonical_diff_uri_order_and_fallback() -> None:
    assert canonical_diff(LOCAL_CREQ, LOCAL_CREQ) == []
    uri = canonical_diff(LOCAL_CREQ, LOCAL_CREQ.replace("/key.csv", "/key%2Ecsv"))
    assert uri == [
        {"part": "uri", "name": None, "local": "/bucket/key.csv", "server": "/bucket/key%2Ecsv"}
    ]
    order = canonical_diff(
        LOCAL_CREQ, LOCAL_CREQ.replace("prefix=a%20b&uploads=", "uploads=&prefix=a%20b")
    )
    assert order == [
        {
            "part": "query",
            "name": None,
            "local": "prefix=a%20b&uploads=",
            "server": "uploads=&prefix=a%20b",
        }
    ]
    lines = canonical_diff("GET\n/\n", "GET\n/x\n")
    assert lines == [{"part": "line", "name": "2", "local": "/", "server": "/x"}]
    # The S3 echo against a local computation whose range header was emptied on the way.
    local = S3_CREQ.replace("range:", "range:bytes=0-1023")
    server = parse(403, S3_SIGNATURE_DOES_NOT_MATCH).canonical_request or ""
    assert canonical_diff(local, server) == [
        {"part": "header", "name": "range", "local": "bytes=0-1023", "server": ""}
    ]


def test_string_to_sign_diff() -> None:
    server = ES_STS
    local = ES_STS.replace("20160210T173713Z", "20160210T173714Z").replace(
        "us-east-1/es", "us-west-2/es"
    )
    diff = string_to_sign_diff(local, server)
    assert diff == [
        {"part": "date", "name": None, "local": "20160210T173714Z", "server": "20160210T173713Z"},
        {"part": "scope", "name": "region", "local": "us-west-2", "server": "us-east-1"},
    ]
    hashed = string_to_sign_diff(ES_STS[:-1] + "0", ES_STS)
    assert [d["part"] for d in hashed] == ["hash"]
    assert string_to_sign_diff(ES_STS, ES_STS) == []
    algo = string_to_sign_diff(ES_STS.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"), ES_STS)
    assert algo[0]["part"] == "algorithm"


# --- fuzzing --------------------------------------------------------------------------------
_TAGS = st.sampled_from(
    [
        "Error",
        "ErrorResponse",
        "Response",
        "Errors",
        "Code",
        "Message",
        "CanonicalRequest",
        "CanonicalRequestBytes",
        "StringToSignBytes",
        "ServerTime",
        "MaxAllowedSkewMilliseconds",
        "HeadersNotSigned",
        "Token-0",
        "x",
    ]
)
_XMLISH = st.lists(
    st.one_of(
        _TAGS.map(lambda t: f"<{t}>"),
        _TAGS.map(lambda t: f"</{t}>"),
        st.text(max_size=30),
        st.sampled_from(
            ["&amp;", "&#11;", "&#x110000;", "<!DOCTYPE x>", "<?xml version='1.0'?>", "<", "]]>"]
        ),
    ),
    max_size=40,
).map("".join)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["__type", "code", "Code", "message", "Message", "Error", "errors", "x"]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
).map(json.dumps)
_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            ["x-amzn-ErrorType", "Date", "x-amz-request-id", "x-amz-bucket-region", "x"]
        ),
        st.text(max_size=40),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    status=st.one_of(st.integers(min_value=-5, max_value=700), st.sampled_from([400, 403, 500])),
    headers=_HEADERS,
    body=st.one_of(
        st.binary(max_size=300),
        _XMLISH.map(lambda s: s.encode("utf-8", "surrogatepass")),
        _JSON.map(str.encode),
        st.none(),
    ),
)
def test_never_raises(status: int, headers: list[tuple[str, str]], body: bytes | None) -> None:
    err = parse_error_response(status, headers, body)
    if err is None:
        return
    assert 400 <= err.status <= 599
    assert classify(err) in CLASSIFICATIONS
    json.dumps(err.as_dict())
    if err.canonical_request is not None:
        canonical_diff(err.canonical_request, err.canonical_request + "\nx")
    if err.string_to_sign is not None:
        string_to_sign_diff(err.string_to_sign, "AWS4-HMAC-SHA256\nx\ny/z\nh")
