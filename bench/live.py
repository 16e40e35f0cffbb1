"""Live traffic through a real mitmdump (issue 17, target 4): 500 small boto3 requests over
HTTPS, the addon against a no-op addon.

    .venv/bin/python bench/live.py [-n 500] [--rounds 11] [--lines] [--quick]
    .venv/bin/python bench/live.py --callgrind 200

fakeaws runs in this process (threads on 127.0.0.1, verifying every signature it gets; its
sockets with TCP_NODELAY so Nagle's algorithm is not what is measured). Two mitmdump
processes with the same command line apart from the script: ``-s addons/sigv4.py``
(credentials from a temporary AWS_SHARED_CREDENTIALS_FILE) and ``-s bench/noop_addon.py``;
both ``-q`` with ``sigv4_quiet`` (with ``--lines`` neither: the addon prints its line per
flow, as a user runs it). Per proxy, boto3 clients (S3 and DynamoDB, HTTPS through the
proxy, TLS on both legs, one kept-alive connection each) send the mix: S3 PutObject (300
bytes) and GetObject, DynamoDB PutItem and GetItem, in turn.

Each round sends ``-n`` requests through each proxy, back to back, alternating which goes
first. Per round and proxy: the CPU time of the mitmdump process (and any child) from
/proc, over the requests, divided by their number; each request's latency as the client
sees it, and their 99th percentile. Judged, over the rounds (median, 95 % interval):

- the proxy's CPU per request, addon / no-op: at most 1.10;
- the added p99 latency, addon p99 - no-op p99 of the same round: at most 2 ms.

Every timed request must get exactly one ``valid`` record from the addon, and a 200 from
fakeaws.

``--callgrind N`` counts instructions instead (the same count however busy the machine is):
each proxy runs under valgrind's callgrind, once for the warm-up and once for the warm-up
and N more requests; the difference over N is one request's cost in mitmproxy's process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigv4_testsupport import fakeaws
from sigv4_testsupport.benchtools import (
    Check,
    callgrind_prefix,
    collected,
    ensure_bytecode,
    median_ci,
    proc_cpu,
    ratio_check,
    report_ratio,
    targets_block,
)
from sigv4_testsupport.proxyharness import (
    Proxy,
    child_pids,
    clean_aws_env,
    clean_process_env,
    fakeaws_nodelay,
    local_client,
    start_proxy,
    write_credentials,
)

AKID, SECRET = fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY
CPU_TARGET = 1.10
P99_TARGET_MS = 2.0
WARM = 40  # requests before the timed ones, through each proxy
VARIANTS = ("noop", "addon")
FULL_RUN = """\
The full-size run (the figures of docs/benchmarks.md, "Live traffic"; on a quiet machine,
nothing else running; a few minutes):

    .venv/bin/python bench/live.py -n 500 --rounds 11

(the defaults), then the same with --lines (the addon's line per flow printed, as a user
runs it) and, to count instructions instead of timing, --callgrind 200. A smoke run:
--quick (100 requests, 2 rounds: too few rounds for an interval, so its ratios print MISS).
The last block prints PASS or MISS per target; the exit status is 1 when the records check
fails (a timed request without exactly one valid record), else 0 whatever the ratios.
"""


def proxy_cpu(proxy: Proxy) -> float:
    """CPU seconds mitmdump (and any process it started) has used so far."""
    total = 0.0
    for pid in (proxy.proc.pid, *child_pids(proxy.proc.pid)):
        with contextlib.suppress(OSError):  # a child that just ended
            total += proc_cpu(pid)
    return total


def clients(proxy: Proxy, server: fakeaws.FakeAWS, **cfg: Any) -> tuple[Any, Any]:
    """boto3 S3 and DynamoDB clients of the local endpoint, through ``proxy``."""

    def make(service: str) -> Any:
        return local_client(
            service,
            server.https_port,
            proxy.url,
            proxy.ca,
            key=AKID,
            secret=SECRET,
            max_pool_connections=1,
            **cfg,
        )

    return make("s3"), make("dynamodb")


def mix(s3: Any, ddb: Any, tag: str) -> list[Callable[[int], Any]]:
    """The four requests, in turn: S3 PutObject / GetObject, DynamoDB PutItem / GetItem."""
    body = b"x" * 300

    def put(i: int) -> Any:
        return s3.put_object(Bucket="live", Key=f"{tag}/{i % 50}", Body=body)

    def get(i: int) -> Any:
        return s3.get_object(Bucket="live", Key=f"{tag}/{(i - 1) % 50}")["Body"].read()

    def put_item(i: int) -> Any:
        item = {"pk": {"S": f"{tag}-{i % 50}"}, "v": {"N": str(i)}}
        return ddb.put_item(TableName="live", Item=item)

    def get_item(i: int) -> Any:
        return ddb.get_item(TableName="live", Key={"pk": {"S": f"{tag}-{(i - 2) % 50}"}})

    return [put, get, put_item, get_item]


def send(calls: list[Callable[[int], Any]], n: int) -> list[float]:
    """``n`` requests of the mix; each one's latency in seconds."""
    out: list[float] = []
    for i in range(n):
        t = time.perf_counter()
        calls[i % len(calls)](i)
        out.append(time.perf_counter() - t)
    return out


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[-1]


@dataclass
class Round:
    cpu: float  # mitmdump's CPU seconds over the requests
    latencies: list[float]
    n: int

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / self.n


def start_server(tmp: Path) -> fakeaws.FakeAWS:
    fakeaws_nodelay()
    return fakeaws.start_fakeaws(tmp / "fakeaws-certs", credentials={AKID: SECRET})


def reset(server: fakeaws.FakeAWS) -> None:
    """Forget recorded requests and DynamoDB items (GetItem scans a table's list)."""
    server.clear()
    with server.lock:
        server.tables.clear()


def timed(args: argparse.Namespace, tmp: Path, server: fakeaws.FakeAWS) -> int:
    proxies: dict[str, Proxy] = {}
    try:
        for v in VARIANTS:
            work = tmp / v
            write_credentials(work, AKID, SECRET)
            proxies[v] = start_proxy(work, addon=v == "addon", noop=True, quiet=not args.lines)
        calls = {v: mix(*clients(p, server), v) for v, p in proxies.items()}
        s3, _ = clients(proxies["noop"], server)
        s3.create_bucket(Bucket="live")
        for v in VARIANTS:  # warm-up: TLS, connection pools, lazy imports, the credentials
            send(calls[v], WARM)
        warm_records = len(proxies["addon"].wait_records(WARM, timeout=30))
        rounds: list[dict[str, Round]] = []
        for r in range(args.rounds):
            got: dict[str, Round] = {}
            for v in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                reset(server)
                c0 = proxy_cpu(proxies[v])
                lat = send(calls[v], args.n)
                got[v] = Round(proxy_cpu(proxies[v]) - c0, lat, args.n)
                bad = Counter(q.status for q in server.requests if q.status not in (None, 200))
                if len(server.requests) != args.n or bad:
                    raise SystemExit(f"fakeaws saw {len(server.requests)} requests; refused {bad}")
            rounds.append(got)
            print(
                f"  round {r + 1}/{args.rounds}: "
                + ", ".join(
                    f"{v} {got[v].cpu_per_request * 1e6:.0f} us CPU/request, p99 "
                    f"{p99(got[v].latencies) * 1e3:.2f} ms"
                    for v in VARIANTS
                ),
                flush=True,
            )
        recs = proxies["addon"].wait_records(warm_records + args.n * args.rounds, timeout=60)
        timed_recs = recs[warm_records:]
        verdicts = Counter(x["verdict"] for x in timed_recs)
        ids = [x["flow_id"] for x in recs]
        checks = report(args, rounds, len(timed_recs), verdicts, len(ids) - len(set(ids)))
        print(targets_block("issue 17, target 4: live traffic", checks))
        return 0 if checks[-1].passed else 1
    finally:
        for p in proxies.values():
            p.stop(30)


def report(
    args: argparse.Namespace,
    rounds: list[dict[str, Round]],
    records: int,
    verdicts: Counter[str],
    duplicates: int,
) -> list[Check]:
    """Print the figures; the targets' checks (the records' check last)."""
    mode = "lines per flow printed" if args.lines else "-q"
    print(
        f"\n== live HTTPS through mitmdump ({mode}): {args.n} requests per round "
        f"(S3 PutObject/GetObject, DynamoDB PutItem/GetItem), {len(rounds)} rounds; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    for v in VARIANTS:
        cpu = [r[v].cpu_per_request * 1e6 for r in rounds]
        lat = [x for r in rounds for x in r[v].latencies]
        print(
            f"{v:6}: mitmdump CPU per request median {statistics.median(cpu):.0f} us "
            f"(rounds {min(cpu):.0f} - {max(cpu):.0f}); latency median "
            f"{statistics.median(lat) * 1e3:.2f} ms, p99 {p99(lat) * 1e3:.2f} ms (pooled)"
        )
    cpu_ratio = [r["addon"].cpu / r["noop"].cpu for r in rounds]
    added_cpu = [(r["addon"].cpu_per_request - r["noop"].cpu_per_request) * 1e6 for r in rounds]
    added_p99 = [(p99(r["addon"].latencies) - p99(r["noop"].latencies)) * 1e3 for r in rounds]
    added_med = [
        (statistics.median(r["addon"].latencies) - statistics.median(r["noop"].latencies)) * 1e3
        for r in rounds
    ]
    print(
        report_ratio(
            "proxy CPU per request, addon / no-op (JUDGED, <= 1.10)",
            cpu_ratio,
            CPU_TARGET,
            at_most=True,
        )
    )
    med, lo, hi = median_ci(added_cpu)
    print(f"  CPU the addon adds per request: median {med:.0f} us ({lo:.0f} - {hi:.0f})")
    print(
        report_ratio(
            "added p99 latency, ms (JUDGED, <= 2 ms)", added_p99, P99_TARGET_MS, at_most=True
        )
    )
    med, lo, hi = median_ci(added_med)
    print(f"  added median latency: {med:.2f} ms ({lo:.2f} - {hi:.2f})")
    timed = args.n * len(rounds)
    print(
        f"addon records: {records} for {timed} timed requests, {duplicates} "
        f"duplicate flow ids; verdicts: {dict(verdicts)}"
    )
    return [
        ratio_check(
            "mitmdump CPU per request, addon / no-op, <= 1.10", cpu_ratio, CPU_TARGET, at_most=True
        ),
        ratio_check("added p99 latency, ms, <= 2", added_p99, P99_TARGET_MS, at_most=True),
        Check(
            "every timed request has exactly one valid record",
            records == timed and duplicates == 0 and verdicts == Counter(valid=timed),
            f"{records} records for {timed} requests, {duplicates} duplicates, {dict(verdicts)}",
        ),
    ]


# -- --callgrind --------------------------------------------------------------------------------


def counted(tmp: Path, server: fakeaws.FakeAWS, n: int, variant: str) -> int:
    """Instructions of one mitmdump under callgrind over WARM + n requests and a clean exit.
    Every run uses the CA made in ``tmp/ca-seed`` (making one would count differently)."""
    work = tmp / f"cg-{variant}-{n}"
    write_credentials(work, AKID, SECRET)
    shutil.copytree(tmp / "ca-seed" / "mitm-conf", work / "mitm-conf")
    env = {**clean_aws_env(work), "PYTHONHASHSEED": "0"}  # the same hashing every run
    proxy = start_proxy(
        work,
        addon=variant == "addon",
        noop=True,
        env=env,
        ready_timeout=900,
        prefix=callgrind_prefix(children=True),
    )
    try:
        calls = mix(*clients(proxy, server, read_timeout=600, connect_timeout=600), variant)
        send(calls, WARM + n)
        if variant == "addon" and len(proxy.wait_records(WARM + n, timeout=600)) < WARM + n:
            raise SystemExit(f"the addon under callgrind wrote fewer than {WARM + n} records")
    finally:
        log = proxy.stop(900)
    counts = collected(log)
    if proxy.proc.pid not in counts:
        raise SystemExit(
            f"no callgrind count for mitmdump (a killed process has none):\n{log[-3000:]}"
        )
    return sum(counts.values())


def callgrind(args: argparse.Namespace, tmp: Path, server: fakeaws.FakeAWS) -> int:
    callgrind_prefix()  # valgrind is there
    start_proxy(tmp / "ca-seed", addon=False).stop()  # makes the CA every run uses
    n = args.callgrind
    runs = [(k, v) for k in (0, n) for v in VARIANTS]
    seed = start_proxy(tmp / "seed-bucket", addon=False)
    try:
        s3, _ = clients(seed, server)
        s3.create_bucket(Bucket="live")
    finally:
        seed.stop()
    print(
        f"  callgrind: {len(runs)} mitmdump runs ({WARM} and {WARM + n} requests) ...", flush=True
    )
    with ThreadPoolExecutor(len(runs)) as pool:
        got = dict(zip(runs, pool.map(lambda r: counted(tmp, server, *r), runs), strict=True))
    per = {v: (got[n, v] - got[0, v]) / n for v in VARIANTS}
    print(f"\n== instructions per request (callgrind, {n} requests after {WARM} warm-up)")
    for v in VARIANTS:
        print(
            f"{v:6}: {per[v] / 1e6:8.2f} M per request; start-up and warm-up {got[0, v] / 1e9:.2f} G"
        )
    print(f"  addon / no-op: {per['addon'] / per['noop']:.3f} (target <= {CPU_TARGET})")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=FULL_RUN,
    )
    ap.add_argument("-n", type=int, default=500, help="requests per round and proxy (500)")
    ap.add_argument("--rounds", type=int, default=11, help="paired rounds (11)")
    ap.add_argument("--quick", action="store_true", help="100 requests, 2 rounds (smoke run)")
    ap.add_argument("--lines", action="store_true", help="without -q: lines per flow printed")
    ap.add_argument("--callgrind", type=int, metavar="N", help="count instructions over N")
    args = ap.parse_args()
    if args.quick:
        args.n, args.rounds = 100, 2
    ensure_bytecode()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="sigv4-live-"))
    clean_process_env(tmp)
    server = start_server(tmp)
    try:
        return callgrind(args, tmp, server) if args.callgrind else timed(args, tmp, server)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
