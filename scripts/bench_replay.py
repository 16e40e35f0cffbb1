#!/usr/bin/env python3
"""Benchmark the addon's cost on offline replay: ``mitmdump -nr FILE`` with and without it.

Builds a .mitm file of mixed AWS flows (requests signed by real boto3 clients, captured
before they are sent, the way tests/signing.py does, with plausible responses): S3
GetObject, PutObject (aws-chunked with a checksum trailer, the SDK default), ListObjectsV2,
DynamoDB, STS GetCallerIdentity and AssumeRole (whose temporary credentials later flows
use), presigned SigV4 and SigV2 URLs, and about 18 % invalid ones (wrong secret, a header
changed after signing, unknown key, changed body, malformed Authorization, unsigned,
expired presigned URL) answered with AWS's error shapes.

It then times ``mitmdump -nr FILE -q --set sigv4_quiet=true --set sigv4_report=TMP``
without the addon and with ``-s addons/sigv4.py`` (the default: flows inspected in the
worker process); ``--inline`` adds a run with ``--set sigv4_worker=false`` (inspected in
mitmdump's process) to each round. The variants run back to back in each round (11
rounds, the order alternating), and the figure is the median over the rounds of each
round's ratio with/without (target <= 1.10), with its 95 % confidence interval
(``benchstats.median_ci``): on a noisy VM a round's runs share its drift, where the best
of each variant may come from different moments, and the interval says whether the
rounds settle the target at all. It also prints the best wall and CPU seconds of all processes
(the worker's work is not free: it runs on another core), and the start-up time (an
empty file). With ``--profile`` (or when the ratio misses the target) the addon's hooks are run
in-process under cProfile over the same flows and the top costs are printed.

Wall times on a shared VM swing by up to 2x; ``--callgrind N`` instead counts the
instructions mitmproxy's own process executes per flow, with and without the addon, over
N of the flows (valgrind, ``PYTHONHASHSEED=0``: the same count whatever else the machine
does); and, in a third run, mitmproxy's process and the worker together
(``--trace-children``): the two bound the wall-time ratio, from a worker with a core of
its own to one with none. Under valgrind mitmdump runs about 50 times slower, so fewer
flows share a batch to the worker than in a real run: the counts err on the high side.

Usage: .venv/bin/python scripts/bench_replay.py [--flows 5000] [--rounds 11] [--inline]
       [--quick] [--profile] [--keep DIR] [--callgrind N]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import importlib.util
import io as _io
import json
import os
import pstats
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.config
from benchstats import (
    StepTimers,
    callgrind_prefix,
    collected,
    interval_line,
    median_ci,
)
from mitmproxy import connection, http, io

from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.verify import verify
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import MITMDUMP, clean_aws_env
from sigv4_testsupport.signing import AKID, SECRET, to_wire

ADDON = ROOT / "addons" / "sigv4.py"
TARGET = 1.10
UNKNOWN_AKID = "AKIAUNKNOWNEXAMPLE01"
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
SIG_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass
class Shape:
    """One request as captured and the response the flow will carry."""

    kind: str
    wire: WireRequest
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seen_offset: float = 0.0  # seconds added to the capture time (expired presigned URLs)


class _Captured(Exception):
    """Raised by the before-send hook: the request was captured, nothing is sent."""


@dataclass
class Signer:
    """Real boto3 clients whose requests are captured at ``before-send`` (no network)."""

    key: str = AKID
    secret: str = SECRET
    token: str | None = None
    clients: dict[str, Any] = field(default_factory=dict)
    seen: list[WireRequest] = field(default_factory=list)

    def client(self, service: str, **cfg: Any) -> Any:
        name = service + repr(sorted(cfg.items()))
        if name not in self.clients:
            c = boto3.client(
                service,
                region_name="us-east-1",
                aws_access_key_id=self.key,
                aws_secret_access_key=self.secret,
                aws_session_token=self.token,
                config=botocore.config.Config(retries={"max_attempts": 1}, **cfg),
            )
            c.meta.events.register("before-send", self._hook)
            self.clients[name] = c
        return self.clients[name]

    def _hook(self, request: Any, **_: Any) -> None:
        self.seen.append(to_wire(request.method, request.url, request.headers, request.body))
        raise _Captured

    def capture(self, service: str, call: Callable[[Any], Any], **cfg: Any) -> WireRequest:
        with contextlib.suppress(_Captured):
            call(self.client(service, **cfg))
        return self.seen.pop()


def presigned_wire(url: str) -> WireRequest:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return WireRequest.build(
        "GET",
        target,
        [("Host", parts.netloc), ("User-Agent", "python-requests/2.32"), ("Accept", "*/*")],
        b"",
        authority=parts.netloc,
    )


def _rid() -> str:
    return secrets.token_hex(8).upper()


def s3_ok(body: bytes = b"", ctype: str = "application/xml") -> tuple[list[tuple[str, str]], bytes]:
    return [
        ("x-amz-request-id", _rid()),
        ("ETag", f'"{secrets.token_hex(16)}"'),
        ("Content-Type", ctype),
        ("Server", "AmazonS3"),
    ], body


def s3_error(code: str, message: str, extra: str = "") -> tuple[int, list[tuple[str, str]], bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message>{extra}<RequestId>{_rid()}</RequestId></Error>"
    ).encode()
    return 403, [("Content-Type", "application/xml"), ("Server", "AmazonS3")], body


def _xml(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def s3_mismatch(
    wire: WireRequest, keyring: DictKeyring
) -> tuple[int, list[tuple[str, str]], bytes]:
    """S3's SignatureDoesNotMatch with its echo of the canonical request (as received)."""
    v = verify(wire, keyring)
    extra = (
        f"<AWSAccessKeyId>{AKID}</AWSAccessKeyId>"
        f"<StringToSign>{_xml(v.string_to_sign or '')}</StringToSign>"
        f"<CanonicalRequest>{_xml(v.canonical_request or '')}</CanonicalRequest>"
    )
    return s3_error("SignatureDoesNotMatch", SIG_MISMATCH, extra)


def coral_error(
    code: str, message: str, status: int = 400
) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": message}).encode()
    return (
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", _rid())],
        body,
    )


def ddb_mismatch(
    wire: WireRequest, keyring: DictKeyring
) -> tuple[int, list[tuple[str, str]], bytes]:
    v = verify(wire, keyring)
    msg = (
        f"{SIG_MISMATCH}\n\nThe Canonical String for this request should have been\n"
        f"'{v.canonical_request}'\n\nThe String-to-Sign should have been\n'{v.string_to_sign}'\n"
    )
    return coral_error("InvalidSignatureException", msg)


def sts_ok(action: str, inner: str) -> tuple[list[tuple[str, str]], bytes]:
    body = (
        f'<{action}Response xmlns="{STS_NS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{_rid()}</RequestId></ResponseMetadata></{action}Response>"
    )
    return [("Content-Type", "text/xml"), ("x-amzn-RequestId", _rid())], body.encode()


def _replace_header(wire: WireRequest, name: str, value: str) -> WireRequest:
    hdrs = [(k, value if k.lower() == name else v) for k, v in wire.headers]
    return WireRequest.build(
        wire.method, wire.target, hdrs, wire.body, authority=wire.authority, scheme=wire.scheme
    )


def _with_body(wire: WireRequest, body: bytes) -> WireRequest:
    return WireRequest.build(
        wire.method, wire.target, wire.headers, body, authority=wire.authority, scheme=wire.scheme
    )


KINDS: dict[str, int] = {  # relative weights of each shape in the mix
    "s3-get": 22,
    "s3-put": 12,
    "s3-list": 8,
    "ddb": 20,
    "sts-identity": 6,
    "ddb-learned": 3,
    "presign-v4": 7,
    "presign-v2": 3,
    "bad-secret-s3": 3,
    "bad-secret-ddb": 2,
    "bad-tampered": 4,
    "bad-unknown-key": 3,
    "bad-body": 2,
    "bad-malformed": 2,
    "bad-unsigned": 2,
    "bad-presign-expired": 1,
}


def build_shapes(n: int, seed: int = 7) -> list[Shape]:
    """``n`` request/response shapes in a reproducible random mix (an STS AssumeRole every
    500 flows issues the temporary credentials the ``ddb-learned`` flows are signed with)."""
    rng = random.Random(seed)
    good = Signer()
    wrong = Signer(secret=SECRET[:-4] + "XXXX")
    unknown = Signer(key=UNKNOWN_AKID)
    keyring = DictKeyring([Credential(AKID, SECRET, source="bench")])
    temp: Signer | None = None
    kinds, weights = zip(*KINDS.items(), strict=True)
    out: list[Shape] = []
    for i in range(n):
        key = f"data/{i:06d}-{rng.randrange(10**6)}.bin"
        if i % 500 == 0:
            akid = "ASIA" + "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)
            )
            secret = base64.b64encode(rng.randbytes(30)).decode()
            token = "IQoJb3JpZ2luX2Vj" + base64.b64encode(rng.randbytes(300)).decode()
            exp = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            w = good.capture(
                "sts",
                lambda c, n=f"b{i}": c.assume_role(
                    RoleArn="arn:aws:iam::123456789012:role/bench", RoleSessionName=n
                ),
            )
            inner = (
                f"<Credentials><AccessKeyId>{akid}</AccessKeyId><SecretAccessKey>{secret}"
                f"</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{exp}"
                "</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:b</AssumedRoleId>"
                "<Arn>arn:aws:sts::123456789012:assumed-role/bench/b</Arn></AssumedRoleUser>"
            )
            out.append(Shape("sts-assume-role", w, 200, *sts_ok("AssumeRole", inner)))
            temp = Signer(key=akid, secret=secret, token=token)
            continue
        kind = rng.choices(kinds, weights)[0]
        item = {"pk": {"S": f"user#{i}"}, "n": {"N": str(rng.randrange(10**6))}}
        if kind == "s3-get":
            w = good.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(
                Shape(
                    kind,
                    w,
                    200,
                    *s3_ok(rng.randbytes(rng.randrange(64, 2048)), "binary/octet-stream"),
                )
            )
        elif kind == "s3-put":
            body = rng.randbytes(rng.randrange(16, 4096))
            w = good.capture(
                "s3", lambda c, k=key, b=body: c.put_object(Bucket="bench-data", Key=k, Body=b)
            )
            out.append(Shape(kind, w, 200, *s3_ok()))
        elif kind == "s3-list":
            w = good.capture(
                "s3", lambda c: c.list_objects_v2(Bucket="bench-data", Prefix="data/", MaxKeys=50)
            )
            listing = (
                f'<ListBucketResult xmlns="{S3_NS}"><Name>bench-data</Name><Prefix>data/</Prefix>'
                + "".join(
                    f"<Contents><Key>data/{j}</Key><Size>{j}</Size></Contents>" for j in range(20)
                )
                + "</ListBucketResult>"
            ).encode()
            out.append(Shape(kind, w, 200, *s3_ok(listing)))
        elif kind in ("ddb", "ddb-learned"):
            signer = temp if (kind == "ddb-learned" and temp is not None) else good
            op = rng.randrange(3)
            if op == 0:
                w = signer.capture(
                    "dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it)
                )
            elif op == 1:
                w = signer.capture(
                    "dynamodb",
                    lambda c, it=item: c.get_item(TableName="bench", Key={"pk": it["pk"]}),
                )
            else:
                w = signer.capture(
                    "dynamodb",
                    lambda c, it=item: c.query(
                        TableName="bench",
                        KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": it["pk"]},
                    ),
                )
            out.append(
                Shape(
                    kind,
                    w,
                    200,
                    [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", _rid())],
                    json.dumps({"Item": item} if op == 1 else {}).encode(),
                )
            )
        elif kind == "sts-identity":
            w = good.capture("sts", lambda c: c.get_caller_identity())
            inner = f"<Arn>arn:aws:iam::123456789012:user/bench</Arn><UserId>{AKID}</UserId><Account>123456789012</Account>"
            out.append(Shape(kind, w, 200, *sts_ok("GetCallerIdentity", inner)))
        elif kind in ("presign-v4", "presign-v2", "bad-presign-expired"):
            cfg = {"signature_version": "s3v4"} if kind != "presign-v2" else {}
            url = good.client("s3", **cfg).generate_presigned_url(
                "get_object",
                Params={"Bucket": "bench-data", "Key": key},
                ExpiresIn=60 if kind == "bad-presign-expired" else 3600,
            )
            w = presigned_wire(url)
            if kind == "bad-presign-expired":
                st, h, b = s3_error("AccessDenied", "Request has expired")
                out.append(Shape(kind, w, st, h, b, seen_offset=600.0))
            else:
                out.append(Shape(kind, w, 200, *s3_ok(rng.randbytes(256), "binary/octet-stream")))
        elif kind == "bad-secret-s3":
            w = wrong.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(Shape(kind, w, *s3_mismatch(w, keyring)))
        elif kind == "bad-secret-ddb":
            w = wrong.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-tampered":
            w = good.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            w = _replace_header(w, "x-amz-target", "DynamoDB_20120810.DeleteItem")
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-unknown-key":
            w = unknown.capture("s3", lambda c, k=key: c.get_object(Bucket="bench-data", Key=k))
            out.append(
                Shape(
                    kind,
                    w,
                    *s3_error(
                        "InvalidAccessKeyId",
                        "The AWS Access Key Id you provided does not exist in our records.",
                        f"<AWSAccessKeyId>{UNKNOWN_AKID}</AWSAccessKeyId>",
                    ),
                )
            )
        elif kind == "bad-body":
            w = good.capture("dynamodb", lambda c, it=item: c.put_item(TableName="bench", Item=it))
            assert w.body is not None
            w = _with_body(w, w.body.replace(b"user#", b"USER#"))
            out.append(Shape(kind, w, *ddb_mismatch(w, keyring)))
        elif kind == "bad-malformed":
            w = good.capture("dynamodb", lambda c: c.list_tables())
            auth = w.header("authorization") or ""
            w = _replace_header(w, "authorization", auth.split(", Signature=")[0])
            out.append(
                Shape(
                    kind,
                    w,
                    *coral_error(
                        "IncompleteSignatureException",
                        "Authorization header requires 'Signature' parameter.",
                    ),
                )
            )
        elif kind == "bad-unsigned":
            w = WireRequest.build(
                "GET",
                f"/{key}",
                [("Host", "bench-data.s3.amazonaws.com"), ("User-Agent", "curl/8.5.0")],
                b"",
                authority="bench-data.s3.amazonaws.com",
            )
            out.append(Shape(kind, w, *s3_error("AccessDenied", "Access Denied")))
        else:  # pragma: no cover - KINDS and the branches above are kept in step
            raise AssertionError(kind)
    return out


def make_flow(shape: Shape, t: float) -> http.HTTPFlow:
    """A completed HTTPFlow as mitmproxy would have recorded it (HTTP/1.1 over TLS)."""
    w = shape.wire
    host, _, port = w.authority.partition(":")
    client = connection.Client(
        peername=("127.0.0.1", 40000 + int(t * 1000) % 20000),
        sockname=("127.0.0.1", 8080),
        timestamp_start=t,
    )
    server = connection.Server(address=(host, int(port or 443)))
    f = http.HTTPFlow(client, server)
    f.request = http.Request(
        host,
        int(port or 443),
        w.method.encode(),
        b"https",
        b"",
        w.target.encode("utf-8", "surrogateescape"),
        b"HTTP/1.1",
        http.Headers([(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in w.headers]),
        w.body,
        None,
        t,
        t + 0.001,
    )
    f.response = http.Response(
        b"HTTP/1.1",
        shape.status,
        b"",
        http.Headers(
            [(k.encode(), v.encode()) for k, v in shape.headers]
            + [(b"Content-Length", str(len(shape.body)).encode())]
        ),
        shape.body,
        None,
        t + 0.010,
        t + 0.011,
    )
    return f


def write_flows(path: Path, shapes: list[Shape]) -> None:
    t0 = time.time()
    with open(path, "wb") as fh:
        writer = io.FlowWriter(fh)
        for i, s in enumerate(shapes):
            writer.add(make_flow(s, t0 + i * 0.002 + s.seen_offset))


VARIANTS = ("plain", "worker", "inline")  # without the addon; with it (default); sigv4_worker=false


def mitmdump_cmd(flows: Path, tmp: Path, report: Path, variant: str) -> list[str]:
    cmd = [
        MITMDUMP,
        "-n",
        "-r",
        str(flows),
        "-q",
        "--set",
        f"confdir={tmp / 'mitm-conf'}",
        "--set",
        "sigv4_quiet=true",
        "--set",
        f"sigv4_report={report}",
    ]
    if variant != "plain":
        cmd += ["-s", str(ADDON)]
    if variant == "inline":
        cmd += ["--set", "sigv4_worker=false"]
    return cmd


@dataclass
class Timing:
    wall: float = float("inf")
    cpu: float = float("inf")  # user + system seconds of mitmdump and its worker


def timed_run(flows: Path, tmp: Path, env: dict[str, str], variant: str) -> tuple[Timing, Path]:
    report = tmp / f"report-{variant}.jsonl"
    report.unlink(missing_ok=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        mitmdump_cmd(flows, tmp, report, variant),
        env=env,
        cwd=tmp,
        capture_output=True,
        timeout=900,
    )
    took = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0 or b"Traceback" in out.stderr + out.stdout:
        raise SystemExit(
            f"mitmdump failed ({out.returncode}):\n{(out.stdout + out.stderr).decode()[-3000:]}"
        )
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Timing(took, cpu), report


def best_times(
    flows: Path, tmp: Path, env: dict[str, str], rounds: int, label: str, variants: tuple[str, ...]
) -> tuple[dict[str, Timing], dict[str, Path], list[dict[str, Timing]]]:
    """The best wall and CPU times of each variant, the reports, and every round's times
    (the variants run back to back in each round, so a round's ratios share its drift)."""
    best = {v: Timing() for v in variants}
    reports: dict[str, Path] = {}
    per_round: list[dict[str, Timing]] = []
    for i in range(rounds):  # interleaved, so drift affects all alike
        order = variants if i % 2 == 0 else variants[::-1]  # and neither goes first always
        got: dict[str, Timing] = {}
        for v in order:
            got[v], reports[v] = timed_run(flows, tmp, env, v)
            best[v] = Timing(min(best[v].wall, got[v].wall), min(best[v].cpu, got[v].cpu))
        per_round.append(got)
        print(
            f"  {label} round {i + 1}/{rounds}: "
            + ", ".join(f"{v} {got[v].wall:.2f} s" for v in variants)
            + f"; with/without {got['worker'].wall / got['plain'].wall:.2f}",
            flush=True,
        )
    return best, reports, per_round


def callgrind_count(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None, children: bool = False
) -> int:
    """Instructions a command's process executes, counted by callgrind, with
    ``PYTHONHASHSEED=0`` so that the count repeats; with ``children`` the sum over it and
    every process it starts (the worker). Shared with bench_worker.py."""
    out = subprocess.run(
        [*callgrind_prefix(children), *cmd],
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    counts = list(collected(out.stderr).values())
    if out.returncode != 0 or not counts:
        raise SystemExit(f"callgrind run failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return sum(counts) if children else counts[0]


def instructions(flows: Path, tmp: Path, env: dict[str, str], variant: str) -> int:
    """Instructions executed by mitmproxy's process (callgrind) for one run of
    ``variant``; for ``worker+`` (the default addon), by it and its worker together."""
    report = tmp / f"report-cg-{variant}-{flows.stem}.jsonl"
    report.unlink(missing_ok=True)
    cmd = mitmdump_cmd(flows, tmp, report, variant.rstrip("+"))
    return callgrind_count(cmd, env, cwd=tmp, children=variant.endswith("+"))


def callgrind_ratio(shapes: list[Shape], tmp: Path, env: dict[str, str], n: int) -> None:
    """Per-flow instructions of mitmproxy's process with the addon (worker) and without,
    from runs over an empty file and over n flows, two at a time; and of mitmproxy's
    process and the worker together (what the addon costs if the worker gets no core of
    its own)."""
    from concurrent.futures import ThreadPoolExecutor

    files = {0: tmp / "cg-empty.mitm", n: tmp / f"cg-{n}.mitm"}
    write_flows(files[0], [])
    write_flows(files[n], shapes[:n])
    counts: dict[tuple[int, str], int] = {}
    with ThreadPoolExecutor(2) as pool:
        for k, path in files.items():
            print(f"  callgrind: {k} flows, without and with the addon ...", flush=True)
            variants = ("plain", "worker", "worker+")
            jobs = {v: pool.submit(instructions, path, tmp, env, v) for v in variants}
            for v, job in jobs.items():
                counts[k, v] = job.result()
    per = {v: (counts[n, v] - counts[0, v]) / n for v in ("plain", "worker")}
    print(f"\n== instructions of mitmproxy's process (callgrind, {n} flows)")
    for v, label in (("plain", "without addon"), ("worker", "with addon (default)")):
        print(f"{label:24} start-up {counts[0, v] / 1e9:6.2f} G, per flow {per[v] / 1e6:6.2f} M")
    print(
        f"  whole run of {n} flows, with/without: {counts[n, 'worker'] / counts[n, 'plain']:8.3f}"
        "   (target <= 1.10)"
    )
    print(
        f"  per flow, with/without             : {per['worker'] / per['plain']:8.3f}"
        "   (less sure: the start-up of the two runs it subtracts varies)"
    )
    print(
        f"  whole run, mitmproxy and the worker: {counts[n, 'worker+'] / counts[n, 'plain']:7.3f}"
        "   (the ratio if the worker had no core of its own; the worker's share, start-up "
        f"included: {(counts[n, 'worker+'] - counts[n, 'worker']) / 1e9:.2f} G)"
    )


# -- in-process profile of the addon path -----------------------------------------------


def load_addon_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sigv4_bench_profile", ADDON)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def iter_flows(path: Path) -> Iterator[http.HTTPFlow]:
    with open(path, "rb") as fh:
        for f in io.FlowReader(fh).stream():
            assert isinstance(f, http.HTTPFlow)
            yield f


SECTIONS = (  # the addon's methods timed (inclusive) by profile_addon
    "requestheaders",
    "response",
    "_learn",
    "_finalize",
    "_capture",
    "_inspect_inline",
    "_annotate",
)
# the core functions the inspector calls, as sigv4_inspector.core.inspect names them
CORE_SECTIONS = ("inspect_request", "parse_auth", "parse_response")


def _instrument(mod: ModuleType) -> StepTimers:
    """Wrap the addon's methods and the module functions it calls (in this private copy of
    the module) with timers."""
    import sigv4_inspector.core.inspect as fi

    timers = StepTimers()
    for m in SECTIONS:
        timers.wrap(mod.SigV4Inspector, m)
    timers.wrap(fi.FlowInspector, "_client_clock_ok")
    for g in CORE_SECTIONS:
        timers.wrap(fi, g, g + "()")
    return timers


def profile_addon(flows_path: Path, tmp: Path, env: dict[str, str], top: int = 18) -> str:
    """Run the addon's hooks over the flows in this process (inline: no worker, as without
    a running event loop): once plain, once with timers around its main steps (inclusive
    times), once under cProfile. Return the report."""
    from mitmproxy import eventsequence
    from mitmproxy.test import taddons

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        mod = load_addon_module()
        addon = mod.SigV4Inspector()
        flows = list(iter_flows(flows_path))
        n = len(flows)
        with taddons.context(addon) as tctx:
            tctx.configure(addon, sigv4_report=str(tmp / "profile.jsonl"), sigv4_quiet=True)

            def run_all(tag: str) -> float:
                for f in flows:  # new ids, or the addon would skip them as already recorded
                    f.id = f"{tag}-{f.id}"
                t = time.perf_counter()
                for f in flows:
                    for ev in eventsequence.iterate(f):
                        hook = getattr(addon, ev.name, None)
                        if hook is not None:
                            hook(f)
                return time.perf_counter() - t

            plain_s = run_all("a")
            timers = _instrument(mod)
            timed_s = run_all("b")
            # the cProfile run below adds to the timers: keep this run's figures
            acc, calls = dict(timers.seconds), Counter(timers.calls)
            prof = cProfile.Profile()
            prof.enable()
            run_all("c")
            prof.disable()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    buf = _io.StringIO()
    buf.write(
        f"addon hooks in-process, no profiler: {plain_s / n * 1e6:.0f} us per flow ({n} flows)\n"
    )
    buf.write(
        f"inclusive time per flow of the main steps (timers add ~1 us each; total {timed_s / n * 1e6:.0f} us):\n"
    )
    for label, secs in sorted(acc.items(), key=lambda kv: -kv[1]):
        buf.write(
            f"  {label:22} {secs / n * 1e6:7.1f} us  ({calls[label] / n:.1f} calls per flow)\n"
        )
    buf.write("\n")
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    # the addon's and the core's own functions (full paths, so the filter can see addons/)
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(r"/addons/", top)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=5000, help="number of flows (default 5000)")
    ap.add_argument("--rounds", type=int, default=11, help="rounds of paired runs (default 11)")
    ap.add_argument(
        "--inline", action="store_true", help="also time sigv4_worker=false in each round"
    )
    ap.add_argument("--quick", action="store_true", help="500 flows, 2 rounds (smoke run)")
    ap.add_argument("--profile", action="store_true", help="always print the cProfile report")
    ap.add_argument("--keep", type=Path, help="keep the .mitm file and reports in this folder")
    ap.add_argument(
        "--callgrind",
        type=int,
        metavar="N",
        help="instead of timing, count the instructions over N flows without and with the "
        "addon: of mitmproxy's process, and of it and the worker together (valgrind; about "
        "13 minutes for 1000)",
    )
    args = ap.parse_args()
    if args.quick:
        args.flows, args.rounds = 500, 2
    tmp = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    try:
        (tmp / "aws-credentials").write_text(
            f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"
        )
        env = clean_aws_env(tmp)
        os.environ.clear()  # boto3 here too: no machine AWS settings, proxies or CA overrides
        os.environ.update(env)
        t = time.perf_counter()
        shapes = build_shapes(args.flows)
        flows = tmp / "flows.mitm"
        write_flows(flows, shapes)
        if args.callgrind:
            callgrind_prefix()  # valgrind is there
            callgrind_ratio(shapes, tmp, env, min(args.callgrind, len(shapes)))
            return 0
        empty = tmp / "empty.mitm"
        write_flows(empty, [])
        mix = Counter(s.kind for s in shapes)
        print(
            f"built {len(shapes)} flows ({flows.stat().st_size / 2**20:.1f} MiB) in "
            f"{time.perf_counter() - t:.1f} s; mix: "
            + ", ".join(f"{k} {n}" for k, n in sorted(mix.items()))
        )
        variants = VARIANTS if args.inline else VARIANTS[:2]
        start, _, _ = best_times(empty, tmp, env, args.rounds, "start-up (no flows)", variants)
        runs, reports, per_round = best_times(
            flows, tmp, env, args.rounds, f"{args.flows} flows", variants
        )
        report = reports["worker"]
        n = len(shapes)
        for v in variants[1:]:
            recs = [json.loads(x) for x in reports[v].read_text().splitlines()]
            if len(recs) != n or len({r["flow_id"] for r in recs}) != n:
                print(f"WARNING: {v}: {len(recs)} records for {n} flows")
        records = [json.loads(x) for x in report.read_text().splitlines()]
        verdicts = Counter(r["verdict"] for r in records)
        plain = runs["plain"].wall
        paired = sorted(r["worker"].wall / r["plain"].wall for r in per_round)
        ratio = median_ci(paired)[0]
        print(f"records: {len(records)}; verdicts: {dict(sorted(verdicts.items()))}")
        print()
        print(f"== summary (mitmdump -nr, {n} flows, best of {args.rounds})")
        print("                         wall s   ratio   CPU s (all processes)   start-up s")
        labels = {
            "plain": "without addon",
            "worker": "with addon (default)",
            "inline": "with sigv4_worker=false",
        }
        for v in variants:
            t = runs[v]
            print(
                f"{labels[v]:24} {t.wall:7.2f}   {t.wall / plain:5.2f}   {t.cpu:7.2f} (x{t.cpu / runs['plain'].cpu:.2f})"
                f"          {start[v].wall:5.2f}"
            )
        print(
            f"  ratio with/without (default)     : {ratio:8.2f}   (target <= {TARGET:.2f}; the "
            f"median of the rounds' ratios: {', '.join(f'{x:.2f}' for x in paired)}; best "
            f"times: {runs['worker'].wall / plain:.2f})"
        )
        print(interval_line(paired, TARGET, at_most=True))
        per = {v: (runs[v].wall - start[v].wall) / n * 1e6 for v in variants}
        print(
            "per flow after start-up (wall)   : "
            + " / ".join(f"{labels[v]} {per[v]:.0f} us" for v in variants)
        )
        if args.profile or ratio > TARGET:
            print()
            print("== cProfile of the addon's hooks over the same flows (in-process)")
            print(profile_addon(flows, tmp, env))
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for p in (flows, *reports.values()):
                if p.exists():  # the run without the addon writes no report
                    shutil.copy(p, args.keep / p.name)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
