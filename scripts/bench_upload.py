#!/usr/bin/env python3
"""Benchmark a large signed ``aws-chunked`` upload: verification throughput, end-to-end
time through mitmdump with and without the addon, and the proxy's memory.

The body is a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`` upload (chunk signatures
chained from a seed signature computed by botocore's SigV4Auth, a CRC32C checksum trailer
and a trailer signature), generated on the fly and never held in memory whole.

1. In-process: the core's ``VerifySession`` fed the generated body in 256 KiB pieces (as
   scripts/bench_verify.py does) vs ``hashlib.sha256`` over the same pieces. Only the
   ``feed``/``update`` calls are timed; the body is built 64 MiB at a time.
2. End to end: a PUT of the body (http.client, generator body, known Content-Length)
   through mitmdump on 127.0.0.1 to a sink server (a subprocess of this script) that reads
   and discards it. Without the addon mitmdump runs with ``stream_large_bodies=1m`` (it
   would buffer the whole body otherwise); with the addon only with
   ``sigv4_stream_threshold=1m``, so the addon's own tap is what streams it. Each proxy
   gets ``--rounds`` uploads (the best time is kept). The RSS of the mitmdump process is
   sampled from /proc every 20 ms during the uploads (its worker process's included); the
   growth over the RSS just before them (after a small warm-up upload) must stay < 64 MiB.
   Meanwhile small GETs go through the same proxy to the sink, one every 20 ms, and their
   latencies are printed: whether verifying the upload holds up other traffic. A third
   mitmdump runs the addon with ``sigv4_stream_verify=false``: streamed, not verified.

Usage: .venv/bin/python scripts/bench_upload.py [--mib 1024] [--chunk-kib 64] [--rounds 3]
       [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_live import (
    AKID,
    SECRET,
    clean_process_env,
    rss_kib,
    start_proxy,
    stop_proxy,
    write_credentials,
)

from sigv4_inspector.core.model import Credential, DictKeyring
from sigv4_inspector.core.verify import VerifySession
from sigv4_testsupport.chunkedupload import ChunkedUpload
from sigv4_testsupport.proxyharness import Proxy

NET_PIECE = 256 * 1024
SEGMENT = 64 << 20
RSS_TARGET_MIB = 64
RATIO_TARGET = 0.8


# -- 1. in-process verification throughput ------------------------------------------------


def segments(up: ChunkedUpload) -> Iterator[bytes]:
    """The body in SEGMENT-sized bytes objects (one at a time in memory)."""
    buf = bytearray()
    for p in up.pieces():
        buf += p
        if len(buf) >= SEGMENT:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def bench_in_process(up: ChunkedUpload) -> tuple[float, float, int, Any]:
    """Seconds spent in VerifySession.feed/finish and in sha256.update over the same
    256 KiB pieces (the two interleaved per 64 MiB segment, in alternating order); bytes;
    the verification."""
    keyring = DictKeyring([Credential(AKID, SECRET, source="bench")])
    session = VerifySession(up.wire(), keyring)
    sha = hashlib.sha256()
    t_verify = t_sha = 0.0
    size = 0
    for n, seg in enumerate(segments(up)):
        mv = memoryview(seg)
        pieces = [mv[i : i + NET_PIECE] for i in range(0, len(seg), NET_PIECE)]
        # alternate which goes first, so a drifting CPU speed (shared VMs) favours neither
        for which in ("verify", "sha") if n % 2 == 0 else ("sha", "verify"):
            t = time.perf_counter()
            if which == "verify":
                for p in pieces:
                    session.feed(p)
                t_verify += time.perf_counter() - t
            else:
                for p in pieces:
                    sha.update(p)
                t_sha += time.perf_counter() - t
        size += len(seg)
    t = time.perf_counter()
    v = session.finish()
    t_verify += time.perf_counter() - t
    assert size == up.content_length, (size, up.content_length)
    return t_verify, t_sha, size, v


# -- 2. end to end through mitmdump -------------------------------------------------------


class _Sink(socketserver.StreamRequestHandler):
    """HTTP/1.1 keep-alive handler that reads each request body into a scratch buffer and
    answers 200 with the byte count in ``x-sink-bytes``."""

    rbufsize = 1 << 20

    def handle(self) -> None:
        buf = memoryview(bytearray(1 << 20))
        while True:
            line = self.rfile.readline(65537)
            if not line.strip():
                return
            headers: dict[str, str] = {}
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            got = 0
            if "chunked" in headers.get("transfer-encoding", "").lower():
                while True:
                    size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    got += self._discard(buf, size)
                    self.rfile.readline(65537)
            else:
                got = self._discard(buf, int(headers.get("content-length", "0") or 0))
            self.wfile.write(
                b'HTTP/1.1 200 OK\r\nServer: AmazonS3\r\nETag: "bench"\r\nContent-Length: 0\r\n'
                + f"x-sink-bytes: {got}\r\n\r\n".encode()
            )
            self.wfile.flush()

    def _discard(self, buf: memoryview, n: int) -> int:
        got = 0
        while got < n:
            r = self.rfile.readinto(buf[: min(len(buf), n - got)])
            if not r:
                break
            got += r
        return got


class _SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_sink(ready_file: str) -> None:
    """Run the sink on 127.0.0.1 (free port) until killed; write the port to ``ready_file``."""
    with _SinkServer(("127.0.0.1", 0), _Sink) as srv:
        tmp = Path(ready_file + ".tmp")
        tmp.write_text(str(srv.server_address[1]))
        tmp.replace(ready_file)
        srv.serve_forever()


def start_sink(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    ready = tmp / "sink.port"
    proc = subprocess.Popen([sys.executable, __file__, "--serve-sink", str(ready)])
    end = time.monotonic() + 20
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            raise RuntimeError("the sink server did not start")
        time.sleep(0.05)
    return proc, int(ready.read_text())


class RssSampler(threading.Thread):
    """Samples VmRSS of ``pid`` every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.samples = 0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            self.peak = max(self.peak, rss_kib(self.pid)["VmRSS"])
            self.samples += 1
            self._stop_evt.wait(self.interval)

    def stop(self) -> None:
        self._stop_evt.set()
        self.join()


class Prober(threading.Thread):
    """Small GETs through the proxy to the sink, one every ``interval`` seconds on a
    keep-alive connection, until stopped: their latencies show whether the upload's
    verification holds up other traffic through the same mitmdump (the probes are not AWS
    requests, so the addon only lets them pass)."""

    def __init__(self, proxy_port: int, host: str, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.proxy_port, self.host, self.interval = proxy_port, host, interval
        self.latencies: list[float] = []
        self.errors = 0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=60)
        while not self._stop_evt.is_set():
            try:
                t = time.perf_counter()
                conn.request("GET", f"http://{self.host}/probe", headers={"Host": self.host})
                conn.getresponse().read()
                self.latencies.append(time.perf_counter() - t)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=60)
            self._stop_evt.wait(self.interval)
        conn.close()

    def stop(self) -> list[float]:
        self._stop_evt.set()
        self.join()
        return sorted(self.latencies)


def upload(proxy: Proxy, up: ChunkedUpload) -> tuple[float, int, int]:
    """PUT the body through the proxy; return (seconds, status, bytes the sink got)."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=300)
    try:
        t = time.perf_counter()
        conn.putrequest(
            "PUT", f"http://{up.host}{up.path}", skip_host=True, skip_accept_encoding=True
        )
        for k, v in up.headers:
            conn.putheader(k, v)
        conn.endheaders()
        for piece in up.pieces():
            conn.send(piece)
        resp = conn.getresponse()
        resp.read()
        took = time.perf_counter() - t
        return took, resp.status, int(resp.getheader("x-sink-bytes") or -1)
    finally:
        conn.close()


# how mitmdump runs: without the addon; with it, verifying the stream; with it, not
VARIANTS = {
    "plain": ("without addon (streamed)", ["--set", "stream_large_bodies=1m"]),
    "addon": ("with addon (sigv4 tap)", []),
    "unverified": ("with addon, sigv4_stream_verify=false", ["--set", "sigv4_stream_verify=false"]),
}


def run_e2e(
    tmp: Path, sink_port: int, mib: int, chunk: int, variant: str, rounds: int
) -> dict[str, Any]:
    """``rounds`` uploads through one mitmdump (after a 4 MiB warm-up): the best time, and
    its RSS before the first and at its peak over all of them."""
    work = tmp / variant
    write_credentials(work)
    addon = variant != "plain"
    extra = ["--set", "sigv4_stream_threshold=1m", *VARIANTS[variant][1]]
    proxy = start_proxy(work, addon=addon, extra=extra)
    host = f"127.0.0.1:{sink_port}"
    try:
        warm = ChunkedUpload(4 << 20, chunk, host, "/bench/warm")
        _, status, got = upload(proxy, warm)
        assert status == 200 and got == warm.content_length, (status, got)
        time.sleep(0.3)
        before = rss_kib(proxy.proc.pid)
        sampler = RssSampler(proxy.proc.pid)
        sampler.start()
        prober = Prober(proxy.port, host)
        prober.start()
        times = []
        try:
            for _ in range(rounds):
                up = ChunkedUpload(mib << 20, chunk, host)
                took, status, got = upload(proxy, up)
                assert status == 200 and got == up.content_length, (status, got)
                times.append(took)
        finally:
            sampler.stop()
            probes = prober.stop()
        after = rss_kib(proxy.proc.pid)
        recs = proxy.wait_records(1 + rounds, timeout=20) if addon else []
        return {
            "seconds": min(times),
            "times": times,
            "rss_before": before["VmRSS"],
            "rss_peak": max(sampler.peak, after["VmRSS"]),
            "hwm": after["VmHWM"],
            "samples": sampler.samples,
            "probes": probes,
            "probe_errors": prober.errors,
            "records": recs[1:],
        }
    finally:
        stop_proxy(proxy)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=1024, help="decoded upload size (default 1024)")
    ap.add_argument("--chunk-kib", type=int, default=64, help="aws-chunked chunk size (default 64)")
    ap.add_argument("--rounds", type=int, default=3, help="uploads per proxy, best kept (3)")
    ap.add_argument("--quick", action="store_true", help="a 64 MiB upload, once (smoke run)")
    ap.add_argument("--serve-sink", metavar="READY_FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_sink:
        serve_sink(args.serve_sink)
        return 0
    if args.quick:
        args.mib, args.rounds = 64, 1
    chunk = args.chunk_kib * 1024
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    clean_process_env(tmp)
    sink, sink_port = start_sink(tmp)
    try:
        up = ChunkedUpload(args.mib << 20, chunk, f"127.0.0.1:{sink_port}")
        t_verify, t_sha, size, v = bench_in_process(up)
        ok = v.verdict == "valid" and all(c.ok for c in v.checksums) and v.checksums
        print(
            f"in-process: {v.verdict}, {v.chunks_verified}/{v.chunks} chunk signatures, "
            f"checksums {[(c['algorithm'], c['ok']) for c in v.checksums]}"
        )
        if not ok:
            print(f"UNEXPECTED verification: {v.reason} {v.detail}")
        results = {
            variant: run_e2e(tmp, sink_port, args.mib, chunk, variant, args.rounds)
            for variant in VARIANTS
        }
        for variant in ("addon", "unverified"):
            for rec in results[variant]["records"]:
                errors = [f["code"] for f in rec["findings"] if f["severity"] == "error"]
                print(f"proxy record ({variant}): verdict {rec['verdict']}, errors {errors}")
        mib = size / 2**20
        print()
        print(
            f"== summary (aws-chunked upload, {args.mib} MiB decoded, {args.chunk_kib} KiB chunks)"
        )
        print(f"VerifySession in-process           : {mib / t_verify:8.1f} MiB/s")
        print(f"raw hashlib.sha256 same pieces     : {mib / t_sha:8.1f} MiB/s")
        print(
            f"  ratio                            : {t_sha / t_verify:8.2f}   (target >= {RATIO_TARGET})"
        )
        for variant, (label, _) in VARIANTS.items():
            r = results[variant]
            print(
                f"{label:35}: {r['seconds']:8.2f} s  {mib / r['seconds']:8.1f} MiB/s  "
                f"(best of {', '.join(f'{t:.2f}' for t in r['times'])})"
            )
        plain = results["plain"]["seconds"]
        print(f"  ratio time without/with          : {plain / results['addon']['seconds']:8.2f}")
        print(
            f"  ratio time without/with, unverified: {plain / results['unverified']['seconds']:6.2f}"
        )
        for variant, (label, _) in VARIANTS.items():
            r = results[variant]
            lat = r["probes"] or [float("nan")]
            print(
                f"small GETs beside it, {label}: "
                f"median {lat[len(lat) // 2] * 1e3:6.1f} ms, 95th percentile "
                f"{lat[int(len(lat) * 0.95)] * 1e3:6.1f} ms, max {lat[-1] * 1e3:6.1f} ms "
                f"({len(r['probes'])} GETs, {r['probe_errors']} errors)"
            )
        for variant, (label, _) in VARIANTS.items():
            r = results[variant]
            growth = (max(r["rss_peak"], r["hwm"]) - r["rss_before"]) / 1024
            print(
                f"mitmdump RSS {label}: before {r['rss_before'] / 1024:.1f} MiB, "
                f"peak sampled {r['rss_peak'] / 1024:.1f} MiB, VmHWM {r['hwm'] / 1024:.1f} MiB "
                f"({r['samples']} samples)"
            )
            print(f"  peak growth: {growth:8.1f} MiB   (target < {RSS_TARGET_MIB} MiB)")
        return 0
    finally:
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
