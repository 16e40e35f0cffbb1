"""Offline replay: ``mitmdump -nr`` over 5,000 mixed AWS flows (at least 40 % that AWS
refuses), with the addon against a no-op addon (issue 17, target 2: CPU time of all
processes at most 1.20x, start-up included).

    .venv/bin/python bench/replay.py [--flows 5000] [--rounds 11] [--keep DIR]

Each round runs both back to back (alternating which goes first); the figure is the median
of the rounds' CPU ratios with its 95 % interval, wall time beside it. The records of the
last run are counted by verdict, and the share of flows AWS would refuse is printed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sigv4_testsupport import flowmix
from sigv4_testsupport.benchtools import (
    callgrind_prefix,
    ensure_bytecode,
    instructions,
    paired_rounds,
    ratios,
    report_ratio,
    run_timed,
)

ROOT = Path(__file__).resolve().parent.parent
MITMDUMP = str(Path(sys.executable).parent / "mitmdump")
TARGET = 1.20


def env_for(tmp: Path) -> dict[str, str]:
    creds = tmp / "aws-credentials"
    creds.write_text(
        f"[default]\naws_access_key_id = {flowmix.AKID}\naws_secret_access_key = {flowmix.SECRET}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_"))}
    env.update(
        HOME=str(tmp),
        AWS_CONFIG_FILE=str(tmp / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(creds),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def command(flows: Path, tmp: Path, variant: str) -> list[str]:
    cmd = [MITMDUMP, "-n", "-r", str(flows), "-q", "--set", f"confdir={tmp / 'conf'}"]
    if variant == "noop":
        return [*cmd, "-s", str(ROOT / "bench" / "noop_addon.py")]
    report = tmp / "report.jsonl"
    report.unlink(missing_ok=True)
    return [
        *cmd,
        "-s",
        str(ROOT / "addons" / "sigv4.py"),
        "--set",
        "sigv4_quiet=true",
        "--set",
        "sigv4_credential_timeout=600",  # under valgrind the credentials load slowly
        "--set",
        f"sigv4_report={report}",
    ]


def count_instructions(n: int) -> int:
    """Per-flow, first-flows and start-up instructions of mitmdump -nr with the addon and
    with the no-op addon: runs over 0, n and 2n flows. The difference between 2n and n
    flows over n is one flow's steady cost; what n flows cost beyond n steady flows is the
    one-time work the first flows bring (lazy imports, caches, the exit summary's table)."""
    callgrind_prefix()  # valgrind is there, before any long set-up
    tmp = Path(tempfile.mkdtemp(prefix="sigv4-replay-cg-"))
    try:
        env = env_for(tmp)
        shapes = flowmix.build_shapes(2 * n)
        files = {0: tmp / "none.mitm", n: tmp / "half.mitm", 2 * n: tmp / "flows.mitm"}
        flowmix.write_flows(files[0], [])
        flowmix.write_flows(files[n], shapes[:n])
        flowmix.write_flows(files[2 * n], shapes)
        got: dict[tuple[str, int], int] = {}
        for variant in ("noop", "addon"):
            for k, path in files.items():
                got[variant, k] = instructions(command(path, tmp, variant), env, tmp)
                print(f"  {variant}, {k} flows: {got[variant, k]:,} instructions", flush=True)
        variants = ("noop", "addon")
        per = {v: (got[v, 2 * n] - got[v, n]) / n for v in variants}
        start = {v: got[v, 0] for v in variants}
        first = {v: got[v, n] - got[v, 0] - per[v] * n for v in variants}
        print(
            f"per flow (steady): no-op {per['noop'] / 1e6:.2f} M, addon {per['addon'] / 1e6:.2f} M "
            f"(+{(per['addon'] - per['noop']) / 1e6:.2f} M, ratio {per['addon'] / per['noop']:.3f})"
        )
        print(
            f"start-up: no-op {start['noop'] / 1e9:.2f} G, addon {start['addon'] / 1e9:.2f} G "
            f"(+{(start['addon'] - start['noop']) / 1e9:.2f} G); the first flows' one-time work: "
            f"no-op {first['noop'] / 1e9:.2f} G, addon {first['addon'] / 1e9:.2f} G"
        )
        for flows in (n, 5000):
            total = {v: start[v] + first[v] + per[v] * flows for v in variants}
            print(f"  {flows} flows, start-up included: ratio {total['addon'] / total['noop']:.3f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--keep", type=Path, help="keep the .mitm file and report here")
    ap.add_argument(
        "--callgrind",
        type=int,
        metavar="N",
        help="count instructions instead (valgrind): runs over 0, N and 2N flows",
    )
    args = ap.parse_args()
    ensure_bytecode()
    if args.callgrind:
        return count_instructions(args.callgrind)
    tmp = Path(tempfile.mkdtemp(prefix="sigv4-replay-"))
    try:
        flows = tmp / "flows.mitm"
        shapes = flowmix.build_shapes(args.flows)
        flowmix.write_flows(flows, shapes)
        kinds = collections.Counter(s.kind for s in shapes)
        failing = sum(n for k, n in kinds.items() if k in flowmix.FAILING) / len(shapes)
        print(f"{len(shapes)} flows, {failing:.0%} that AWS refuses; mix: {dict(kinds)}")
        env = env_for(tmp)
        variants = {
            v: (lambda v=v: run_timed(command(flows, tmp, v), env=env, cwd=tmp))
            for v in ("noop", "addon")
        }
        rounds = paired_rounds(variants, args.rounds, "replay")
        recs = [json.loads(x) for x in (tmp / "report.jsonl").read_text().splitlines()]
        verdicts = collections.Counter(r["verdict"] for r in recs)
        refused = sum(
            1 for r in recs if any(f["severity"] == "error" for f in r["findings"])
        ) / max(1, len(recs))
        print(
            f"records: {len(recs)}; verdicts: {dict(verdicts)}; with an error finding: {refused:.0%}"
        )
        cpu = ratios(rounds, "addon", "noop", "cpu")
        wall = ratios(rounds, "addon", "noop", "wall")
        print(report_ratio("CPU time, all processes, addon / no-op", cpu, TARGET, at_most=True))
        print(report_ratio("wall time, addon / no-op (for reference)", wall, TARGET, at_most=True))
        best = {v: min(r[v].cpu for r in rounds) for v in variants}
        print(
            f"best CPU: no-op {best['noop']:.2f} s, addon {best['addon']:.2f} s; "
            f"addon per flow {(best['addon'] - best['noop']) / len(shapes) * 1e6:.0f} us"
        )
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(flows, args.keep / "flows.mitm")
            shutil.copy(tmp / "report.jsonl", args.keep / "report.jsonl")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
