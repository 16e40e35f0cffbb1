"""The worker process (sigv4core.worker) and the captured-flow inspector it runs: framing,
the same outcomes as inspecting in-process, strict ordering of credentials and flows, and
a dead worker reported as such."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from signing import AKID, SECRET, capture
from sigv4core.credentials import CredentialStore
from sigv4core.flowinspect import FlowCapture, FlowInspector, outcome_of
from sigv4core.model import Credential, WireRequest
from sigv4core.worker import FrameReader, WorkerClient, frame

OTHER = ("AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")


def to_capture(fid: str, wire: WireRequest, **kw: Any) -> FlowCapture:
    enc = [(k.encode(), v.encode()) for k, v in wire.headers]
    return FlowCapture(
        flow_id=fid,
        method=wire.method.encode(),
        target=wire.target.encode(),
        fields=tuple(enc),
        body=wire.body,
        scheme="https",
        h2_authority="",
        default_authority=wire.authority or "example.com:443",
        seen_at=time.time(),
        client_addr="127.0.0.1",
        **kw,
    )


def captures() -> list[FlowCapture]:
    ddb = capture("dynamodb", lambda c: c.list_tables())
    s3put = capture("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"x" * 100))
    other = capture("sts", lambda c: c.get_caller_identity(), key=OTHER[0], secret=OTHER[1])
    tampered = replace(ddb, body=b'{"ExclusiveStartTableName": "x"}')
    return [
        to_capture("ddb", ddb),
        to_capture("s3put", s3put),
        to_capture("other", other),
        to_capture("tampered", tampered, status=400),
        to_capture("plain", WireRequest("GET", "/", (("Host", "example.com"),))),
    ]


def collect(w: WorkerClient, n: int, timeout: float = 30) -> dict[str, Any]:
    got: dict[str, Any] = {}
    end = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < end and not w.dead:
        for m in w.wait(0.5):
            if m[0] == "result":
                got[m[1]] = m[2]
    return got


def test_frames_survive_any_cut() -> None:
    msgs = [("inspect", "x" * 5000), ("creds", [1, 2]), ("stop",)]
    data = b"".join(frame(m) for m in msgs)
    for step in (1, 3, 7, 4096, len(data)):
        r = FrameReader()
        out = []
        for i in range(0, len(data), step):
            out += r.feed(data[i : i + step])
        assert out == msgs


def test_worker_gives_the_inline_outcomes_in_order() -> None:
    caps = captures()
    inline = FlowInspector(CredentialStore([Credential(AKID, SECRET, source="profile:t")]))
    want = {}
    for c in caps:
        insp = inline.inspect(c)
        want[c.flow_id] = outcome_of(c.flow_id, insp) if insp else None
    assert want["ddb"].verdict == want["s3put"].verdict == "valid"  # type: ignore[union-attr]
    assert want["other"].verdict == "unverified"  # type: ignore[union-attr]
    assert want["tampered"].verdict == "invalid" and want["plain"] is None  # type: ignore[union-attr]

    w = WorkerClient()
    try:
        w.send(("creds", [Credential(AKID, SECRET, source="profile:t")]))
        for c in caps:
            w.send(("inspect", c))
        # a credential sent now applies to the flows after it, not to those before
        w.send(("creds", [Credential(*OTHER, source="profile:o")]))
        w.send(("inspect", caps[2]._replace(flow_id="other-again")))
        got = collect(w, len(caps) + 1)
        assert not w.stopped
        w.stop()
        rest = collect(w, 1, timeout=10)  # nothing more: only "stopped" arrives
        assert w.stopped and w.reap(10)  # it said so, and then its process ended by itself
        assert w.proc.returncode == 0
    finally:
        w.kill()
    assert not rest
    for c in caps:
        a, b = got[c.flow_id], want[c.flow_id]
        if b is None:
            assert a is None
            continue
        a_rec, b_rec = dict(a.record), dict(b.record)
        assert a_rec == b_rec, c.flow_id
        assert (a.line, a.comment, a.marker, a.verdict, a.codes) == (
            b.line,
            b.comment,
            b.marker,
            b.verdict,
            b.codes,
        )
    assert got["other-again"].verdict == "valid"


def test_a_batch_in_one_write_is_answered_whole_and_in_order() -> None:
    """The addon queues flows and writes them together: the worker reads many frames at
    once, a credential among them applies from its place on, and the answers come back
    in the order sent (several per read, as the worker writes a batch at once)."""
    ddb = captures()[0]
    other = captures()[2]
    batch = [ddb._replace(flow_id=f"ddb-{i}") for i in range(150)]
    w = WorkerClient()
    order: list[str] = []
    got: dict[str, Any] = {}
    reads = 0
    try:
        w.queue(("creds", [Credential(AKID, SECRET, source="profile:t")]))
        for c in batch:
            w.queue(("inspect", c))
        w.queue(("inspect", other._replace(flow_id="other-before")))
        w.queue(("creds", [Credential(*OTHER, source="profile:o")]))
        w.queue(("inspect", other._replace(flow_id="other-after")))
        assert w.backlog > 150 * 500  # nothing written yet
        w.flush()
        end = time.monotonic() + 60
        while len(got) < len(batch) + 2 and time.monotonic() < end and not w.dead:
            msgs = [m for m in w.wait(0.5) if m[0] == "result"]
            reads += bool(msgs)
            for m in msgs:
                order.append(m[1])
                got[m[1]] = m[2]
    finally:
        w.kill()
    assert order == [c.flow_id for c in batch] + ["other-before", "other-after"]
    assert {got[c.flow_id].verdict for c in batch} == {"valid"}
    assert got["other-before"].verdict == "unverified"
    assert got["other-after"].verdict == "valid"
    assert reads < len(order)  # answered in batches, not one wake-up per flow


def test_worker_loads_credentials_and_reports_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    creds = tmp_path / "creds"
    creds.write_text(f"[x]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    w = WorkerClient()
    try:
        w.send(("load", [], [str(creds)]))
        w.send(("inspect", captures()[0]))
        logs, got = [], {}
        end = time.monotonic() + 30
        while not got and time.monotonic() < end:
            for m in w.wait(0.5):
                if m[0] == "log":
                    logs.append(m[1:])
                elif m[0] == "result":
                    got[m[1]] = m[2]
    finally:
        w.kill()
    assert got["ddb"].verdict == "valid"
    assert any(level == "info" and "1 access key(s) known" in text for level, text in logs), logs
    assert not any(SECRET in text for _, text in logs)


@pytest.mark.parametrize("login", [False, True])
def test_worker_loads_botocore_without_awscrt_and_awscrt_only_for_crcs_that_need_it(
    login: bool, tmp_path: Path
) -> None:
    """Loading awscrt is a third of the worker's start-up (aws-lc seeds its entropy pool):
    botocore, used only for credentials, does not get it, and the checksums import it on
    the first CRC32C, not for a CRC32 upload, whose checksum is still verified. Unless a
    profile signs in with ``aws login``: botocore needs awscrt for that one."""
    import subprocess
    import sys

    from sigv4core.worker import ADDONS_DIR

    code = f"""
import pickle, sys
sys.path[:0] = [{ADDONS_DIR!r}]
from sigv4core.worker import _import_botocore_without_crt
_import_botocore_without_crt()
import botocore.compat, botocore.session
from sigv4core.flowinspect import FlowInspector
from sigv4core.credentials import CredentialStore
from sigv4core.checksums import compute
print("has_crt", botocore.compat.HAS_CRT, "awscrt" in sys.modules)
store = CredentialStore(pickle.loads(bytes.fromhex(sys.argv[1])))
insp = FlowInspector(store).inspect(pickle.loads(bytes.fromhex(sys.argv[2])))
print("crc32", insp.verification.verdict, insp.verification.checksums, "awscrt" in sys.modules)
print("crc32c", compute("crc32c", b"abc"), "awscrt" in sys.modules)
"""
    s3put = next(c for c in captures() if c.flow_id == "s3put")
    assert any(k.lower() == b"x-amz-checksum-crc32" for k, _ in s3put.fields) or b"crc32" in (
        s3put.body or b""
    )
    creds = [Credential(AKID, SECRET, source="test")]
    args = [pickle_hex(creds), pickle_hex(s3put)]
    config = tmp_path / "config"
    config.write_text("[profile dev]\nlogin_session = arn:aws:iam::0:user/x\n" if login else "")
    env = {**os.environ, "AWS_CONFIG_FILE": str(config)}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    if login:
        assert out[0] == "has_crt True True"
        return
    assert out[0] == "has_crt False False"
    assert out[1].startswith("crc32 valid [") and "ok=True" in out[1], out[1]
    assert out[1].endswith(" False")
    assert out[2] == "crc32c Nks/tw== True"  # CRC32C of "abc", awscrt loaded for it


def pickle_hex(obj: Any) -> str:
    import pickle

    return pickle.dumps(obj).hex()


def test_dead_worker_is_noticed() -> None:
    w = WorkerClient()
    try:
        os.kill(w.proc.pid, signal.SIGKILL)
        w.proc.wait(10)
        end = time.monotonic() + 10
        while not w.dead and time.monotonic() < end:
            w.wait(0.2)
            w.send(("inspect", captures()[0]))  # writing to a dead worker must not raise
        assert w.dead
    finally:
        w.kill()
