#!/usr/bin/env python3
"""Benchmark the worker's work per flow: what the worker process does for each flow
(unpickle the capture, verify, diagnose, encode the record, pickle the outcome), over the
replay mix of ``bench_replay.py``, by step.

Times on a shared VM swing by up to 2x from one run to the next, which hides a 5 %
change. ``--callgrind`` counts the instructions per flow under valgrind instead
(``PYTHONHASHSEED=0``; the same count whatever else the machine does), and ``--compare
DIR`` measures another checkout of the project the same way, for instance a ``git
worktree`` of the previous commit, and prints the ratio. ``--pacing`` drives a real
worker process (``sigv4core.worker``) through its pipe, sending the captures one at a
time, in small batches or all at once, and prints the worker's CPU per flow for each:
what waking the worker per flow costs, and why the addon sends flows in batches.
The flows, their captures and
the credentials (those of the profile and those learned from the STS responses) are
built once, by this checkout, and handed to each measured process in a file.

Usage: .venv/bin/python scripts/bench_worker.py [--flows 2000] [--rounds 5] [--quick]
       [--callgrind] [--cg-flows 300] [--compare DIR] [--pacing]
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = (  # (module, function) timed inclusively, as the pipeline and inspector call them
    ("sigv4core.flowinspect", "parse_auth"),
    ("sigv4core.flowinspect", "parse_response"),
    ("sigv4core.pipeline", "verify"),
    ("sigv4core.pipeline", "search"),
    ("sigv4core.rules", "diagnose"),
    ("sigv4core.pipeline", "build_record_line"),
)


def build(n: int, out: Path) -> None:
    """Build n flows as bench_replay.py does, capture them as the addon does (learning
    credentials from responses on the way), and pickle (captures, credentials) to out."""
    sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]
    import bench_replay as br

    from proxyharness import clean_aws_env

    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    try:
        (tmp / "aws-credentials").write_text(
            f"[default]\naws_access_key_id = {br.AKID}\naws_secret_access_key = {br.SECRET}\n"
        )
        os.environ.clear()
        os.environ.update(clean_aws_env(tmp))
        shapes = br.build_shapes(n)
        mod = br.load_addon_module()
        addon = mod.SigV4Inspector()
        addon._ensure_credentials()
        t0 = time.time()
        caps = []
        for i, s in enumerate(shapes):
            f = br.make_flow(s, t0 + i * 0.002 + s.seen_offset)
            addon._learn(f)
            cap = addon._capture(f, None, None)
            if cap is not None:
                caps.append(cap)
        out.write_bytes(pickle.dumps((caps, addon.store.all_credentials()), protocol=5))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def child(data: Path, tree: Path, loops: int, steps: bool) -> None:
    """In the measured process: run the worker's loop ``loops`` times (after one warm-up
    pass) over the captures with the core of ``tree``; print the best µs per flow."""
    sys.path.insert(0, str(tree / "addons"))
    import importlib

    from benchstats import StepTimers

    from sigv4core.credentials import CredentialStore
    from sigv4core.flowinspect import FlowInspector, outcome_of

    caps, creds = pickle.loads(data.read_bytes())
    store = CredentialStore(creds)
    frames = [pickle.dumps(("inspect", c), protocol=5) for c in caps]
    timers = StepTimers()  # benchstats imports nothing heavy: the count stays the core's
    if steps:
        for modname, name in STEPS:
            m = importlib.import_module(modname)
            if hasattr(m, name):  # a step the measured tree does not have is left out
                timers.wrap(m, name)

    def run() -> None:
        inspector = FlowInspector(store)
        for fr in frames:
            msg = pickle.loads(fr)
            cap = msg[1]
            insp = inspector.inspect(cap)
            if insp is not None:
                pickle.dumps(("result", cap.flow_id, outcome_of(cap.flow_id, insp)), protocol=5)

    gc.freeze()
    run()  # warm-up: imports, caches, derived keys
    best, best_steps = float("inf"), {}
    for _ in range(loops):
        timers.clear()
        t = time.perf_counter()
        run()
        took = time.perf_counter() - t
        if took < best:
            best, best_steps = took, dict(timers.seconds)
    n = len(frames)
    print(f"per-flow {best / n * 1e6:.1f}")
    for name, secs in sorted(best_steps.items(), key=lambda kv: -kv[1]):
        print(f"step {name} {secs / n * 1e6:.1f}")


def _child_cmd(data: Path, tree: Path, loops: int, steps: bool = False) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(data), "--tree"]
    return cmd + [str(tree), "--loops", str(loops)] + (["--steps"] if steps else [])


def timed(data: Path, tree: Path, rounds: int) -> tuple[float, dict[str, float]]:
    out = subprocess.run(
        _child_cmd(data, tree, rounds, steps=True), capture_output=True, text=True, check=True
    ).stdout
    per = float(re.search(r"per-flow ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return per, {m[0]: float(m[1]) for m in re.findall(r"step (\S+) ([\d.]+)", out)}


def instructions(data: Path, tree: Path) -> float:
    """Instructions per flow: a run of two passes minus a run of one (start-up, imports
    and the warm-up pass cancel out), both under callgrind, in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    from bench_replay import callgrind_count

    with ThreadPoolExecutor(2) as pool:
        counts = list(
            pool.map(
                lambda loops: callgrind_count(_child_cmd(data, tree, loops), dict(os.environ)),
                (1, 2),
            )
        )
    n = len(pickle.loads(data.read_bytes())[0])
    return (counts[1] - counts[0]) / n


PACINGS = ((1, 0.0035), (2, 0.007), (14, 0.05), (0, 0.0))  # (flows per batch, pause s)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def paced(data: Path, batch: int, pause: float) -> float:
    """The worker process's CPU µs per flow when sent ``batch`` captures (0: all) every
    ``pause`` seconds, after its start-up and first flow."""
    sys.path.insert(0, str(ROOT / "addons"))
    from sigv4core.worker import WorkerClient

    caps, creds = pickle.loads(data.read_bytes())
    w = WorkerClient()

    def collect(want: int, timeout: float) -> int:
        got = 0
        end = time.monotonic() + timeout
        while got < want and time.monotonic() < end and not w.dead:
            got += sum(1 for m in w.wait(0.5) if m[0] == "result")
        return got

    try:
        w.send(("creds", creds))
        w.send(("inspect", caps[0]))
        collect(1, 60)
        time.sleep(0.3)
        rest = caps[1:]
        step = batch or len(rest)
        c0, got = _proc_cpu(w.proc.pid), 0
        for i in range(0, len(rest), step):
            for cap in rest[i : i + step]:
                w.queue(("inspect", cap))
            w.flush()
            got += sum(1 for m in w.poll() if m[0] == "result")
            if pause:
                time.sleep(pause)
        got += collect(len(rest) - got, 300)
        if got != len(rest):
            raise SystemExit(f"the worker answered {got} of {len(rest)} flows")
        return (_proc_cpu(w.proc.pid) - c0) / len(rest) * 1e6
    finally:
        w.stop()
        w.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=2000, help="flows to time (default 2000)")
    ap.add_argument("--rounds", type=int, default=5, help="best of N passes (default 5)")
    ap.add_argument("--quick", action="store_true", help="300 flows, 2 passes (smoke run)")
    ap.add_argument("--callgrind", action="store_true", help="count instructions per flow")
    ap.add_argument("--cg-flows", type=int, default=300, help="flows under callgrind (300)")
    ap.add_argument("--compare", type=Path, help="another checkout to measure the same way")
    ap.add_argument("--pacing", action="store_true", help="a real worker, flows sent at paces")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    ap.add_argument("--loops", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--steps", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.tree, args.loops, args.steps)
        return 0
    if args.quick:
        args.flows, args.rounds, args.cg_flows = 300, 2, 50
    if args.callgrind:
        from benchstats import callgrind_prefix

        callgrind_prefix()  # valgrind is there, before the captures are built
    trees = [ROOT] + ([args.compare.resolve()] if args.compare else [])
    for t in trees:
        if not (t / "addons" / "sigv4core").is_dir():
            raise SystemExit(f"{t} is not a checkout of this project (no addons/sigv4core)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    try:
        data = tmp / "captures.pickle"
        t = time.perf_counter()
        build(args.flows, data)
        print(f"built and captured {args.flows} flows in {time.perf_counter() - t:.1f} s")
        results: dict[Path, float] = {}
        for tree in trees:  # interleaved rounds would not help much: each run is seconds
            per, steps = timed(data, tree, args.rounds)
            results[tree] = per
            print(f"\n== {tree}: {per:.0f} µs per flow (best of {args.rounds} passes)")
            for name, us in sorted(steps.items(), key=lambda kv: -kv[1]):
                print(f"   {name:20} {us:7.1f} µs")
        if args.compare:
            print(f"\ntime ratio this/other: {results[ROOT] / results[trees[1]]:.3f}")
        if args.pacing:
            print("\n== the worker process's CPU per flow, by how flows reach it (2 rounds)")
            for rnd in range(2):
                for batch, pause in PACINGS:
                    how = f"{batch} flow(s) every {pause * 1000:.1f} ms" if batch else "all at once"
                    print(f"   round {rnd + 1}: {how:26} {paced(data, batch, pause):6.0f} µs")
        if args.callgrind:
            small = tmp / "captures-small.pickle"
            caps, creds = pickle.loads(data.read_bytes())
            small.write_bytes(pickle.dumps((caps[: args.cg_flows], creds), protocol=5))
            print(f"\n== instructions per flow (callgrind, {min(len(caps), args.cg_flows)} flows)")
            counts = {}
            for tree in trees:
                counts[tree] = instructions(small, tree)
                print(f"   {tree}: {counts[tree]:,.0f}")
            if args.compare:
                print(f"   ratio this/other: {counts[ROOT] / counts[trees[1]]:.3f}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
