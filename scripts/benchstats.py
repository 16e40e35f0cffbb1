"""Statistics for the benchmarks: the median of paired per-round ratios and a
distribution-free confidence interval for it.

On a shared VM a run's wall time swings by +-15 % from one minute to the next, so a
benchmark runs the variants back to back in each round (a round's runs share its drift),
takes each round's ratio, and reports the median with the interval that order statistics
give: no assumption about how the noise is distributed, only that rounds are independent.
Whether a target is met is then read off the interval, not off one lucky or unlucky run.
"""

from __future__ import annotations

import statistics
from math import comb

MIN_ROUNDS = 6  # the fewest values whose extremes hold the median with >= 95 %


def median_ci(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(median, low, high): the sample median and the interval [x(k), x(n-k+1)] that holds
    the true median with probability >= ``level`` (Binomial(n, 1/2) order statistics).
    With too few values for that level (n < 6 at 95 %), the interval is the whole range."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values")
    alpha = 1.0 - level
    k = 0  # the largest k with P(Binomial(n, 1/2) < k) <= alpha / 2
    tail = 0.0
    for j in range(n):
        tail += comb(n, j) / 2**n
        if tail > alpha / 2:
            break
        k = j + 1
    lo, hi = (xs[k - 1], xs[n - k]) if k >= 1 else (xs[0], xs[-1])
    return statistics.median(xs), lo, hi


def verdict(values: list[float], target: float, *, at_most: bool) -> str:
    """Whether the rounds show a target met (``at_most``: ratio <= target; else >=), read
    off the 95 % interval of their median."""
    _, low, high = median_ci(values)
    if len(values) < MIN_ROUNDS:
        return (
            f"not settled: {len(values)} round(s) cannot give a 95 % interval (need {MIN_ROUNDS})"
        )
    inside = high <= target if at_most else low >= target
    beyond = low > target if at_most else high < target
    if inside:
        return "met (the whole 95 % interval is within the target)"
    if beyond:
        return "missed (the whole 95 % interval is beyond the target)"
    return "not settled by these rounds (the 95 % interval straddles the target)"


def interval_line(values: list[float], target: float, *, at_most: bool) -> str:
    """The line the benchmarks print under their median: the 95 % interval and the
    verdict, or, with too few rounds for one, the range of the rounds."""
    _, low, high = median_ci(values)
    label = "95 % interval of the median" if len(values) >= MIN_ROUNDS else "range of the rounds"
    return f"  {label:33}: {low:.2f} - {high:.2f}: {verdict(values, target, at_most=at_most)}"
