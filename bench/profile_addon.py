"""Where the addon spends its time: its hooks run in-process over a flow mix, under
cProfile (or timed without it with --time, or counted in instructions with --callgrind).

    .venv/bin/python bench/profile_addon.py [--flows 3000] [--top 25] [--time]
    .venv/bin/python bench/profile_addon.py --flows 1000 --callgrind

``--callgrind`` runs this script twice under valgrind, set up only and with the run, over
the same flow file: the difference over the measured flows is one flow's instructions in
the addon's hooks, the same count whatever else the machine does (a change's effect on
the per-flow cost, to within a fraction of a per cent).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from mitmproxy import io as mio

from sigv4_testsupport import flowmix
from sigv4_testsupport.benchtools import addons_in_process, callgrind_prefix, instructions


def load_flows(n: int, path: Path | None) -> list:  # type: ignore[type-arg]
    if path is None or not path.exists():
        path = path or Path(tempfile.mkdtemp(prefix="sigv4-prof-")) / "flows.mitm"
        flowmix.write_flows(path, flowmix.build_shapes(n))
    with open(path, "rb") as fh:
        return list(mio.FlowReader(fh).stream())


def count_instructions(n: int, path: Path | None) -> int:
    """Instructions per measured flow: the full run's count minus the set-up-only run's
    (both load the flows and warm up on the first fifth), over the measured four fifths."""
    callgrind_prefix()  # valgrind is there, before the flows are written
    path = path or Path(tempfile.mkdtemp(prefix="sigv4-prof-")) / "flows.mitm"
    load_flows(n, path)  # written once, outside the counts
    me = [sys.executable, __file__, "--flows", str(n), "--flows-file", str(path)]
    got = {mode: instructions([*me, mode], os.environ) for mode in ("--no-run", "--time")}
    measured = n - n // 5
    per = (got["--time"] - got["--no-run"]) / measured
    print(f"{per / 1e6:.3f} M instructions per flow in the addon's hooks ({measured} flows)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=3000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--time", action="store_true", help="time without the profiler")
    ap.add_argument("--flows-file", type=Path, help="reuse (or write) the flow mix here")
    ap.add_argument(
        "--no-run",
        action="store_true",
        help="set up only (for instruction counts: a run's count minus this one's)",
    )
    ap.add_argument(
        "--callgrind",
        action="store_true",
        help="count one flow's instructions (valgrind): a set-up-only run against a full one",
    )
    args = ap.parse_args()
    if args.callgrind:
        return count_instructions(args.flows, args.flows_file)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    flows = load_flows(args.flows, args.flows_file)
    # warm up on the first fifth, measure the rest: each measured flow is seen once, as in
    # a replay (caches keyed by a flow's own values, such as the scrubber's, start cold)
    cut = len(flows) // 5
    warm, flows = flows[:cut], flows[cut:]

    with addons_in_process() as (addons, run):

        def run_all(batch: list | None = None) -> None:  # type: ignore[type-arg]
            for f in flows if batch is None else batch:
                f.metadata.pop("sigv4", None)
                run(f)

        inspector = next(a for a in addons if type(a).__name__ == "Inspector")
        inspector.recorded.clear()
        run_all(warm)  # warm-up (learned credentials, caches)
        inspector.recorded.clear()
        if args.no_run:
            return 0
        if args.time:
            t = time.process_time()
            run_all()
            took = time.process_time() - t
            print(f"{took / len(flows) * 1e6:.0f} us CPU per flow over {len(flows)} flows")
            return 0
        prof = cProfile.Profile()
        prof.enable()
        run_all()
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
