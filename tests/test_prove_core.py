"""core/prove.py, pure: the change planned from a record, and requests re-signed here
verify the way AWS computes (the core's own verification, the AWS model)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.prove import plan_proof
from sigv4_inspector.core.verify import verify
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing, presigned

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def run(req: WireRequest, **kw: Any) -> Any:
    return inspect_at_signing(req, KEYRING, **kw)


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def lookup(akid: str) -> Credential | None:
    return KEYRING.lookup(akid)


def test_missing_signed_header_is_added_without_resigning() -> None:
    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(signature_version="s3v4"),
    )
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k.csv", "ContentType": "text/csv"}
    )
    req = presigned(url, "PUT")
    insp = run(req)
    plan = plan_proof(insp.record, req, now=NOW, lookup=lookup)
    assert plan.provable and not plan.resigned and plan.request is not None
    assert plan.request.header("content-type") == "text/csv"
    assert plan.request.target == req.target  # the URL is untouched
    assert verify(plan.request, KEYRING, now=datetime.now(UTC)).verdict == "valid"


@pytest.mark.parametrize("location", ["header", "query"])
def test_resigned_requests_verify(location: str) -> None:
    from sigv4_inspector.core.prove import _Signing, resign

    req = capture("s3", lambda c: c.get_object(Bucket="bucket", Key="a b+c*.txt"))
    cred = KEYRING.lookup(AKID)
    assert cred is not None
    out, fp = resign(req, _Signing(cred, "us-east-1", "s3", NOW), location=location)
    assert fp.startswith("sha256:") and out.target.startswith(req.path)
    assert verify(out, KEYRING, now=NOW).verdict == "valid"


def test_clock_skew_is_redated_on_the_servers_clock() -> None:
    req = capture("sts", lambda c: c.get_caller_identity())
    sent = datetime.strptime(req.header("x-amz-date") or "", "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    rec = run(req).record
    rec["headline"] = {"code": "CLOCK_SKEW", "severity": "error", "message": "m", "fix": ""}
    rec["findings"] = [
        {**rec["headline"], "evidence": {"skew_seconds": -1200, "reference": "server Date header"}}
    ]
    plan = plan_proof(rec, req, now=sent + timedelta(seconds=30), lookup=lookup)
    assert plan.provable and plan.resigned and plan.request is not None
    fresh = plan.request.header("x-amz-date")
    assert fresh == (sent + timedelta(seconds=1230)).strftime("%Y%m%dT%H%M%SZ")
    assert verify(plan.request, KEYRING, now=sent + timedelta(seconds=1230)).verdict == "valid"


def test_unknown_key_and_unprovable_codes_say_why() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), key="AKIDUNKNOWNUNKNOWN00")
    rec = run(req).record
    plan = plan_proof(rec, req, now=NOW, lookup=lookup)
    assert not plan.provable and "no secret is known" in plan.reason
    rec["headline"] = {"code": "PRESIGN_EXPIRED", "severity": "error", "message": "m", "fix": ""}
    plan = plan_proof(rec, req, now=NOW, lookup=lookup)
    assert not plan.provable and "new presigned URL" in plan.reason
