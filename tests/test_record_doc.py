"""docs/record.md (the record's ``evidence`` keys per finding code) is what
``python -m sigv4_inspector.recorddoc`` writes from the code that emits the findings, and
real records carry no key it does not list."""

from __future__ import annotations

from typing import Any

from sigv4_inspector.core.codes import Code
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.rules import ProxyChange
from sigv4_inspector.recorddoc import KEY_DOCS, evidence_by_code, render, undocumented
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.signing import AKID, SECRET, capture, inspect_at_signing

KEYRING = DictKeyring([Credential(AKID, SECRET, source="profile:test")])


def run(req: WireRequest, **kw: Any) -> Any:
    return inspect_at_signing(req, KEYRING, **kw)


def test_docs_record_md_is_generated_from_the_rules() -> None:
    text = (ROOT / "docs" / "record.md").read_text()
    assert text == render(), (
        "docs/record.md is out of date: run .venv/bin/python -m sigv4_inspector.recorddoc > docs/record.md"
    )
    for code in Code:
        assert f"| `{code.value}` |" in text
    table = evidence_by_code()
    assert {"header", "value", "where"} <= table["SIGNED_HEADER_MISSING"][1]
    assert "server_canonical_request" in table["SERVER_CANONICAL_DIFF"][1]
    assert {"signed_value", "value_here", "variant", "tried"} <= table["HEADER_MODIFIED"][1]
    assert all(KEY_DOCS[k] for _, keys in table.values() for k in keys)


def test_records_carry_only_documented_keys() -> None:
    reqs: list[tuple[WireRequest, dict[str, Any]]] = []
    s3 = capture("s3", lambda c: c.put_object(Bucket="b", Key="k a+b", Body=b"abc"))
    reqs.append((s3, {}))
    bad = WireRequest.build(s3.method, s3.target, s3.headers + (("X-Amz-Acl", "x"),), b"abd")
    reqs.append((bad, {}))
    ddb = capture("dynamodb", lambda c: c.list_tables())
    change = ProxyChange("header", "x-amz-target", "a", "b", "another addon", True)
    reqs.append((ddb, {"proxy_changes": [change]}))
    reqs.append((capture("s3", lambda c: c.list_buckets(), region="eu-west-1"), {}))
    records = [run(r, **kw).record for r, kw in reqs]
    assert sum(len(r["findings"]) for r in records) >= 4
    assert undocumented(records) == []
