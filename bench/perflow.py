"""Per flow, as a guide (issue 17, target 3): the CPU of the addon's hooks for a valid flow
and for a failing one, against botocore's time to sign a request like them.

    .venv/bin/python bench/perflow.py [--flows 1000] [--rounds 5]

The hooks run in process over the replay's flow mix (each flow seen once, after a warm-up
on the first fifth), timed by the thread's CPU clock; botocore signs an S3 GET and a
DynamoDB POST (``AWSRequest`` built and signed, as an SDK does per call) in the same
process. Each round prints the ratios; the median over the rounds is the figure. Targets:
a valid flow at most 1.5x botocore's signature, a failing one on average at most 4x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from mitmproxy import io as mio

from sigv4_testsupport import flowmix
from sigv4_testsupport.benchtools import addons_in_process, ensure_bytecode


def _flows(n: int, seed: int) -> list[Any]:
    path = Path(tempfile.mkdtemp(prefix="sigv4-perflow-")) / "flows.mitm"
    flowmix.write_flows(path, flowmix.build_shapes(n, seed=seed))
    with open(path, "rb") as fh:
        return list(mio.FlowReader(fh).stream())


def addon_costs(batches: list[list[Any]]) -> list[tuple[float, float]]:
    """Per batch, the mean CPU (us) of the hooks for valid flows without an error finding,
    and for the rest (one addon instance, as in one mitmdump, for every batch)."""
    out: list[tuple[float, float]] = []
    with addons_in_process() as (_, run):
        for flows in batches:
            valid: list[float] = []
            failing: list[float] = []
            cut = len(flows) // 5
            for i, f in enumerate(flows):
                t = time.thread_time_ns()
                run(f)
                took = (time.thread_time_ns() - t) / 1000
                if i < cut:
                    continue
                rec = f.metadata.get("sigv4") or {}
                error = any(x["severity"] == "error" for x in rec.get("findings", []))
                (valid if rec.get("verdict") == "valid" and not error else failing).append(took)
            out.append((statistics.fmean(valid), statistics.fmean(failing)))
    return out


def botocore_sign() -> float:
    """botocore's CPU (us) to build and sign an S3 GET and a DynamoDB POST, averaged."""
    creds = Credentials(flowmix.AKID, flowmix.SECRET)

    def s3() -> None:
        r = AWSRequest(method="GET", url="https://bench-data.s3.amazonaws.com/data/k.bin")
        S3SigV4Auth(creds, "s3", "us-east-1").add_auth(r)

    def ddb() -> None:
        r = AWSRequest(
            method="POST",
            url="https://dynamodb.us-east-1.amazonaws.com/",
            data=b'{"TableName":"t"}',
            headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"},
        )
        SigV4Auth(creds, "dynamodb", "us-east-1").add_auth(r)

    def per_call(fn: Callable[[], None], n: int = 2000) -> float:
        for _ in range(200):
            fn()
        t = time.thread_time_ns()
        for _ in range(n):
            fn()
        return (time.thread_time_ns() - t) / n / 1000

    return (per_call(s3) + per_call(ddb)) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    ensure_bytecode()
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    ratios_valid: list[float] = []
    ratios_failing: list[float] = []
    batches = [_flows(args.flows, seed=7 + r) for r in range(args.rounds)]
    for r, (valid, failing) in enumerate(addon_costs(batches)):
        sign = botocore_sign()
        ratios_valid.append(valid / sign)
        ratios_failing.append(failing / sign)
        print(
            f"  round {r + 1}/{args.rounds}: botocore signs in {sign:.0f} us; the addon spends "
            f"{valid:.0f} us on a valid flow ({valid / sign:.2f}x), {failing:.0f} us on a "
            f"failing one ({failing / sign:.2f}x)",
            flush=True,
        )
    mv, mf = statistics.median(ratios_valid), statistics.median(ratios_failing)
    print("== targets (issue 17, target 3: a guide)")
    print(
        f"  {'PASS' if mv <= 1.5 else 'MISS'}  a valid flow / botocore's signature, <= 1.5: median {mv:.2f}"
    )
    print(
        f"  {'PASS' if mf <= 4 else 'MISS'}  a failing flow / botocore's signature, <= 4: median {mf:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
