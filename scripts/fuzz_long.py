#!/usr/bin/env python3
"""Long fuzzing run: the strategies and checks of tests/test_fuzz.py
(sigv4_testsupport.fuzzing) for many more cases.

The cases are split evenly over the targets (parse_auth, the canonicaliser, the
aws-chunked decoder on random and on valid bodies, VerifySession slicing, verify and
inspect_request on mutated signed requests, parse_error_response, learn_from_response, and
the structural floods of issue 18: up to 20,000 extra signed headers, duplicated security
token headers and canonical-request echoes of up to 20,000 lines in S3 XML, JSON and Query
shapes, each checked for a record under 64 KiB, at most 50 findings and no run of a secret
or token left after the scrubber).
A progress line shows cases done and the rate. A failure is shrunk by hypothesis and
printed, and the run goes on with the next target; the exit code is 1 when any target
failed. ``--max-minutes`` bounds the whole run. Verifications that fell back to
``internal_error`` (a core exception absorbed, where a verdict with a reason is expected)
are counted and shown in a note with the first example.

Usage: .venv/bin/python scripts/fuzz_long.py [--cases 100000] [--targets a,b]
       [--seed N] [--max-minutes 60] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from sigv4_testsupport import fuzzing


class _TimeUp(BaseException):
    """Raised from inside a check when the time budget is spent (hypothesis lets
    BaseExceptions that are not Exceptions through without shrinking)."""


class Progress:
    """Counts cases and redraws one status line (a new line every 10 s when not a tty)."""

    def __init__(self, total: int, deadline: float) -> None:
        self.total, self.deadline = total, deadline
        self.done = 0
        self.target = ""
        self.target_done = 0
        self.target_total = 0
        self.failures = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.tty = sys.stdout.isatty()

    def tick(self) -> None:
        self.done += 1
        self.target_done += 1
        now = time.monotonic()
        if now > self.deadline:
            raise _TimeUp
        if now - self._last >= (0.5 if self.tty else 10.0):
            self._last = now
            self.show()

    def show(self, end: str = "") -> None:
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        line = (
            f"[fuzz] {self.target:15} {self.target_done:>8,}/{self.target_total:<8,} "
            f"total {self.done:>9,}/{self.total:,}  {rate:7.0f} cases/s  "
            f"failures {self.failures}"
        )
        if self.tty:
            print("\r" + line, end=end or "", flush=True)
        else:
            print(line, flush=True)


def run_target(
    target: fuzzing.Target, ctx: fuzzing.Ctx, n: int, progress: Progress, rng_seed: int | None
) -> str | None:
    """Run one target for ``n`` cases; return the failure text, or None."""
    progress.target, progress.target_done, progress.target_total = target.name, 0, n

    def check(x: Any) -> None:
        progress.tick()
        target.check(ctx, x)

    test = settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        print_blob=True,
    )(given(target.strategy)(check))
    if rng_seed is not None:
        test = seed(rng_seed)(test)
    try:
        test()
    except _TimeUp:
        raise
    except Exception:
        return traceback.format_exc(limit=8)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="total cases (default 1e5)")
    ap.add_argument("--targets", help="comma-separated subset of: " + ", ".join(fuzzing.BY_NAME))
    ap.add_argument("--seed", type=int, help="hypothesis seed (default: random)")
    ap.add_argument("--max-minutes", type=float, default=60.0, help="stop after this long")
    ap.add_argument("--quick", action="store_true", help="2,000 cases (smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.cases = 2000
    names = args.targets.split(",") if args.targets else list(fuzzing.BY_NAME)
    unknown = [n for n in names if n not in fuzzing.BY_NAME]
    if unknown:
        ap.error(f"unknown target(s): {', '.join(unknown)}")
    per = max(1, args.cases // len(names))
    with tempfile.TemporaryDirectory(prefix="fuzz-long-") as home:
        ctx = fuzzing.build_ctx(Path(home))
        progress = Progress(per * len(names), time.monotonic() + args.max_minutes * 60)
        failures: dict[str, str] = {}
        counts: dict[str, int] = {}
        timed_out = False
        for name in names:
            try:
                err = run_target(fuzzing.BY_NAME[name], ctx, per, progress, args.seed)
            except _TimeUp:
                timed_out = True
                counts[name] = progress.target_done
                break
            counts[name] = progress.target_done
            if err is not None:
                progress.failures += 1
                failures[name] = err
                print(f"\n[fuzz] {name} FAILED:\n{err}", flush=True)
        progress.show(end="\n")
    elapsed = time.monotonic() - progress.start
    print()
    print(
        f"== summary ({progress.done:,} cases in {elapsed:.0f} s, {progress.done / elapsed:.0f}/s)"
    )
    for name in names:
        if name in counts:
            state = "FAILED" if name in failures else "ok"
            print(f"{name:16} : {counts[name]:>9,} cases  {state}")
        else:
            print(f"{name:16} : not run (time limit)")
    for err, (n, index, ops) in sorted(fuzzing.INTERNAL_ERRORS.items()):
        example = f"request {index % len(ctx.signed)} mutated by {ops!r}"
        print(
            f"note: verify fell back to internal_error ({err}) in {n:,} cases, e.g. {example[:400]}"
        )
    if timed_out:
        print(f"stopped by --max-minutes {args.max_minutes}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
