#!/usr/bin/env python3
"""Soak run: many small AWS flows through one live mitmdump with the addon; checks that its
memory stays bounded and that the report has exactly one record per flow.

fakeaws runs in this process (127.0.0.1). The flows are a mix over keep-alive boto3
clients and fresh connections: S3 PutObject / GetObject / HeadObject / ListObjectsV2,
DynamoDB PutItem / GetItem, presigned GETs on a new TLS connection each (one CONNECT
tunnel per flow), and about 5 % signed with a wrong secret (refused by fakeaws, diagnosed
by the addon with its variant search). The RSS of mitmdump and its worker is read from /proc every
``--sample-every`` flows. After ``--warmup`` flows the RSS is the baseline, and the
growth over it must stay below ``--max-growth-mib`` (64 MiB). After mitmdump stops, the
JSONL must hold exactly one record per flow (counted by flow_id, no duplicates). The exit
code is 0 only when both hold. ``--without-addon`` runs the same traffic through a plain
mitmdump, to tell the addon's share of any growth from mitmproxy's own.

Usage: .venv/bin/python scripts/soak.py [--flows 20000] [--quick] [--max-minutes 60]
       [--without-addon]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import shutil
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sigv4_testsupport import fakeaws
from sigv4_testsupport.benchtools import rss_kib
from sigv4_testsupport.proxyharness import (
    Proxy,
    clean_process_env,
    fakeaws_nodelay,
    local_client,
    start_proxy,
    write_credentials,
)

AKID, SECRET = fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY


def client(proxy: Proxy, server: fakeaws.FakeAWS, service: str, secret: str = SECRET) -> Any:
    return local_client(
        service,
        server.https_port,
        proxy.url,
        proxy.ca,
        key=AKID,
        secret=secret,
        signature_version="s3v4" if service == "s3" else None,
    )


def presigned_get(proxy: Proxy, server: fakeaws.FakeAWS, url: str) -> int:
    """GET a presigned URL on a new connection (CONNECT, TLS) through the proxy."""
    tls = ssl.create_default_context(cafile=proxy.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=tls, timeout=30)
    conn.set_tunnel("127.0.0.1", server.https_port)
    try:
        conn.request("GET", url.split(f":{server.https_port}", 1)[1])
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def make_actions(
    proxy: Proxy, server: fakeaws.FakeAWS
) -> tuple[list[tuple[str, int, Callable[[int], Any]]], list[Any]]:
    """(name, weight, action(i)) triples, each sending exactly one request; the clients."""
    s3 = client(proxy, server, "s3")
    ddb = client(proxy, server, "dynamodb")
    bad = client(proxy, server, "dynamodb", secret=SECRET[:-1] + "X")
    s3.create_bucket(Bucket="soak")
    s3.put_object(Bucket="soak", Key="k0", Body=b"seed")
    body = b"s" * 512

    def bad_call(i: int) -> None:
        with contextlib.suppress(ClientError):
            bad.get_item(TableName="soak", Key={"pk": {"S": str(i)}})

    def presigned(i: int) -> None:
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "soak", "Key": "k0"})
        status = presigned_get(proxy, server, url)
        assert status == 200, status

    actions: list[tuple[str, int, Callable[[int], Any]]] = [
        ("s3-put", 20, lambda i: s3.put_object(Bucket="soak", Key=f"k{i % 100}", Body=body)),
        ("s3-get", 20, lambda i: s3.get_object(Bucket="soak", Key="k0")["Body"].read()),
        ("s3-head", 10, lambda i: s3.head_object(Bucket="soak", Key="k0")),
        ("s3-list", 5, lambda i: s3.list_objects_v2(Bucket="soak", MaxKeys=5)),
        (
            "ddb-put",
            20,
            lambda i: ddb.put_item(TableName="soak", Item={"pk": {"S": str(i % 100)}}),
        ),
        ("ddb-get", 18, lambda i: ddb.get_item(TableName="soak", Key={"pk": {"S": "1"}})),
        ("presigned", 2, presigned),
        ("bad-secret", 5, bad_call),
    ]
    return actions, [s3, ddb, bad]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=20_000, help="flows to send (default 20000)")
    ap.add_argument("--sample-every", type=int, default=1000, help="RSS sample period, flows")
    ap.add_argument("--warmup", type=int, default=2000, help="flows before the RSS baseline")
    ap.add_argument("--max-growth-mib", type=float, default=64.0, help="allowed RSS growth")
    ap.add_argument("--max-minutes", type=float, default=60.0, help="stop sending after this")
    ap.add_argument("--quick", action="store_true", help="1,000 flows, sampled every 100")
    ap.add_argument(
        "--without-addon",
        action="store_true",
        help="baseline: the same run through mitmdump without the addon (RSS only)",
    )
    args = ap.parse_args()
    if args.quick:
        args.flows, args.sample_every, args.warmup = 1000, 100, 200
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    clean_process_env(tmp)
    fakeaws_nodelay()
    server = fakeaws.start_fakeaws(tmp / "fakeaws-certs")
    write_credentials(tmp / "proxy", AKID, SECRET)
    addon = not args.without_addon
    proxy = start_proxy(tmp / "proxy", addon=addon)
    problems: list[str] = []
    try:
        actions, clients = make_actions(proxy, server)
        setup_records = proxy.wait_records(2, timeout=10) if addon else []
        names = [a[0] for a in actions for _ in range(a[1])]
        by_name = {a[0]: a[2] for a in actions}
        sent: Counter[str] = Counter()
        samples: list[tuple[int, int]] = [(0, rss_kib(proxy.proc.pid)["VmRSS"])]
        deadline = time.monotonic() + args.max_minutes * 60
        t0 = time.monotonic()
        print(f"soak: {args.flows:,} flows through mitmdump pid {proxy.proc.pid}", flush=True)
        for i in range(1, args.flows + 1):
            name = names[(i * 7919) % len(names)]  # a fixed, well-spread mix
            by_name[name](i)
            sent[name] += 1
            if i % 200 == 0:
                server.clear()  # fakeaws keeps every request in memory; this is not the proxy
            if i % args.sample_every == 0:
                rss = rss_kib(proxy.proc.pid)["VmRSS"]
                samples.append((i, rss))
                rate = i / (time.monotonic() - t0)
                print(
                    f"  {i:>7,} flows  RSS {rss / 1024:7.1f} MiB  {rate:6.0f} flows/s", flush=True
                )
            if time.monotonic() > deadline:
                problems.append(f"time limit: stopped after {i:,} of {args.flows:,} flows")
                break
        total = sum(sent.values())
        elapsed = time.monotonic() - t0
        hwm = rss_kib(proxy.proc.pid)["VmHWM"]
        if addon:
            proxy.wait_records(len(setup_records) + total, timeout=30)
        alive = proxy.proc.poll() is None
        for cl in clients:  # close keep-alive connections: no cancelled tasks at shutdown
            cl.close()
        out = proxy.stop(20)
        if not alive:
            problems.append("mitmdump exited during the run")
        addon_errors = [
            ln for ln in out.splitlines() if "Addon error" in ln or "addons/sigv4" in ln
        ]
        if addon_errors:
            problems.append("mitmdump logged addon errors:\n" + "\n".join(addon_errors[:20]))
        lines = proxy.report.read_text().splitlines() if addon else []
        records = [json.loads(x) for x in lines if x.strip()]
        records = records[len(setup_records) :]
        ids = Counter(r["flow_id"] for r in records)
        dupes = sum(n - 1 for n in ids.values() if n > 1)
        verdicts = Counter(r["verdict"] for r in records)
        if addon and (len(records) != total or len(ids) != total or dupes):
            problems.append(
                f"records: {len(records)} for {total} flows ({len(ids)} flow ids, {dupes} duplicates)"
            )
        base_i, base = next(((n, r) for n, r in samples if n >= args.warmup), samples[-1])
        after = [r for n, r in samples if n >= base_i]
        growth = (max(after) - base) / 1024
        end_growth = (after[-1] - base) / 1024
        span = (samples[-1][0] - base_i) / 1000 or 1
        if growth >= args.max_growth_mib:
            problems.append(
                f"RSS grew {growth:.1f} MiB after warm-up (limit {args.max_growth_mib})"
            )
        print()
        print(
            f"== summary (soak {'with' if addon else 'WITHOUT'} the addon, {total:,} flows in {elapsed:.0f} s, "
            f"{total / elapsed:.0f} flows/s)"
        )
        print(f"mix                                : {dict(sorted(sent.items()))}")
        if addon:
            print(f"records / unique flow ids / dupes  : {len(records)} / {len(ids)} / {dupes}")
            print(f"verdicts                           : {dict(sorted(verdicts.items()))}")
        print(
            f"RSS at start / at warm-up ({base_i:,})  : {samples[0][1] / 1024:.1f} / {base / 1024:.1f} MiB"
        )
        print(
            f"RSS at end / peak / VmHWM          : {after[-1] / 1024:.1f} / {max(after) / 1024:.1f} / {hwm / 1024:.1f} MiB"
        )
        print(
            f"growth after warm-up (peak)        : {growth:8.1f} MiB   (limit {args.max_growth_mib:.0f} MiB)"
        )
        print(
            f"growth after warm-up (end)         : {end_growth:8.1f} MiB   ({end_growth / span * 1024:.0f} KiB per 1,000 flows)"
        )
        print("result                             :", "OK" if not problems else "FAILED")
        for p in problems:
            print("  -", p)
        return 0 if not problems else 1
    finally:
        proxy.stop(20)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
