"""Hostile input, measured (issue 18): what a flow with 20,000 signed headers costs, whether
it holds up the small requests beside it, and how fast a proxy whose credential_process
hangs serves traffic and exits.

    .venv/bin/python bench/hostile.py [--rounds 7]

1. CPU time of inspecting one request with 20,000 signed headers (the core, in-process,
   scrubber included): target under 50 ms.
2. p95 latency of small GETs through a live mitmdump (the addon loaded) while big-header
   requests go through it, against the same GETs without them: target within 1.2x.
3. With a credential_process that never returns: seconds from mitmdump's start to the first
   response it relays, against a mitmdump without credentials (target: no more than 1 s
   later), and seconds from SIGTERM to its exit (target under 1 s).
"""

from __future__ import annotations

import argparse
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

from sigv4_inspector.core.inspect import inspect_request
from sigv4_inspector.core.model import Credential, DictKeyring, WireRequest
from sigv4_inspector.core.redact import Scrubber
from sigv4_testsupport import fakeaws
from sigv4_testsupport.benchtools import median_ci
from sigv4_testsupport.proxyharness import clean_aws_env, start_mitmdump
from sigv4_testsupport.signing import AKID, SECRET, capture

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


def latency_beside_big_flows(tmp: Path, n: int) -> None:
    server = fakeaws.start_fakeaws(tmp / "certs", credentials={AKID: SECRET})
    proxy = start_mitmdump(
        tmp,
        "--set",
        "sigv4_quiet=true",
        "--set",
        "ssl_verify_upstream_trusted_ca=" + str(server.ca_path),
        save=False,
    )
    try:
        big = big_request()
        stop = threading.Event()
        sent = [0]

        def flood() -> None:
            while not stop.is_set():
                try:
                    ctx = ssl.create_default_context(cafile=proxy.ca)
                    conn = http.client.HTTPSConnection(
                        "127.0.0.1", proxy.port, context=ctx, timeout=60
                    )
                    conn.set_tunnel("127.0.0.1", server.https_port)
                    conn.putrequest(
                        big.method, big.target, skip_host=True, skip_accept_encoding=True
                    )
                    for k, v in big.headers:
                        conn.putheader(k, v)
                    conn.endheaders(big.body or b"")
                    conn.getresponse().read()
                    conn.close()
                    sent[0] += 1
                except Exception:
                    time.sleep(0.05)

        def sample() -> list[float]:
            return [
                _get(proxy.port, proxy.ca, server.https_port, "/hostile-bench/x") for _ in range(n)
            ]

        alone = sample()
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        beside = sample()
        stop.set()
        th.join(30)
        p95a = statistics.quantiles(alone, n=20)[-1] * 1000
        p95b = statistics.quantiles(beside, n=20)[-1] * 1000
        print(
            f"2. p95 of {n} small GETs: {p95a:.1f} ms alone, {p95b:.1f} ms beside "
            f"{sent[0]} big-header flows: ratio {p95b / p95a:.2f} (target <= 1.2)"
        )
    finally:
        proxy.stop()
        server.stop()


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
        latency_beside_big_flows(Path(d) / "lat", args.gets)
    with tempfile.TemporaryDirectory(prefix="sigv4-hostile-") as d:
        hung_credentials(Path(d), max(3, args.rounds // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
