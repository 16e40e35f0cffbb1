"""Statistics for the benchmarks: the median of paired per-round ratios and a
distribution-free confidence interval for it.

On a shared VM a run's wall time swings by +-15 % from one minute to the next, so a
benchmark runs the variants back to back in each round (a round's runs share its drift),
takes each round's ratio, and reports the median with the interval that order statistics
give: no assumption about how the noise is distributed, only that rounds are independent.
Whether a target is met is then read off the interval, not off one lucky or unlucky run.
``StepTimers`` times the steps of a pipeline in place, for the per-step tables.
``callgrind_prefix`` and ``collected`` are the one place that knows how the benchmarks run
valgrind's callgrind and read its counts.
"""

from __future__ import annotations

import re
import shutil
import statistics
import time
from collections import Counter
from math import comb
from typing import Any


def _order_k(n: int, level: float) -> int:
    """The largest k with P(Binomial(n, 1/2) < k) <= (1 - level) / 2: the interval
    [x(k), x(n-k+1)] holds the median with probability >= level (0: no such interval)."""
    k, tail = 0, 0.0
    for j in range(n):
        tail += comb(n, j) / 2**n
        if tail > (1.0 - level) / 2:
            break
        k = j + 1
    return k


MIN_ROUNDS = next(n for n in range(1, 64) if _order_k(n, 0.95) >= 1)  # 6


def median_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high): the sample median and the interval [x(k), x(n-k+1)] that holds
    the true median with probability >= ``level`` (Binomial(n, 1/2) order statistics).
    With too few values for that level (n < 6 at 95 %), the interval is the whole range."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    k = _order_k(n, level)
    lo, hi = (xs[k - 1], xs[n - k]) if k >= 1 else (xs[0], xs[-1])
    return statistics.median(xs), lo, hi


def verdict(values: list[float], target: float, *, at_most: bool) -> str:
    """Whether the rounds show a target met (``at_most``: ratio <= target; else >=), read
    off the 95 % interval of their median."""
    n = len(values)
    if n < MIN_ROUNDS:
        return f"not settled: {n} round(s) cannot give a 95 % interval (need {MIN_ROUNDS})"
    _, low, high = median_ci(values)
    if (high <= target) if at_most else (low >= target):
        return "met (the whole 95 % interval is within the target)"
    if (low > target) if at_most else (high < target):
        return "missed (the whole 95 % interval is beyond the target)"
    return "not settled by these rounds (the 95 % interval straddles the target)"


def interval_line(values: list[float], target: float, *, at_most: bool) -> str:
    """The line the benchmarks print under their median: the 95 % interval and the
    :func:`verdict`, or, with too few rounds for one, the range of the rounds."""
    _, low, high = median_ci(values)
    label = "95 % interval of the median" if len(values) >= MIN_ROUNDS else "range of the rounds"
    return f"  {label:33}: {low:.2f} - {high:.2f}: {verdict(values, target, at_most=at_most)}"


class StepTimers:
    """Inclusive wall time and call count per step, by wrapping functions or methods in
    place (``bench_replay --profile`` and ``bench_worker``'s measured process; this module
    imports nothing heavy, so the latter stays free of boto3 and mitmproxy)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: Counter[str] = Counter()

    def wrap(self, owner: Any, name: str, label: str | None = None) -> None:
        fn = getattr(owner, name)
        key = label or name
        seconds, calls = self.seconds, self.calls

        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t
                calls[key] += 1

        setattr(owner, name, timed)

    def clear(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def callgrind_prefix(children: bool = False) -> list[str]:
    """The command prefix that counts a process's instructions with callgrind (with
    ``children``, every process it starts too). Exits with a message if valgrind is not
    installed, so a benchmark can call it before any long set-up."""
    if shutil.which("valgrind") is None:
        raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
    trace = ["--trace-children=yes"] if children else []
    return ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *trace]


def collected(output: str) -> dict[int, int]:
    """Instructions per process id from valgrind's output (``==PID== Collected : N``); a
    process killed before it exits has none."""
    return {int(p): int(n) for p, n in re.findall(r"==(\d+)== Collected : (\d+)", output)}
