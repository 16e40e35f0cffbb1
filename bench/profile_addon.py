"""Where the addon spends its time: its hooks run in-process over a flow mix, under
cProfile (or timed without it with --time).

    .venv/bin/python bench/profile_addon.py [--flows 3000] [--top 25] [--time]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from pathlib import Path

from mitmproxy import io as mio

from sigv4_testsupport import flowmix
from sigv4_testsupport.benchtools import addons_in_process


def load_flows(n: int, path: Path | None) -> list:  # type: ignore[type-arg]
    if path is None or not path.exists():
        path = path or Path(tempfile.mkdtemp(prefix="sigv4-prof-")) / "flows.mitm"
        flowmix.write_flows(path, flowmix.build_shapes(n))
    with open(path, "rb") as fh:
        return list(mio.FlowReader(fh).stream())


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
    args = ap.parse_args()
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
