"""``sigv4.prove`` against the local endpoint, for each failing scenario of the demo
(scripts/demo.py: the knowledge.md cases): a real mitmdump with the addon (and a test-only
script, tests/prove_trigger.py, that runs the command inside it), real boto3/requests
clients, fakeaws and the misbehaving CDN hop.

Each scenario runs once; then its flow is proven. A diagnosis that names a change must
pass when only that change is replayed (2xx); one that cannot be tested by a change must
say why. Methods other than GET/HEAD wait for the confirmation argument. The replayed
copies are marked, and a saved flow file holds only the fingerprint of the signature the
tool computed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import requests

from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import start_mitmdump

TRIGGER = ROOT / "tests" / "prove_trigger.py"


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sigv4_demo_for_prove", ROOT / "scripts" / "demo.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    mod = _load_demo()
    out = tmp_path_factory.mktemp("prove")
    # the demo's proxies load the trigger script too
    vars(mod)["start_mitmdump"] = lambda tmp, *a, **kw: start_mitmdump(
        tmp, *a, "-s", str(TRIGGER), **kw
    )
    d = mod.Demo(out)
    d.start()
    try:
        yield mod, d
    finally:
        d.stop()


def prove(d: Any, code: str, proxy: str = "main", confirm: bool = False) -> dict[str, Any]:
    p = d.proxies[proxy]
    r = requests.get(
        f"http://sigv4-prove.test/{code}" + ("?confirm=yes" if confirm else ""),
        proxies={"http": p.url},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def run(mod: Any, d: Any, fn: str) -> None:
    d.answer = ""
    getattr(mod, fn)(d)


def test_presigned_put_without_content_type(demo: tuple[Any, Any]) -> None:
    mod, d = demo
    run(mod, d, "presigned_put_no_content_type")
    first = prove(d, "SIGNED_HEADER_MISSING")
    assert first["result"] == "needs confirmation", first  # a PUT
    out = prove(d, "SIGNED_HEADER_MISSING", confirm=True)
    assert out["result"] == "passed", out
    assert out["original_status"].startswith("403") and out["status"].startswith("200")
    assert out["changes"] == ["added Content-Type: text/csv (the value the signature covers)"]
    assert out["resigned"] is False


def test_clock_20_minutes_behind(demo: tuple[Any, Any]) -> None:
    mod, d = demo
    run(mod, d, "clock_skew")
    d.server.clock_offset = 20 * 60  # the server is still 20 min ahead while we prove
    try:
        out = prove(d, "CLOCK_SKEW")
    finally:
        d.server.clock_offset = 0
    assert out["result"] == "passed", out
    assert out["resigned"] and out["signature"].startswith("sha256:")
    assert "dated the request" in out["changes"][0]


def test_wrong_region(demo: tuple[Any, Any]) -> None:
    """S3 names the region it expects: re-signed for it, the request passes. DynamoDB (like
    AWS's) does not, and an IP host says nothing: the proof says so."""
    mod, d = demo
    d.server.ip_region = "us-east-1"
    try:
        d.answer = mod.quietly(
            lambda: d.client("s3", region="eu-west-1").list_objects_v2(Bucket="demo")
        )
        out = prove(d, "SCOPE_REGION_MISMATCH")
        assert out["result"] == "passed", out
        assert "signed for region 'us-east-1' instead of 'eu-west-1'" in out["changes"][0]
        run(mod, d, "wrong_region")  # DynamoDB, as the demo does
        out = prove(d, "SCOPE_REGION_MISMATCH", confirm=True)
    finally:
        d.server.ip_region = None
    assert out["result"] == "not provable", out
    assert "without naming the right one" in out["reason"]


def test_sigv2(demo: tuple[Any, Any]) -> None:
    mod, d = demo
    run(mod, d, "sigv2")
    out = prove(d, "SIGV2_DEPRECATED")
    assert out["result"] == "passed", out
    assert "SigV4" in out["changes"][0]


def test_temporary_key_without_token(demo: tuple[Any, Any]) -> None:
    mod, d = demo
    run(mod, d, "temp_key_without_token")
    out = prove(d, "SECURITY_TOKEN_MISSING")
    assert out["result"] == "passed", out
    assert "session token" in out["changes"][0]


def test_transfer_encoding_stripped_by_the_cdn(demo: tuple[Any, Any]) -> None:
    mod, d = demo
    run(mod, d, "te_stripped_by_cdn")
    out = prove(d, "HEADER_MODIFIED", proxy="cdn", confirm=True)
    assert out["result"] == "passed", out
    assert "stopped signing it" in out["changes"][0]


@pytest.mark.parametrize(
    ("scenario", "code", "why"),
    [
        ("wrong_secret", "SECRET_MISMATCH", "cannot supply the right one"),
        ("sigv4a_global_token", "STS_GLOBAL_TOKEN_SIGV4A", "regional token"),
        ("checksum_defaults_to_compatible_store", "CHECKSUM_DEFAULTS_UNSUPPORTED", "when_required"),
        ("presign_expired", "PRESIGN_EXPIRED", "new presigned URL"),
    ],
)
def test_diagnoses_a_change_cannot_prove(
    demo: tuple[Any, Any], scenario: str, code: str, why: str
) -> None:
    mod, d = demo
    run(mod, d, scenario)
    out = prove(d, code, confirm=True)
    assert out["result"] == "not provable", out
    assert why in out["reason"], out


def test_replays_are_marked_and_keep_only_a_fingerprint(demo: tuple[Any, Any]) -> None:
    """After the proofs above: each replayed copy is marked and carries the proof, and the
    saved flows (-w) hold the fingerprint of the signature computed, never the signature.
    (The originals were saved when they ended; the outcome they get later,
    ``metadata["sigv4_proof"]``, is in the UIs and in flows saved afterwards.)"""
    from mitmproxy import http, io

    mod, d = demo
    run(mod, d, "sigv2")
    assert prove(d, "SIGV2_DEPRECATED")["result"] == "passed"
    p = d.proxies["main"]
    p.stop()
    with open(p.flows_path, "rb") as fh:
        flows = list(io.FlowReader(fh).stream())
    replays = [f for f in flows if isinstance(f, http.HTTPFlow) and f.metadata.get("sigv4_prove")]
    assert replays  # this test's own, and those of the tests before it on this worker
    for f in replays:
        meta = f.metadata["sigv4_prove"]
        assert f.comment.startswith("sigv4.prove PASSED"), f.comment
        assert f.marked == ":white_check_mark:"
        assert meta["result"] == "passed" and meta["of"] != f.id
        assert meta["signature"] is None or meta["signature"].startswith("sha256:")
        auth = f.request.headers.get("authorization", "")
        assert not re.search(r"Signature=[0-9a-f]{64}", auth), auth
        assert not re.search(r"X-Amz-Signature=[0-9a-f]{64}", f.request.path)
        if meta["resigned"]:
            assert meta["signature"] in auth + f.request.path
    # the replays were inspected like any flow: their records say valid
    assert all((f.metadata.get("sigv4") or {}).get("verdict") == "valid" for f in replays)
    assert json.dumps([f.metadata for f in flows])  # plain JSON-like metadata
