"""Hostile input, measured (issue 18): what a flow with 20,000 signed headers costs, whether
it holds up the small requests beside it, and how fast a proxy whose credential_process
hangs serves traffic and exits.

    .venv/bin/python bench/hostile.py [--rounds 7]

1. CPU time of inspecting one request with 20,000 signed headers (the core, in-process,
   scrubber included): target under 50 ms.
2. p95 latency of small GETs through a live mitmdump while 20,000-header requests go through
   it (one every 250 ms), with the addon against the no-op addon: target within 1.2x.
3. With a credential_process that never returns: seconds from mitmdump's start to the first
   response it relays, against a mitmdump without credentials (target: no more than 1 s
   later), and seconds from SIGTERM to its exit (target under 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import ssl
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigv4_inspector.core.inspect import inspect_request
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.redact import Scrubber
from sigv4_testsupport import fakeaws
from sigv4_testsupport.benchtools import median_ci
from sigv4_testsupport.proxyharness import clean_aws_env, start_mitmdump
from sigv4_testsupport.signing import AKID, SECRET, capture

ROOT = Path(__file__).resolve().parent.parent

N_HEADERS = 20000


def big_request() -> WireRequest:
    """A DynamoDB request whose SignedHeaders lists 20,000 headers it also sends (the
    signature then does not match: the worst case, with the variant search)."""
    base = capture("dynamodb", lambda c: c.list_tables())
    names = [f"x-h{i}" for i in range(N_HEADERS)]
    authz = base.header("authorization") or ""
    signed = authz.split("SignedHeaders=")[1].split(",")[0]
    authz = authz.replace(signed, ";".join(sorted([*signed.split(";"), *names])))
    headers = [(k, authz if k.lower() == "authorization" else v) for k, v in base.headers]
    return WireRequest.build(
        base.method, base.target, headers + [(n, "v") for n in names], base.body
    )


def flow_cpu(rounds: int) -> None:
    req = big_request()
    keyring = DictKeyring([Credential(AKID, SECRET)])
    scrub = Scrubber([SECRET]).text
    now = datetime.now(UTC)
    times = []
    for _ in range(rounds):
        t = time.process_time()
        insp = inspect_request(req, keyring, flow_id="b", url="https://x/", seen_at=now, now=now)
        scrub(insp.line)
        times.append((time.process_time() - t) * 1000)
    med, lo, hi = median_ci(times)
    verdict = "met" if hi < 50 else ("missed" if lo >= 50 else "not settled")
    print(
        f"1. one flow with {N_HEADERS} signed headers: median {med:.1f} ms CPU "
        f"({lo:.1f} - {hi:.1f}); target < 50 ms: {verdict}; record {len(insp.line)} bytes, "
        f"{len(insp.findings)} finding(s)"
    )


def _get(port: int, ca: str, server_port: int, path: str) -> float:
    """Seconds for one GET sent through the proxy on ``port`` (CONNECT to the endpoint)."""
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    conn.set_tunnel("127.0.0.1", server_port)
    t = time.perf_counter()
    conn.request("GET", path)
    conn.getresponse().read()
    took = time.perf_counter() - t
    conn.close()
    return took


def _send_big(port: int, ca: str, server_port: int, big: WireRequest) -> None:
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)
    conn.set_tunnel("127.0.0.1", server_port)
    conn.putrequest(big.method, big.target, skip_host=True, skip_accept_encoding=True)
    for k, v in big.headers:
        conn.putheader(k, v)
    conn.endheaders(big.body or b"")
    conn.getresponse().read()
    conn.close()


def _p95_beside_flood(tmp: Path, server: Any, big: WireRequest, n: int, addon: bool) -> float:
    """p95 (ms) of ``n`` small GETs on one kept-alive connection while big-header flows go
    through the same proxy, one every 250 ms."""
    tmp.mkdir(parents=True, exist_ok=True)
    args = ["--set", "ssl_verify_upstream_trusted_ca=" + str(server.ca_path)]
    if addon:
        args += ["--set", "sigv4_quiet=true"]
    proxy = start_mitmdump(
        tmp,
        *args,
        save=False,
        script=ROOT / ("addons/sigv4.py" if addon else "bench/noop_addon.py"),
    )
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                _send_big(proxy.port, proxy.ca, server.https_port, big)
            stop.wait(0.25)

    try:
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        ctx = ssl.create_default_context(cafile=proxy.ca)
        conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=ctx, timeout=60)
        conn.set_tunnel("127.0.0.1", server.https_port)
        times = []
        for i in range(n):
            t = time.perf_counter()
            conn.request("GET", f"/hostile-bench/{i}")
            conn.getresponse().read()
            times.append(time.perf_counter() - t)
            time.sleep(0.01)
        conn.close()
        stop.set()
        th.join(120)
        return statistics.quantiles(times, n=20)[-1] * 1000
    finally:
        proxy.stop()


def latency_beside_big_flows(tmp: Path, n: int, rounds: int) -> None:
    """The same paced flood of 20,000-header flows through mitmdump with the no-op addon and
    with sigv4: the small GETs' p95 with the addon against without it."""
    server = fakeaws.start_fakeaws(tmp / "certs", credentials={AKID: SECRET})
    big = big_request()
    ratios_: list[float] = []
    try:
        for r in range(rounds):
            got = {}
            for addon in (r % 2 == 0, r % 2 == 1):
                got[addon] = _p95_beside_flood(tmp / f"r{r}{addon}", server, big, n, addon)
            ratios_.append(got[True] / got[False])
            print(
                f"  round {r + 1}/{rounds}: p95 {got[False]:.1f} ms without the addon, "
                f"{got[True]:.1f} ms with it",
                flush=True,
            )
    finally:
        server.stop()
    med, lo, hi = median_ci(ratios_)
    verdict = "met" if hi <= 1.2 else ("missed" if lo > 1.2 else "not settled")
    print(
        f"2. p95 of {n} small GETs beside 20,000-header flows (one every 250 ms), with the addon "
        f"/ without: median {med:.2f} ({lo:.2f} - {hi:.2f}); target <= 1.2: {verdict}"
    )


def hung_credentials(tmp: Path, rounds: int) -> None:
    server = fakeaws.start_fakeaws(tmp / "certs", credentials={AKID: SECRET})
    results: dict[str, list[float]] = {"plain": [], "hung": [], "exit": []}
    try:
        for i in range(rounds):
            for variant in ("plain", "hung"):
                home = tmp / f"{variant}{i}"
                home.mkdir()
                env = clean_aws_env(home)
                if variant == "hung":
                    (home / "aws-config").write_text("[default]\ncredential_process = sleep 600\n")
                t = time.perf_counter()
                proxy = start_mitmdump(
                    home,
                    "--set",
                    "sigv4_quiet=true",
                    "--set",
                    "ssl_verify_upstream_trusted_ca=" + str(server.ca_path),
                    env=env,
                    save=False,
                )
                _get(proxy.port, proxy.ca, server.https_port, "/hostile-bench/x")
                results[variant].append(time.perf_counter() - t)
                t = time.perf_counter()
                proxy.proc.send_signal(signal.SIGTERM)
                proxy.proc.wait(60)
                if variant == "hung":
                    results["exit"].append(time.perf_counter() - t)
    finally:
        server.stop()
        subprocess.run(["pkill", "-f", "sleep 600"], check=False)
    plain, hung, ex = (statistics.median(results[k]) for k in ("plain", "hung", "exit"))
    print(
        f"3. hung credential_process: first response {hung:.2f} s after start "
        f"(without credentials {plain:.2f} s: +{hung - plain:.2f} s, target <= 1 s); "
        f"exit {ex:.2f} s after SIGTERM (target < 1 s; max {max(results['exit']):.2f} s)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--gets", type=int, default=200)
    args = ap.parse_args()
    os.environ.pop("AWS_PROFILE", None)
    flow_cpu(args.rounds)
    with tempfile.TemporaryDirectory(prefix="sigv4-hostile-") as d:
        latency_beside_big_flows(Path(d), args.gets, max(3, args.rounds // 2))
    with tempfile.TemporaryDirectory(prefix="sigv4-hostile-") as d:
        hung_credentials(Path(d), max(3, args.rounds // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
