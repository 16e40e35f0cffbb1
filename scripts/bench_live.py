#!/usr/bin/env python3
"""Benchmark the addon's cost on live traffic: requests per second through mitmdump with
and without it.

Starts scripts/fakeaws.py in this process (threads on 127.0.0.1, verifying every signature
with botocore's signers) and two mitmdump processes on 127.0.0.1 with the same options
(``-q --set sigv4_quiet=true --set sigv4_report=...``; with ``--lines``, neither ``-q``
nor ``sigv4_quiet``: each prints its line per flow into its log, as a user runs it), one of them with
``-s addons/sigv4.py``. One boto3 S3 client per proxy (HTTPS through the proxy, TLS on
both legs) sends N small requests (PutObject of a few hundred bytes and GetObject,
alternating), with and without the addon back to back in each round (11 rounds, which
goes first alternating). Prints requests per second with and without the addon (best
round of each), the median of the per-round ratios (on a small VM single rounds vary by
+-10 %) with its 95 % confidence interval (``benchstats.median_ci``; target >= 0.90),
and checks that every request got exactly one ``valid`` record. With ``--lines`` it also
prints how many log records carried the addon's lines: those of outcomes that come back
from the worker together share one.

``--callgrind N`` counts instructions instead of timing (the same count however busy the
machine is): each proxy runs under valgrind's callgrind, its worker included, once for a
warm-up and once for the warm-up and N more requests; the difference over N is what one
request costs mitmproxy's process and the worker. Their ratios to mitmproxy without the
addon bound the throughput ratio when the proxy is the bottleneck: 1/ratio.

``start_proxy`` here is shared with scripts/bench_upload.py and scripts/soak.py.

Usage: .venv/bin/python scripts/bench_live.py [-n 500] [--rounds 11] [--quick] [--lines]
       [--callgrind N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import botocore.config
from benchstats import callgrind_prefix, collected, interval_line, median_ci

from sigv4_testsupport import fakeaws
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import Proxy, child_pids, clean_aws_env, start_mitmdump

ADDON = ROOT / "addons" / "sigv4.py"
AKID, SECRET = fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY
TARGET = 0.90


def fakeaws_nodelay() -> None:
    """fakeaws writes a response's head and body in two small writes; with Nagle's
    algorithm and delayed ACKs every response with a body then waits ~40 ms. Setting
    TCP_NODELAY on its sockets (in this process only) makes the proxy, not that, the
    measured cost."""
    fakeaws._Handler.disable_nagle_algorithm = True


def clean_process_env(home: Path) -> None:
    """Run this process without the machine's AWS settings, proxy variables or CA
    overrides (what tests/proxyharness.clean_aws_env gives mitmdump), so boto3 here
    behaves the same on every machine and nothing leaves 127.0.0.1."""
    env = clean_aws_env(home)
    os.environ.clear()
    os.environ.update(env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_credentials(home: Path) -> None:
    """The profile the addon verifies with (the fakeaws example key pair)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"
    )


def start_proxy(
    workdir: Path,
    *,
    addon: bool,
    extra: Sequence[str] = (),
    quiet: bool = True,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30,
    prefix: Sequence[str] = (),
) -> Proxy:
    """mitmdump on 127.0.0.1 (free port), own confdir and report in ``workdir``, the sigv4
    options always set (mitmproxy keeps unknown ``--set`` values, so both variants get the
    same command line apart from ``-s``); returns once it accepts connections. ``quiet``:
    ``-q`` and ``sigv4_quiet``, else mitmdump's and the addon's lines per flow go to the
    log."""
    workdir.mkdir(parents=True, exist_ok=True)
    opts = [*(["-q", "--set", "sigv4_quiet=true"] if quiet else []), *extra]
    return start_mitmdump(
        workdir,
        *opts,
        env=env or clean_aws_env(workdir),
        save=False,
        ready_timeout=ready_timeout,
        addon=addon,
        port=free_port(),
        prefix=prefix,
    )


def stop_proxy(proxy: Proxy, timeout: float = 20) -> str:
    """SIGTERM (mitmdump finishes its flows and closes the report), then the log."""
    if proxy.proc.poll() is None:
        proxy.proc.send_signal(signal.SIGTERM)
        try:
            proxy.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proxy.proc.kill()
            proxy.proc.wait()
    return proxy.output()


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in KiB, from /proc, of a process plus its children (the
    addon's worker process), so memory held by either counts."""
    out: dict[str, int] = {"VmRSS": 0, "VmHWM": 0}
    for p in (pid, *child_pids(pid)):
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue  # a child that just ended
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in out:
                out[key] += int(rest.split()[0])
    return out


def s3_client(proxy: Proxy | None, server: fakeaws.FakeAWS, **cfg: Any) -> Any:
    """A boto3 S3 client of the local endpoint, through ``proxy`` (None: straight to it)."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=AKID,
        aws_secret_access_key=SECRET,
        endpoint_url=f"https://127.0.0.1:{server.https_port}",
        verify=proxy.ca if proxy is not None else str(server.ca_path),
        config=botocore.config.Config(
            proxies={"https": proxy.url, "http": proxy.url} if proxy is not None else None,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
            max_pool_connections=1,
            **cfg,
        ),
    )


def run_requests(client: Any, n: int, tag: str) -> float:
    """Send ``n`` small requests (PutObject / GetObject alternating); return seconds."""
    body = b"x" * 300
    t = time.perf_counter()
    for i in range(n):
        key = f"{tag}/{i % 50}"
        if i % 2 == 0:
            client.put_object(Bucket="live", Key=key, Body=body)
        else:
            client.get_object(Bucket="live", Key=f"{tag}/{(i - 1) % 50}")["Body"].read()
    return time.perf_counter() - t


WARM = 20  # requests before the timed ones, in every run
_STOPPING = threading.Lock()  # one counted proxy shuts down at a time (see counted_run)


def counted_run(
    tmp: Path, server: fakeaws.FakeAWS, n: int, addon: bool, quiet: bool = True
) -> tuple[int, int]:
    """One proxy under callgrind (its worker too): WARM + n requests, then a clean exit.
    Returns (instructions of mitmproxy's process, of its children: the worker). Every run
    uses the CA made in ``tmp/ca-seed``: making one (an RSA key) would count differently
    each time."""
    work = tmp / f"cg-{'addon' if addon else 'plain'}-{n}"
    write_credentials(work)
    shutil.copytree(tmp / "ca-seed" / "mitm-conf", work / "mitm-conf")
    env = {**clean_aws_env(work), "PYTHONHASHSEED": "0"}  # the same hashing every run
    valgrind = callgrind_prefix(children=True)  # the worker too
    proxy = start_proxy(work, addon=addon, quiet=quiet, env=env, ready_timeout=900, prefix=valgrind)
    try:
        client = s3_client(proxy, server, read_timeout=300, connect_timeout=300)
        run_requests(client, WARM + n, f"cg{n}{addon}")
        if addon and len(proxy.wait_records(WARM + n, timeout=600)) < WARM + n:
            raise SystemExit(f"the addon under callgrind wrote fewer than {WARM + n} records")
    finally:
        # the addon kills a worker that has not said it stops within 0.5 s, and a killed
        # process leaves no count: shut down one at a time, so that a slow machine does not
        # push the worker past that
        with _STOPPING:
            log = stop_proxy(proxy, timeout=900)
    if addon and not quiet:  # under valgrind fewer flows share a batch: more records
        print(f"  {n} requests: {log_records_line(log)}", flush=True)
    counts = collected(log)
    if proxy.proc.pid not in counts or len(counts) != (2 if addon else 1):
        raise SystemExit(
            f"callgrind counts missing (mitmdump pid {proxy.proc.pid}, counts {counts}): a "
            f"process was killed before valgrind wrote its count; run on an idle machine\n"
            + log[-3000:]
        )
    own = counts.pop(proxy.proc.pid)
    return own, sum(counts.values())


def callgrind_live(tmp: Path, server: fakeaws.FakeAWS, n: int, quiet: bool = True) -> None:
    """Per-request instructions with and without the addon, from runs of WARM and WARM + n
    requests, four at a time."""
    from concurrent.futures import ThreadPoolExecutor

    stop_proxy(start_proxy(tmp / "ca-seed", addon=False))  # makes the CA every run uses
    runs = [(k, addon) for k in (0, n) for addon in (False, True)]
    print(f"  callgrind: {len(runs)} proxy runs ({WARM} and {WARM + n} requests) ...", flush=True)
    with ThreadPoolExecutor(len(runs)) as pool:
        counts = pool.map(lambda r: counted_run(tmp, server, *r, quiet=quiet), runs)
        got = dict(zip(runs, counts, strict=True))
    plain = (got[n, False][0] - got[0, False][0]) / n
    proxy = (got[n, True][0] - got[0, True][0]) / n
    worker = (got[n, True][1] - got[0, True][1]) / n
    start = got[0, True][1]
    mode = "-q" if quiet else "lines per flow printed"
    print(f"\n== instructions per request (callgrind, {mode}, {n} requests after {WARM} warm-up)")
    print(f"mitmproxy without addon            : {plain / 1e6:8.2f} M")
    print(f"mitmproxy with addon               : {proxy / 1e6:8.2f} M")
    print(
        f"the worker                         : {worker / 1e6:8.2f} M (start-up and warm-up: {start / 1e9:.2f} G)"
    )
    print(
        f"  mitmproxy's process, with/without: {proxy / plain:8.3f}   (throughput >= "
        f"{plain / proxy:.2f} where the proxy is the bottleneck and the worker has a core)"
    )
    print(
        f"  with the worker's work added     : {(proxy + worker) / plain:8.3f}   (throughput >= "
        f"{plain / (proxy + worker):.2f} where the proxy is the bottleneck and shares its core)"
    )


def log_records_line(output: str) -> str:
    """How many log records carried the addon's lines per flow: the worker's outcomes that
    arrive together share one (only its first line has mitmproxy's timestamp)."""
    lines = output.splitlines()
    records = sum(1 for ln in lines if "] [sigv4] " in ln)
    flows = records + sum(1 for ln in lines if ln.startswith("[sigv4] "))
    return (
        f"the addon's lines, one per flow: {flows} in {records} log records "
        f"({flows / max(records, 1):.1f} lines per record)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=500, help="requests per round (default 500)")
    ap.add_argument("--rounds", type=int, default=11, help="paired rounds (default 11)")
    ap.add_argument("--quick", action="store_true", help="100 requests, 1 round (smoke run)")
    ap.add_argument(
        "--lines", action="store_true", help="without -q: the lines per flow are printed"
    )
    ap.add_argument(
        "--callgrind", type=int, metavar="N", help="count instructions over N requests instead"
    )
    args = ap.parse_args()
    if args.quick:
        args.n, args.rounds = 100, 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    clean_process_env(tmp)
    fakeaws_nodelay()
    server = fakeaws.start_fakeaws(tmp / "fakeaws-certs")
    proxies: dict[bool, Proxy] = {}
    try:
        if args.callgrind:
            callgrind_prefix()  # valgrind is there
            s3_client(None, server).create_bucket(Bucket="live")  # straight to the endpoint
            callgrind_live(tmp, server, args.callgrind, quiet=not args.lines)
            return 0
        for addon in (False, True):
            work = tmp / ("addon" if addon else "plain")
            write_credentials(work)
            proxies[addon] = start_proxy(work, addon=addon, quiet=not args.lines)
        clients = {addon: s3_client(p, server) for addon, p in proxies.items()}
        clients[False].create_bucket(Bucket="live")
        for addon, c in clients.items():  # warm-up: TLS, connection pools, lazy imports
            run_requests(c, 20, f"warm-{addon}")
        # the worker annotates after the response: wait for the warm-up's 20 records, so
        # they are not counted as the timed rounds'
        warm_records = len(proxies[True].wait_records(20, timeout=30))
        best: dict[bool, float] = {False: float("inf"), True: float("inf")}
        round_ratios: list[float] = []
        for r in range(args.rounds):
            took_round: dict[bool, float] = {}
            for addon in (False, True) if r % 2 == 0 else (True, False):
                server.clear()
                took = took_round[addon] = run_requests(clients[addon], args.n, f"r{r}")
                best[addon] = min(best[addon], took)
                assert len(server.requests) == args.n, "fakeaws did not see every request"
                bad = [q.status for q in server.requests if q.status not in (None, 200)]
                assert not bad, f"fakeaws refused requests: {Counter(bad)}"
            round_ratios.append(took_round[False] / took_round[True])
            print(
                f"  round {r + 1}/{args.rounds}: without {args.n / took_round[False]:.1f} req/s, "
                f"with {args.n / took_round[True]:.1f} req/s; ratio {round_ratios[-1]:.2f}",
                flush=True,
            )
        recs = proxies[True].wait_records(warm_records + args.n * args.rounds, timeout=30)
        verdicts = Counter(x["verdict"] for x in recs[warm_records:])
        ids = [x["flow_id"] for x in recs]
        print(
            f"addon records: {len(recs) - warm_records} for {args.n * args.rounds} timed "
            f"requests, {len(ids) - len(set(ids))} duplicate flow ids; verdicts: {dict(verdicts)}"
        )
        if args.lines:
            print(log_records_line(proxies[True].output()))
        plain_rps, addon_rps = args.n / best[False], args.n / best[True]
        print()
        mode = "lines per flow printed" if args.lines else "-q"
        print(
            f"== summary (live HTTPS through mitmdump, {mode}, {args.n} requests, "
            f"best of {args.rounds})"
        )
        print(f"without addon                      : {plain_rps:8.1f} req/s")
        print(f"with addon                         : {addon_rps:8.1f} req/s")
        median = median_ci(round_ratios)[0]
        print(f"  ratio of the best rounds         : {addon_rps / plain_rps:8.2f}")
        print(
            f"  median of the per-round ratios   : {median:8.2f}   (target >= {TARGET:.2f}; "
            f"rounds: {', '.join(f'{x:.2f}' for x in sorted(round_ratios))})"
        )
        print(interval_line(round_ratios, TARGET, at_most=False))
        print(
            f"  latency added per request        : {(best[True] - best[False]) / args.n * 1e3:8.2f} ms"
        )
        for addon, p in proxies.items():
            json_tail = [ln for ln in p.output().splitlines() if "Traceback" in ln or "rror" in ln]
            if json_tail:
                print(f"mitmdump ({'addon' if addon else 'plain'}) log:", json.dumps(json_tail[:5]))
        return 0
    finally:
        for p in proxies.values():
            stop_proxy(p)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
