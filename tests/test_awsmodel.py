"""The model of AWS's servers (``sigv4_inspector.core.awsmodel``) against the evidence table of
docs/aws-canonicalization.md ("Test cases: what AWS computes"): each row is a request as it
was on the wire and the canonical URI and query that an AWS echo, an AWS test vector or an
AWS document shows for it."""

from __future__ import annotations

import pytest

from sigv4_inspector.core import awsmodel

# (row, service is S3, raw path, raw query, canonical URI, canonical query, source)
CASES = [
    (1, True, "/lasca-prod/data/asset_id=my-asset/dt=2024-05-22/data.parquet", "",
     "/lasca-prod/data/asset_id%3Dmy-asset/dt%3D2024-05-22/data.parquet", "", "curl/curl#13754"),
    (2, True, "/test$file.text", "", "/test%24file.text", "", "S3 PUT Object example"),
    (3, True, "/%3Fa=b%20c", "", "/%3Fa%3Db%20c", "", "aws/aws-sdk-js#853"),
    (4, True, "/test%20file", "", "/test%20file", "", "envoyproxy/envoy#35023"),
    (5, True, "/n+ginx.conf", "", "/n%20ginx.conf", "", "nginx/nginx-s3-gateway#77"),
    (6, True, "/test-bucket/tes+t.tar.gz", "", "/test-bucket/tes%20t.tar.gz", "", "ex-aws/ex_aws#176"),
    (7, True, "/a%2Bb", "", "/a%2Bb", "", "aws/aws-sdk-net#4473"),
    (8, True, "/a%3Db", "", "/a%3Db", "", "aws/aws-sdk-net#4473"),
    (9, True, "//example//", "", "//example//", "", "aws-c-auth get-slashes-unnormalized"),
    (10, True, "/example/..", "", "/example/..", "", "aws-c-auth get-relative-unnormalized"),
    (11, True, "/example space/", "", "/example%20space/", "", "aws-c-auth get-space-unnormalized"),
    (12, True, "/", "lifecycle", "/", "lifecycle=", "S3 example"),
    (13, True, "/", "max-keys=2&prefix=J", "/", "max-keys=2&prefix=J", "S3 example"),
    (14, True, "/", "versioning", "/", "versioning=", "xcir/libvmod-awsrest#24"),
    (15, False, "/\u1234", "", "/%E1%88%B4", "", "aws-c-auth get-utf8"),
    (16, False, "/_search/%3Fa=b%20c", "", "/_search/%253Fa%3Db%2520c", "", "aws/aws-sdk-js#853"),
    (17, False, "/*/*/_search/", "", "/%2A/%2A/_search/", "", "mhart/aws4#12"),
    (18, False, "/*_test", "", "/%2A_test", "", "aws-signing-request-interceptor#22"),
    (19, False, "/index-name/_doc/cool_bot!-f9aa@localhost", "",
     "/index-name/_doc/cool_bot%21-f9aa%40localhost", "", "opensearch-project/opensearch-py#833"),
    (20, False, "/_task/taskId%3A123%3Aabc", "", "/_task/taskId%253A123%253Aabc", "", "okigan/awscurl#33"),
    (21, False, "/example1/example2/../..", "", "/", "", "aws-c-auth get-relative-relative-normalized"),
    (22, False, "//example//", "", "/example/", "", "aws-c-auth get-slashes-normalized"),
    (23, False, "/./example", "", "/example", "", "aws-c-auth get-slash-pointless-dot-normalized"),
    (24, False, "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", "/",
     "%E1%88%B4=Value1&Param=Value2&Param-3=Value3", "aws-c-auth get-vanilla-query-order-encoded"),
    (25, False, "/", "Param1=value2&Param1=Value1", "/", "Param1=Value1&Param1=value2",
     "botocore get-vanilla-query-order-key"),
    (26, False, "/", "\u1234=bar", "/", "%E1%88%B4=bar", "aws-c-auth get-vanilla-utf8-query"),
    (28, False, "/path", "%24filter=id+eq+123", "/path", "%24filter=id%20eq%20123",
     "zirkelc/aws-signature-v4#4"),
    (29, False, "/_search/scroll", "scroll=2m&scroll_id=MDs=&size=1000", "/_search/scroll",
     "scroll=2m&scroll_id=MDs%3D&size=1000", "aws-signing-request-interceptor#17"),
    (30, False, "/_cat/indices", "v", "/_cat/indices", "v=", "curl/curl#8107"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[f"row{c[0]}" for c in CASES])
def test_model_matches_the_evidence(case: tuple[int, bool, str, str, str, str, str]) -> None:
    _, s3, path, query, uri, cquery, source = case
    assert awsmodel.canonical_uri(path, s3=s3) == uri, source
    assert awsmodel.canonical_query(query) == cquery, source


def test_the_2011_suite_reads_a_raw_plus_as_a_space() -> None:
    """Row 27 (AWS's 2011 suite, post-vanilla-query-nonunreserved): a parameter named '+'
    is canonicalised as %20."""
    raw = '@#$%^&+=/,?><`";:\\|][{}'
    assert awsmodel.canonical_query(raw) == (
        "%20=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D&%40%23%24%25%5E="
    )


def test_signer_forms_name_the_raw_characters() -> None:
    """What URI_ENCODING / QUERY_ENCODING messages name: the characters a signer left raw
    and AWS's escapes for them."""
    signed = "prefix=mix%20!'()*"
    aws = awsmodel.canonical_query(signed)
    assert aws == "prefix=mix%20%21%27%28%29%2A"
    assert awsmodel.raw_characters(signed, aws) == [
        ("!", "%21"),
        ("'", "%27"),
        ("(", "%28"),
        (")", "%29"),
        ("*", "%2A"),
    ]
    js = next(f for f in awsmodel.SIGNER_FORMS if f.name == "query:encodeURIComponent")
    assert awsmodel.build_form(js, "/", "prefix=a%21b", (), True) == "prefix=a!b"


def test_token_outside_the_signature_only_for_iot() -> None:
    assert awsmodel.token_outside_signature("iotdevicegateway")
    assert not awsmodel.token_outside_signature("s3")
    assert not awsmodel.token_outside_signature("execute-api")
