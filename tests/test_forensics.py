"""The variant search names the mistake that reproduces a signature (issue: diagnosis by
search), for requests signed by real boto3 clients and then altered the way real hops and
libraries alter them."""

from __future__ import annotations

from typing import Any

import pytest

from sigv4_inspector.core.dates import parse_amz_date
from sigv4_inspector.core.inspect import Inspection
from sigv4_inspector.core.model import Credential, DictKeyring, Finding, WireRequest
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def inspect(req: WireRequest, keyring: DictKeyring = KEYRING) -> Inspection:
    return inspect_at_signing(req, keyring)


def _alter(
    req: WireRequest, *, target: str | None = None, header: tuple[str, str] | None = None
) -> WireRequest:
    headers = list(req.headers)
    if header:
        headers = [(k, header[1] if k.lower() == header[0] else v) for k, v in headers]
    return WireRequest.build(
        req.method, target or req.target, headers, req.body, authority=req.authority
    )


def finding(insp: Inspection, code: str) -> Finding:
    return next(f for f in insp.findings if f.code == code)


def test_host_port_added_by_a_hop() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    insp = inspect(_alter(req, header=("host", req.host + ":443")))
    f = finding(insp, "HOST_MISMATCH")
    assert f.evidence["where"] == "inferred" and f.evidence["signed_host"] == req.host
    assert "SIGNATURE_MISMATCH" not in {x.code for x in insp.findings}


def test_plus_for_space_in_the_path() -> None:
    # not S3, which reads a raw '+' as a space (awsmodel E3); API Gateway encodes it again
    req = capture("apigateway", lambda c: c.get_rest_api(restApiId="a b"))
    assert "%20" in req.target
    insp = inspect(_alter(req, target=req.target.replace("%20", "+")))
    f = finding(insp, "URI_ENCODING")
    assert "'%20' where the request has '+'" in f.message


def _charset_altered() -> tuple[WireRequest, str]:
    """A signed DynamoDB request whose Content-Type a hop extended with a charset, and
    the value signed."""
    req = capture("dynamodb", lambda c: c.list_tables())
    ct = req.header("content-type")
    assert ct is not None
    return _alter(req, header=("content-type", ct + "; charset=UTF-8")), ct


def test_charset_added_to_content_type() -> None:
    req, ct = _charset_altered()
    insp = inspect(req)
    f = finding(insp, "HEADER_MODIFIED")
    assert f.evidence["header"] == "content-type" and f.evidence["signed_value"] == ct


def test_secret_with_trailing_newline() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), secret=SECRET + "\n")
    insp = inspect(req)
    f = finding(insp, "SECRET_MISMATCH")
    assert "trailing newline" in f.message
    assert SECRET not in str(insp.record)


def test_body_changed_after_signing() -> None:
    req = capture("dynamodb", lambda c: c.list_tables())
    changed = WireRequest.build(
        req.method, req.target, req.headers, b'{"Limit": 1}', authority=req.authority
    )
    insp = inspect(changed)
    assert insp.verification.verdict == "invalid"
    assert "PAYLOAD_HASH_MISMATCH" in {f.code for f in insp.findings}


def test_unexplained_mismatch_stays_generic() -> None:
    req = capture("sts", lambda c: c.get_caller_identity(), secret="another-secret-entirely")
    insp = inspect(req)
    assert "SIGNATURE_MISMATCH" in {f.code for f in insp.findings}
    assert insp.forensic is not None
    assert insp.forensic.explained is False and insp.forensic.tried > 10


def test_the_search_is_bounded_by_count_not_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search reads no clock: its bounds are counts (variants tried, bytes hashed), so
    a flow gets the same diagnosis however busy the machine is. With the variant bound
    below the right candidate, it stops, says so, and the verdict stands."""
    import sigv4_inspector.core.forensics as fz

    assert not hasattr(fz, "time")
    req, ct = _charset_altered()
    insp = inspect(req)
    assert insp.forensic is not None and insp.forensic.truncated is False
    f = finding(insp, "HEADER_MODIFIED")
    assert f.evidence["header"] == "content-type" and f.evidence["signed_value"] == ct
    monkeypatch.setattr(fz, "MAX_VARIANTS", 1)
    insp = inspect(req)
    fzr = insp.forensic
    assert fzr is not None and fzr.truncated is True and fzr.tried == 1 and fzr.explained is False
    assert "HEADER_MODIFIED" not in {x.code for x in insp.findings}
    assert "ANALYSIS_BUDGET_EXCEEDED" in {x.code for x in insp.findings}
    assert insp.verification.verdict == "invalid"


def test_the_secret_variants_run_even_when_the_byte_budget_is_spent(
    monkeypatch: Any,
) -> None:
    """A secret read with a trailing newline is still found when every canonical-request
    variant is over the byte budget: those variants hash nothing new (review finding)."""
    from sigv4_inspector.core import forensics as fz
    from sigv4_inspector.core.model import Credential, DictKeyring
    from sigv4_inspector.core.verify import verify
    from sigv4_testsupport.signing import AKID, SECRET, capture

    monkeypatch.setattr(fz, "MAX_SEARCH_BYTES", 1)
    req = capture("dynamodb", lambda c: c.list_tables(), key=AKID, secret=SECRET + "\n")
    v = verify(
        req, DictKeyring([Credential(AKID, SECRET)]), now=parse_amz_date(req.header("x-amz-date"))
    )
    r = fz.search(req, v, Credential(AKID, SECRET))
    assert r.explained and r.kind == "secret" and r.truncated
