"""Authorization parsing never raises and says precisely what is wrong; endpoint inference
from botocore's data says nothing rather than guess."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sigv4_inspector.core import rules
from sigv4_inspector.core.authparse import parse_auth
from sigv4_inspector.core.codes import Code
from sigv4_inspector.core.inspect import inspect_request
from sigv4_inspector.core.model import (
    DictKeyring,
    Finding,
    ParsedAuth,
    Verdict,
    Verification,
    WireRequest,
    aws_header_digest,
)
from sigv4_inspector.core.rules import Response
from sigv4_inspector.runtime.endpoints import botocore_endpoints

host_info = botocore_endpoints().host_info
looks_like_region = botocore_endpoints().looks_like_region

GOOD = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "a" * 64
)


def req(auth: str) -> WireRequest:
    return WireRequest.build(
        "GET",
        "/",
        [
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
            ("Authorization", auth),
        ],
        b"",
    )


@pytest.mark.parametrize(
    "auth,expect",
    [
        (
            GOOD.replace("Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ", ""),
            "requires 'Credential'",
        ),
        (GOOD.replace("SignedHeaders=host;x-amz-date, ", ""), "requires 'SignedHeaders'"),
        (GOOD.replace(", Signature=" + "a" * 64, ""), "requires 'Signature'"),
        (GOOD.replace("SignedHeaders=", "SignedHeaders"), "has no '='"),
        (GOOD.replace("us-east-1/service/", "service/"), "is not a valid scope"),
        (GOOD.replace("20150830/", "2015-08-30/"), "is not YYYYMMDD"),
        (GOOD.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), "Unsupported AWS 'algorithm'"),
    ],
)
def test_malformed_authorization_is_named(auth: str, expect: str) -> None:
    a = parse_auth(req(auth))
    assert a.malformed and expect in (a.error or ""), a.error
    now = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
    insp = inspect_request(
        req(auth), DictKeyring(), flow_id="m", url="https://x/", seen_at=now, now=now
    )
    assert insp.verification.verdict == "invalid"
    f = next(f for f in insp.findings if f.code == "MALFORMED_AUTHORIZATION")
    if a.location == "header":
        assert f.evidence["authorization_sha256_b64"] == aws_header_digest(auth)


@pytest.mark.parametrize(
    "auth", ["", "Bearer abc", "Basic dXNlcjpwdw==", "AWS", "AWS4-", "\x00\xff", "AWS4-HMAC-SHA256"]
)
def test_odd_headers_never_raise(auth: str) -> None:
    a = parse_auth(req(auth))
    assert a.scheme in ("none", "sigv4", "sigv4a", "sigv2")


def test_query_auth_missing_parts() -> None:
    r = WireRequest.build(
        "GET",
        "/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
        [("Host", "b.s3.amazonaws.com")],
        b"",
    )
    a = parse_auth(r)
    assert a.location == "query" and a.malformed and "X-Amz-Credential" in (a.error or "")


@pytest.mark.parametrize(
    "host,service,region",
    [
        ("s3.amazonaws.com", "s3", "us-east-1"),
        ("bucket.s3.eu-west-1.amazonaws.com", "s3", "eu-west-1"),
        ("bucket.s3.amazonaws.com", "s3", None),  # global virtual-host name: region unknown
        ("bucket.s3-accelerate.amazonaws.com", "s3", None),
        ("s3.dualstack.us-east-2.amazonaws.com", "s3", "us-east-2"),
        ("ap-123456789012.s3-accesspoint.us-west-2.amazonaws.com", "s3", "us-west-2"),
        ("kms-fips.us-east-1.amazonaws.com", "kms", "us-east-1"),
        ("email.us-west-2.amazonaws.com", "ses", "us-west-2"),
        ("abc.execute-api.eu-central-1.amazonaws.com", "execute-api", "eu-central-1"),
        ("search-d.eu-west-1.es.amazonaws.com", "es", "eu-west-1"),
        ("x.us-east-1.aoss.amazonaws.com", "aoss", "us-east-1"),
        ("sts.amazonaws.com", "sts", "us-east-1"),
        ("minio.internal:9000", None, None),
        ("127.0.0.1:9000", None, None),
    ],
)
def test_host_info(host: str, service: str | None, region: str | None) -> None:
    info = host_info(host)
    assert (info.service, info.region) == (service, region)


@pytest.mark.parametrize(
    "label,is_region",
    [
        ("us-east-1", True),
        ("cn-northwest-1", True),
        ("us-gov-west-1", True),
        ("us-isob-east-1", True),
        ("eusc-de-east-1", True),  # a partition botocore's partitions data names
        ("s3", False),
        ("dualstack", False),
        ("us-east", False),
    ],
)
def test_region_labels_of_every_partition(label: str, is_region: bool) -> None:
    assert looks_like_region(label) is is_region


def test_mrap_host() -> None:
    assert host_info("mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com").mrap


def test_with_payload_copies_every_field() -> None:
    """``ParsedAuth.with_payload`` names the fields one by one (for speed): a field added
    to ParsedAuth and forgotten there fails here."""
    values = {f.name: f"value-{f.name}" for f in dataclasses.fields(ParsedAuth)}
    auth = ParsedAuth(**values)  # type: ignore[arg-type]
    assert auth.with_payload("UNSIGNED-PAYLOAD") == dataclasses.replace(
        auth, payload="UNSIGNED-PAYLOAD"
    )


def test_header_index_keeps_case_insensitive_order_and_repeats() -> None:
    req = WireRequest.build(
        "GET", "/", [("X-Amz-Date", "1"), ("Host", "h"), ("x-amz-date", "2"), ("X-Amz-Meta-A", "")]
    )
    assert list(req.header_names()) == ["x-amz-date", "host", "x-amz-meta-a"]
    assert req.header("X-AMZ-DATE") == "1,2"
    assert req.header("absent") is None
    resp = Response(403, [("Date", "a"), ("Via", "1.1 x"), ("date", "b")])
    assert resp.header("DATE") == "a,b" and resp.header("via") == "1.1 x"
    assert resp.header("server") is None


def test_a_rule_is_bounded_and_a_broken_rule_leaves_only_its_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """diagnose takes at most MAX_PER_RULE findings of a rule and notes the bound; a rule
    that fails part-way adds none of its own findings, only the CHECK_UNAVAILABLE that
    names it, and the rules after it still run."""

    def many(ctx: rules.Context) -> Iterator[Finding]:
        for i in range(rules.MAX_PER_RULE + 5):
            yield Finding(str(Code.CLOCK_SKEW), "info", f"many {i}", "", {})

    def broken(ctx: rules.Context) -> Iterator[Finding]:
        yield Finding(str(Code.CLOCK_SKEW), "info", "half", "", {})
        raise ValueError("boom")

    def after(ctx: rules.Context) -> Iterator[Finding]:
        yield Finding(str(Code.CLOCK_SKEW), "info", "after", "", {})

    monkeypatch.setattr(rules, "_rules_for", lambda have: (many, broken, after))
    r = req(GOOD)
    ctx = rules.Context(
        r, Verification(Verdict.VALID, parse_auth(r)), datetime(2015, 8, 30, tzinfo=UTC)
    )
    got = rules.diagnose(ctx)
    messages = [f.message for f in got]
    assert messages[: rules.MAX_PER_RULE] == [f"many {i}" for i in range(rules.MAX_PER_RULE)]
    assert ctx.limits == [f"many stopped after {rules.MAX_PER_RULE} findings"]
    assert "half" not in messages
    assert got[rules.MAX_PER_RULE].code == "CHECK_UNAVAILABLE"
    assert "The rule broken failed on this flow (ValueError)" in got[rules.MAX_PER_RULE].message
    assert messages[rules.MAX_PER_RULE + 1 :] == ["after"]
