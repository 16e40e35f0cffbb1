"""The one harness every benchmark in bench/ shares: paired rounds, CPU time of every
process, and a distribution-free interval for the median ratio.

On a shared VM a run's wall time swings by +-15 % from one minute to the next, and a second
process competing for the other core moves it further, so the benchmarks judge their
targets by the CPU time of all the processes involved (user + system, children included),
which is stable here to a few per cent, and print wall time beside it. Each round runs the
variants back to back, alternating which goes first; the figure is the median of the
rounds' ratios with the interval that order statistics give (no assumption about the
noise). A target is met only when the whole 95 % interval is within it.

Beside the statistics: the CPU time and memory of live processes read from /proc, and the
one place that knows how the benchmarks run valgrind's callgrind and read its counts.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
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


@dataclass
class Run:
    """One measured run: wall seconds, CPU seconds of the process and everything it
    started, and what it printed."""

    wall: float
    cpu: float
    output: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def run_timed(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> Run:
    """Run a command to its end; its wall time and the CPU time of it and its children.
    Raises SystemExit with its output when it fails."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = (out.stdout + out.stderr).decode(errors="replace")
    if out.returncode != 0 or "Traceback" in text:
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}):\n{text[-3000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return Run(wall, cpu, text)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid: int) -> int:
    """Resident set size of a live process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_kib(pid: int, children: bool = True) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) in KiB, from /proc, of a process plus (``children``) the
    processes it started, so memory held by any of them counts."""
    pids = [pid]
    if children:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    out: dict[str, int] = {"VmRSS": 0, "VmHWM": 0}
    for p in pids:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue  # a child that just ended
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key in out:
                out[key] += int(rest.split()[0])
    return out


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


def instructions(cmd: list[str], env: Mapping[str, str], cwd: Path | None = None) -> int:
    """Instructions one command executes, all its processes (callgrind; PYTHONHASHSEED fixed
    so the count repeats whatever else the machine does); exits with valgrind's message if
    it failed."""
    out = subprocess.run(
        [*callgrind_prefix(), *cmd],
        env={**env, "PYTHONHASHSEED": "0"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    counts = collected(out.stderr)
    if out.returncode != 0 or not counts:
        raise SystemExit(f"valgrind failed:\n{out.stderr[-2000:]}")
    return sum(counts.values())


def paired_rounds(
    variants: Mapping[str, Callable[[], Run]], rounds: int, label: str = ""
) -> list[dict[str, Run]]:
    """Each round runs every variant once, back to back, alternating the order."""
    names = list(variants)
    out: list[dict[str, Run]] = []
    for i in range(rounds):
        order = names if i % 2 == 0 else names[::-1]
        got = {name: variants[name]() for name in order}
        out.append(got)
        print(
            f"  {label} round {i + 1}/{rounds}: "
            + ", ".join(f"{n} {got[n].cpu:.2f} s CPU / {got[n].wall:.2f} s wall" for n in names),
            flush=True,
        )
    return out


def ratios(rounds: list[dict[str, Run]], num: str, den: str, what: str = "cpu") -> list[float]:
    """Each round's ratio of one variant to another (CPU or wall)."""
    return [getattr(r[num], what) / getattr(r[den], what) for r in rounds]


def report_ratio(label: str, values: list[float], target: float, *, at_most: bool) -> str:
    """``label: median (95 % interval low - high): verdict`` for printing."""
    med, low, high = median_ci(values)
    return f"{label}: median {med:.3f} ({low:.3f} - {high:.3f}): " + verdict(
        values, target, at_most=at_most
    )


def ensure_bytecode() -> None:
    """Compile sigv4_inspector's modules to bytecode before a measurement, as ``pip
    install`` does: with PYTHONDONTWRITEBYTECODE set (as on this VM) an editable checkout
    would otherwise be compiled again at every start, a cost no installed copy pays and the
    no-op baseline (mitmproxy, installed) does not pay either."""
    import compileall

    import sigv4_inspector

    compileall.compile_dir(str(Path(sigv4_inspector.__file__).parent), quiet=1)


@dataclass
class Check:
    """One target's outcome for the closing block of a benchmark: ``passed`` only when the
    run settles it as met (a ratio's whole 95 % interval within the target)."""

    label: str
    passed: bool
    detail: str


def ratio_check(label: str, values: list[float], target: float, *, at_most: bool) -> Check:
    """A ratio target judged by :func:`verdict`: PASS only when met; a missed target, one
    these rounds do not settle and one with too few rounds for an interval are all MISS."""
    med, low, high = median_ci(values)
    how = verdict(values, target, at_most=at_most)
    detail = f"median {med:.3f} ({low:.3f} - {high:.3f}); {how}"
    return Check(label, how.startswith("met"), detail)


def targets_block(title: str, checks: Sequence[Check]) -> str:
    """The closing block every benchmark prints: one PASS or MISS line per target."""
    lines = [f"\n== targets ({title})"]
    for c in checks:
        lines.append(f"  {'PASS' if c.passed else 'MISS'}  {c.label}: {c.detail}")
    return "\n".join(lines)


@contextlib.contextmanager
def addons_in_process() -> Iterator[tuple[list[Any], Callable[[Any], None]]]:
    """The addons as mitmproxy loads them, run in this process (mitmproxy's taddons), quiet,
    with the flow mix's key known and the credentials ready. Yields the addons and a
    function that runs one flow through every hook they have, in mitmproxy's order
    (requestheaders, request, response)."""
    from mitmproxy.test import taddons

    from sigv4_inspector.addon import make_addons
    from sigv4_inspector.core.model import Credential
    from sigv4_testsupport import flowmix

    addons = make_addons()
    state = addons[0].state
    hooks = [
        getattr(a, h)
        for h in ("requestheaders", "request", "response")
        for a in addons
        if hasattr(a, h)
    ]

    def run(f: Any) -> None:
        for fn in hooks:
            fn(f)

    with taddons.context(*addons) as tctx:
        tctx.configure(addons[0], sigv4_quiet="true")
        # without a running event loop (as here) configure loads the user's credential
        # chain in place; a load on the loader's thread is let finish first, so that its
        # work is never counted as a flow's (instruction counts, timings)
        if state.loader.loading:
            state.loader.finished.wait(120)
        state.store.add(Credential(flowmix.AKID, flowmix.SECRET, source="bench"))
        state.credentials_ready = True
        yield addons, run
