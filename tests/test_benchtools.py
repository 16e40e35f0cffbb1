"""The benchmarks' statistics (``sigv4_testsupport.benchtools``): the median of paired ratios
and its confidence interval; the callgrind counts read from valgrind's output."""

from __future__ import annotations

from math import comb

import pytest

from sigv4_testsupport.benchtools import (
    Check,
    collected,
    interval_line,
    median_ci,
    ratio_check,
    targets_block,
    verdict,
)


def coverage(n: int, k: int) -> float:
    """P(x(k) <= true median <= x(n-k+1)) for n independent values."""
    return 1 - 2 * sum(comb(n, j) for j in range(k)) / (1 << n)


@pytest.mark.parametrize("n", [6, 9, 11, 15, 21, 40])
def test_interval_is_the_narrowest_order_statistics_with_95_percent(n: int) -> None:
    values = [float(x) for x in range(n, 0, -1)]  # unsorted on purpose
    med, lo, hi = median_ci(values)
    k = int(lo)  # values are 1..n, so x(k) == k
    assert hi == n - k + 1
    assert med == (n + 1) / 2
    assert coverage(n, k) >= 0.95
    assert coverage(n, k + 1) < 0.95  # one step narrower would not hold 95 %


def test_too_few_rounds_give_the_whole_range() -> None:
    assert median_ci([1.2, 1.0, 1.1]) == (1.1, 1.0, 1.2)
    with pytest.raises(ValueError):
        median_ci([])


def test_verdict_reads_the_interval_against_the_target() -> None:
    def rounds(low: float, high: float) -> list[float]:  # 9 rounds: the interval is x(2)..x(8)
        return [low - 0.1, low, low, (low + high) / 2, (low + high) / 2, high, high, high, 9.0]

    assert verdict(rounds(1.01, 1.08), 1.10, at_most=True).startswith("met")
    assert verdict(rounds(1.12, 1.30), 1.10, at_most=True).startswith("missed")
    assert verdict(rounds(1.05, 1.43), 1.10, at_most=True).startswith("not settled by")
    assert verdict(rounds(0.91, 1.02), 0.90, at_most=False).startswith("met")
    assert verdict(rounds(0.70, 0.85), 0.90, at_most=False).startswith("missed")
    assert verdict(rounds(0.85, 0.95), 0.90, at_most=False).startswith("not settled by")


def test_one_round_settles_nothing() -> None:
    assert "cannot give a 95 % interval" in verdict([0.64], 0.90, at_most=False)


def test_interval_line_names_what_it_shows() -> None:
    eleven = [1.0 + i / 100 for i in range(11)]
    assert "95 % interval of the median" in interval_line(eleven, 1.10, at_most=True)
    assert "1.01 - 1.09: met" in interval_line(eleven, 1.10, at_most=True)
    line = interval_line([0.91, 0.93], 0.90, at_most=False)
    assert "range of the rounds" in line and "cannot give a 95 % interval" in line


def test_collected_counts_per_process() -> None:
    """valgrind's count of each process it traced, by pid; a killed one has none."""
    out = (
        "==41== Callgrind, a call-graph generating cache profiler\n"
        "==42== Events    : Ir\n==42== Collected : 1000\n==42==\n"
        "==41== Events    : Ir\n==41== Collected : 123456789\n"
    )
    assert collected(out) == {42: 1000, 41: 123456789}
    assert collected("==7== Callgrind\n") == {}


def test_a_target_passes_only_when_the_whole_interval_is_within_it() -> None:
    met = [1.0, 1.01, 1.02, 1.03, 1.04, 1.05, 1.06]
    assert ratio_check("cpu", met, 1.10, at_most=True).passed
    straddles = [1.0, 1.05, 1.08, 1.09, 1.12, 1.15, 1.2]
    check = ratio_check("cpu", straddles, 1.10, at_most=True)
    assert not check.passed and "straddles" in check.detail
    assert not ratio_check("cpu", met[:3], 1.10, at_most=True).passed  # too few rounds
    assert ratio_check("tp", [0.95] * 7, 0.90, at_most=False).passed
    block = targets_block("t", [check, Check("tampered chunk caught", True, "yes")])
    assert "  MISS  cpu: median 1.090" in block and "  PASS  tampered chunk caught: yes" in block
