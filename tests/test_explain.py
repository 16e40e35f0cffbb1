"""The AWS Signature view's text (core/explain.py): headline and fix first, every line
within the width, and the canonical request beside what it is compared with, the
differing rows marked: the server's echo (token redacted), what went upstream after the
proxy's change, what the signer signed."""

from __future__ import annotations

from typing import Any

from sigv4_inspector.core.explain import DIFF_MARK, comparison, explain_record
from sigv4_inspector.core.inspect import parse_response
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.rules import ProxyChange
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing, to_wire

TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN" + "Z" * 300
KEYRING = DictKeyring(
    [
        Credential(AKID, SECRET, source="profile:test"),
        Credential("ASIAEXAMPLEEXAMPLE01", SECRET, TOKEN, source="profile:temp"),
    ]
)


def run(req: WireRequest, **kw: Any) -> Any:
    return inspect_at_signing(req, KEYRING, **kw)


def _marked(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(DIFF_MARK + " ")]


def _s3_echo(creq: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match the signature you "
        f"provided. Check your key and signing method.</Message><CanonicalRequest>{creq}"
        "</CanonicalRequest><RequestId>R</RequestId></Error>"
    ).encode()


def test_server_echo_beside_the_client_with_the_token_redacted() -> None:
    req = capture(
        "s3",
        lambda c: c.put_object(Bucket="bucket", Key="k", Body=b"abc", ContentType="text/csv"),
        key="ASIAEXAMPLEEXAMPLE01",
        token=TOKEN,
    )
    insp = run(req)
    local = insp.record["canonical_request"]
    assert local and TOKEN not in local
    # the server saw another Content-Type (a hop rewrote it) and echoes the raw token
    creq = insp.verification.canonical_request.replace(
        "content-type:text/csv", "content-type:application/octet-stream"
    )
    assert TOKEN in creq
    insp = run(req, response=parse_response(403, [], _s3_echo(creq)))
    rec = insp.record
    echo = next(f for f in rec["findings"] if f["code"] == "SERVER_CANONICAL_DIFF")
    server = echo["evidence"]["server_canonical_request"]
    assert "content-type:application/octet-stream" in server
    assert TOKEN[:20] not in server and TOKEN[:20] not in str(rec)
    comp = comparison(rec)
    assert comp is not None and "echoed" in comp.right_title
    text = explain_record(rec, width=84)
    marked = _marked(text)
    assert len(marked) == 1, marked
    assert "content-type:text/csv" in marked[0] and "content-type:applicati" in marked[0]
    assert all(len(line) <= 84 for line in text.splitlines())
    assert TOKEN[:20] not in text
    # the token line itself is shown the same on both sides: no false difference
    assert any("x-amz-security-token:[token" in line for line in text.splitlines())


def test_what_went_upstream_after_the_proxys_change() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    change = ProxyChange(
        "header", "x-amz-target", "DynamoDB_20120810.ListTables", "x", "modify_headers option", True
    )
    rec = run(req, proxy_changes=[change]).record
    assert rec["headline"]["code"] == "HEADER_MODIFIED"
    text = explain_record(rec)
    assert text.splitlines()[0] == "HEADER_MODIFIED (error)"
    assert "what went upstream" in text and "modify_headers option" in text
    marked = _marked(text)
    assert len(marked) == 1 and "x-amz-target:DynamoDB_20120810.ListTables" in marked[0]
    assert marked[0].rstrip().endswith("x-amz-target:x")


def test_what_the_signer_signed_beside_what_aws_computes() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    # a signer that leaves '*' raw in the query: the signature matches only its form
    url = "https://sqs.us-east-1.amazonaws.com/?Action=ListQueues&QueueNamePrefix=a%2Ab"
    areq = AWSRequest("GET", url, headers={"X-Amz-Date": "20250101T000000Z"})
    auth = SigV4Auth(Credentials(AKID, SECRET), "sqs", "us-east-1")
    auth._timestamp = lambda: "20250101T000000Z"
    orig = auth.canonical_query_string
    auth.canonical_query_string = lambda r: orig(r).replace("%2A", "*")
    auth.add_auth(areq)
    rec = run(to_wire("GET", url, areq.headers, b"")).record
    assert rec["headline"]["code"] == "QUERY_ENCODING", rec["headline"]
    text = explain_record(rec)
    assert "what the client's signer signed" in text and "what AWS computes" in text
    marked = _marked(text)
    assert len(marked) == 1 and "a*b" in marked[0] and "a%2Ab" in marked[0]


def test_valid_request_has_no_comparison_and_fits() -> None:
    rec = run(capture("sts", lambda c: c.get_caller_identity())).record
    assert comparison(rec) is None
    text = explain_record(rec, width=60)
    assert text.startswith("No findings: the request is valid.")
    assert all(len(line) <= 60 for line in text.splitlines())


def test_hostile_record_is_bounded() -> None:
    rec: dict[str, Any] = {
        "verdict": "invalid",
        "canonical_request": "GET\n/" + "a" * 100_000 + "\n\n" + "h:v\n" * 5000 + "\nh\nUNSIGNED",
        "headline": {"code": "SIGNED_HEADER_MISSING", "message": "m" * 5000, "fix": "f"},
        "findings": [
            {
                "code": "SIGNED_HEADER_MISSING",
                "severity": "error",
                "message": "m",
                "fix": "",
                "evidence": {"header": "x-y", "value": "v" * 3000},
            }
        ],
    }
    text = explain_record(rec)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert len(text) < 400_000
