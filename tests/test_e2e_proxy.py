"""End to end: a real mitmdump with the addon, real boto3 clients sending through it over
TLS to the local AWS-like endpoint (scripts/fakeaws.py, which verifies signatures with its
own implementation of AWS's canonical forms), and assertions on the JSONL records. Then the same flows replayed
offline with -nr, and every output searched for secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from sigv4_inspector.core.model import fingerprint
from sigv4_testsupport import fakeaws
from sigv4_testsupport.proxyharness import (
    Proxy,
    clean_aws_env,
    local_client,
    replay_offline,
    start_mitmdump,
)

K1 = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
K2 = ("AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n\n"
        f"[second]\naws_access_key_id = {K2[0]}\naws_secret_access_key = {K2[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp / "fakeaws-certs", credentials=dict([K1, K2]))
    proxy = start_mitmdump(tmp, env=clean_aws_env(tmp))
    state = {"tmp": tmp, "server": server, "proxy": proxy, "secrets": [K1[1], K2[1]], "tokens": []}
    try:
        yield state
    finally:
        proxy.stop()
        server.stop()


def client(
    e: dict[str, Any], service: str, key: tuple[str, str] = K1, token: str | None = None, **cfg: Any
) -> Any:
    proxy: Proxy = e["proxy"]
    return local_client(
        service,
        e["server"].https_port,
        proxy.url,
        proxy.ca,
        key=key[0],
        secret=key[1],
        token=token,
        **cfg,
    )


def new_records(e: dict[str, Any], before: int, n: int) -> list[dict[str, Any]]:
    proxy: Proxy = e["proxy"]
    recs = proxy.wait_records(before + n)
    assert len(recs) >= before + n, proxy.output()[-3000:]
    return recs[before:]


def test_real_clients_verify_valid(env: dict[str, Any]) -> None:
    before = len(env["proxy"].records())
    s3 = client(env, "s3")
    s3.create_bucket(Bucket="e2e")
    s3.put_object(Bucket="e2e", Key="dir/a b+c~d.txt", Body=b"hello world")
    assert s3.get_object(Bucket="e2e", Key="dir/a b+c~d.txt")["Body"].read() == b"hello world"
    s3.list_objects_v2(Bucket="e2e", Prefix="dir/", Delimiter="/")
    ddb = client(env, "dynamodb")
    ddb.put_item(TableName="t", Item={"k": {"S": "v"}})
    recs = new_records(env, before, 5)
    for r in recs:
        assert r["verdict"] == "valid", r
        assert r["credential_source"] == "profile:default"
        assert r["response"]["status"] < 300
        assert not [
            f for f in r["findings"] if f["code"] in ("SIGNATURE_MISMATCH", "SERVER_REJECTED")
        ]
    assert {r["auth"]["scope"]["service"] for r in recs} == {"s3", "dynamodb"}


def test_second_profile_key_verifies(env: dict[str, Any]) -> None:
    before = len(env["proxy"].records())
    client(env, "dynamodb", key=K2).list_tables()
    (r,) = new_records(env, before, 1)
    assert r["verdict"] == "valid" and r["credential_source"] == "profile:second"


def test_presigned_put_without_content_type(env: dict[str, Any]) -> None:
    s3 = client(env, "s3", signature_version="s3v4")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "e2e", "Key": "k.csv", "ContentType": "text/csv"}
    )
    before = len(env["proxy"].records())
    proxies = {"https": env["proxy"].url}
    bad = requests.put(url, data=b"a,b\n", proxies=proxies, verify=env["proxy"].ca, timeout=10)
    assert bad.status_code == 403
    good = requests.put(
        url,
        data=b"a,b\n",
        headers={"Content-Type": "text/csv"},
        proxies=proxies,
        verify=env["proxy"].ca,
        timeout=10,
    )
    assert good.status_code == 200
    r_bad, r_good = new_records(env, before, 2)
    assert r_bad["verdict"] == "invalid"
    codes = [f["code"] for f in r_bad["findings"]]
    assert codes[0] == "SIGNED_HEADER_MISSING" and "SERVER_REJECTED" in codes
    assert r_bad["response"]["aws_error_code"] == "SignatureDoesNotMatch"
    assert "X-Amz-Signature=sha256:" in r_bad["url"]
    assert r_good["verdict"] == "valid"


def test_wrong_secret_is_invalid_and_server_agrees(env: dict[str, Any]) -> None:
    before = len(env["proxy"].records())
    bad = client(env, "dynamodb", key=(K1[0], K1[1][:-1] + "X"))
    with pytest.raises(ClientError) as exc:
        bad.list_tables()
    assert exc.value.response["Error"]["Code"] == "InvalidSignatureException"
    (r,) = new_records(env, before, 1)
    assert r["verdict"] == "invalid"
    codes = {f["code"] for f in r["findings"]}
    assert "SERVER_REJECTED" in codes and (
        "SECRET_MISMATCH" in codes or "SIGNATURE_MISMATCH" in codes
    )


def test_learned_assume_role_credentials(env: dict[str, Any]) -> None:
    before = len(env["proxy"].records())
    sts = client(env, "sts")
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/demo", RoleSessionName="e2e")[
        "Credentials"
    ]
    env["secrets"].append(creds["SecretAccessKey"])
    env["tokens"].append(creds["SessionToken"])
    tmp = client(
        env,
        "dynamodb",
        key=(creds["AccessKeyId"], creds["SecretAccessKey"]),
        token=creds["SessionToken"],
    )
    tmp.list_tables()
    r_sts, r_ddb = new_records(env, before, 2)
    assert r_sts["verdict"] == "valid"
    assert r_ddb["verdict"] == "valid", r_ddb
    assert r_ddb["credential_source"] == "learned:sts-assume-role"
    assert r_ddb["auth"]["access_key_id"] == creds["AccessKeyId"]


def test_replay_offline_gives_same_records_and_nothing_leaks(env: dict[str, Any]) -> None:
    proxy: Proxy = env["proxy"]
    live = proxy.records()
    assert len(live) >= 10
    out = proxy.stop()  # flushes -w and prints the summary
    assert "sigv4 summary:" in out
    replay_report = env["tmp"] / "replay.jsonl"
    replay_out = replay_offline(
        env["tmp"],
        proxy.flows_path,  # type: ignore[arg-type]
        replay_report,
        proxy.env,
        "--set",
        "termlog_verbosity=debug",
    )
    replayed = [json.loads(x) for x in replay_report.read_text().splitlines()]
    assert "sigv4 summary:" in replay_out, replay_out[-3000:]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            r["flow_id"],
            r["verdict"],
            r["credential_source"],
            tuple(f["code"] for f in r["findings"]),
            r["canonical_request"],
        )

    # learned credentials are learned again from the replayed STS response
    assert sorted(map(key, replayed)) == sorted(map(key, live))
    # secrets and tokens: not in stdout/stderr, JSONL, or the saved flows' comments/metadata
    from mitmproxy import http, io

    assert proxy.flows_path is not None
    with open(proxy.flows_path, "rb") as fh:
        flows = [f for f in io.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]
    annotations = "".join(f.comment + json.dumps(f.metadata) for f in flows)
    assert any(f.metadata.get("sigv4") for f in flows)
    haystacks = {
        "stdout": out,
        "replay stdout": replay_out,
        "jsonl": proxy.report.read_text(),
        "replay jsonl": replay_report.read_text(),
        "flow annotations": annotations,
    }
    sent_sigs = [
        f.request.headers.get("authorization", "").rpartition("Signature=")[2] for f in flows
    ]
    for name, text in haystacks.items():
        for s in env["secrets"] + env["tokens"] + [x for x in sent_sigs if x]:
            assert s not in text, f"a secret/token/signature leaked into {name}"
    assert fingerprint(sent_sigs[0]) not in ""  # fingerprints are what may appear


@pytest.mark.parametrize(
    "opts",
    [
        ("--set", "sigv4_stream_threshold=64k"),
        ("--set", "stream_large_bodies=64k"),
        ("--set", "sigv4_stream_threshold=64k", "--set", "sigv4_stream_verify=false"),
    ],
)
def test_large_upload_verified_while_streaming(tmp_path: Path, opts: tuple[str, ...]) -> None:
    """The same upload verified through the streaming tap gives the buffered path's result,
    and the server receives the body unchanged. With sigv4_stream_verify=false the upload
    streams untapped and its seed signature still verifies."""
    (tmp_path / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp_path / "certs", credentials=dict([K1]))
    proxy = start_mitmdump(tmp_path, *opts, env=clean_aws_env(tmp_path), save=False)
    try:
        e = {"proxy": proxy, "server": server}
        s3 = client(e, "s3")
        s3.create_bucket(Bucket="big")
        body = bytes(range(256)) * 4096 * 3  # 3 MiB
        s3.put_object(Bucket="big", Key="blob", Body=body)
        assert s3.get_object(Bucket="big", Key="blob")["Body"].read() == body
        recs = proxy.wait_records(3)
        put = next(r for r in recs if r["method"] == "PUT" and r["url"].endswith("/blob"))
        assert put["verdict"] == "valid", put
        assert put["auth"]["payload"].startswith("STREAMING-")
        assert not [f for f in put["findings"] if f["severity"] == "error"], put["findings"]
        # the 3 MiB download went through too (streamed with stream_large_bodies: the addon
        # reads no response body but an error's) and has its record
        get = next(r for r in recs if r["method"] == "GET" and r["url"].endswith("/blob"))
        assert get["verdict"] == "valid" and get["response"]["status"] == 200, get
        received = next(
            r for r in server.requests if r.method == "PUT" and r.path.endswith("/blob")
        )
        assert fakeaws.decode_aws_chunked(received.body)[0] == body
    finally:
        proxy.stop()
        server.stop()


def test_proxy_option_that_breaks_a_signature_is_named(tmp_path: Path) -> None:
    """Valid as the client sent it, broken as mitmproxy forwarded it: the finding says which
    option did it, and the server's echo confirms the change."""
    (tmp_path / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp_path / "certs", credentials=dict([K1]))
    proxy = start_mitmdump(
        tmp_path,
        "--set",
        "modify_headers=|~q|Content-Type|application/json",
        env=clean_aws_env(tmp_path),
        save=False,
    )
    try:
        with pytest.raises(ClientError):
            client({"proxy": proxy, "server": server}, "dynamodb").list_tables()
        (r,) = proxy.wait_records(1)
        assert r["verdict"] == "valid"  # as the client sent it
        mod = [
            f
            for f in r["findings"]
            if f["code"] == "HEADER_MODIFIED" and f["evidence"]["where"] == "in-proxy"
        ]
        assert mod and mod[0]["evidence"]["header"] == "content-type"
        assert mod[0]["evidence"]["cause"] == "modify_headers option"
        assert mod[0]["evidence"]["upstream"] == "application/json"
        assert "SERVER_CANONICAL_DIFF" in {f["code"] for f in r["findings"]}
        assert r["response"]["aws_error_code"] == "InvalidSignatureException"
    finally:
        proxy.stop()
        server.stop()


def test_a_heavy_flow_is_inspected_off_the_event_loop_and_saved_annotated(
    tmp_path: Path,
) -> None:
    """A request with 1,500 extra (unsigned) headers is heavy: it is inspected on the
    addon's helper thread while small requests go on, gets its one valid record, and the
    flow saved with -w carries the annotation (the hook awaited it before mitmproxy's save
    addon wrote the flow)."""
    from mitmproxy import io as mio

    (tmp_path / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {K1[0]}\naws_secret_access_key = {K1[1]}\n"
    )
    server = fakeaws.start_fakeaws(tmp_path / "certs", credentials=dict([K1]))
    proxy = start_mitmdump(tmp_path, env=clean_aws_env(tmp_path))
    e = {"server": server, "proxy": proxy}
    try:
        ddb = client(e, "dynamodb")
        extra = [(f"x-extra-{i}", "v") for i in range(1500)]

        def add_headers(request: Any, **_: Any) -> None:
            for k, v in extra:
                request.headers[k] = v  # after signing: not signed, so still valid

        ddb.meta.events.register_first("before-send.dynamodb.ListTables", add_headers)
        with pytest.raises(ClientError):  # fakeaws (http.server) refuses over 100 headers: 431
            ddb.list_tables()
        small = client(e, "dynamodb")
        for _ in range(3):
            small.list_tables()
        # fakeaws (http.server) answers 431 or closes the connection first; botocore may
        # then send the heavy request again: one record per flow, every one valid
        recs = proxy.wait_records(4)
        assert len(recs) >= 4, proxy.output()[-3000:]
        assert len({r["flow_id"] for r in recs}) == len(recs)
        assert all(r["verdict"] == "valid" for r in recs), [r["verdict"] for r in recs]
        ddb.close()
        small.close()  # no connection left open at exit (mitmproxy logs those it cancels)
    finally:
        proxy.stop()
        server.stop()
    assert proxy.flows_path is not None
    with open(proxy.flows_path, "rb") as fh:
        flows = list(mio.FlowReader(fh).stream())
    heavy = [f for f in flows if len(f.request.headers) > 1000]  # type: ignore[attr-defined]
    assert heavy
    assert all(f.metadata["sigv4"]["verdict"] == "valid" for f in heavy)
    out = proxy.output()
    assert "Traceback" not in out, out[-4000:]
