"""The README's first command works: the demo runs every scenario through a real mitmdump
and each is diagnosed with its expected finding code; it leaves flows and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_diagnoses_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "every scenario diagnosed as expected" in proc.stdout
    summary = json.loads((out / "demo-summary.json").read_text())
    assert len(summary) >= 12
    for row in summary:
        if row["expect"]:
            assert set(row["expect"]) & set(row["codes"]), row
        else:
            assert row["verdicts"] == ["valid"], row
    assert (out / "proxy" / "flows.mitm").stat().st_size > 0
    assert (out / "proxy" / "report.jsonl").read_text().count("\n") >= 15
