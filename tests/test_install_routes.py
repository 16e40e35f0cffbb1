"""The install routes of the README, each in a fresh venv made with the project's Python:

1. mitmproxy alone, the addon loaded from the clone (``-s addons/sigv4.py``): it stops
   with ONE line naming botocore and the exact install command for this mitmproxy, no
   traceback, no advice about AWS profiles. With botocore added (still no rich, no
   awscrt) it works: the exit summary prints as a plain table, and a CRC32C upload gets
   CHECK_UNAVAILABLE with the command that installs awscrt.
2. ``pip install`` of the project: tests/test_install.py (the built wheel in a fresh venv).
3. pipx: ``pipx install mitmproxy``, then the clone's addon names ``pipx inject
   mitmproxy botocore``; after ``pipx inject mitmproxy <clone>`` it works.

Wheels are built once (``pip wheel``, the same index as scripts/setup) into
``.venv/install-check-wheels`` and reused by every venv here and by later runs; the venvs
install from them with ``--no-index``. Each flow check runs ``mitmdump -nr`` over a small
flow file made here: no network, no server.
"""

from __future__ import annotations

import base64
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigv4_testsupport.paths import ROOT

PY = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter the project's .venv was made with
MITMPROXY = importlib.metadata.version("mitmproxy")
BOTOCORE = importlib.metadata.version("botocore")
WHEELS = ROOT / ".venv" / "install-check-wheels"
AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PIP_QUIET = ["--quiet", "--disable-pip-version-check"]

pytestmark = pytest.mark.skipif(
    not PY.exists(), reason=f"the project's base Python {PY} is not there"
)


def sh(*cmd: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    res = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.fixture(scope="module")
def wheels() -> Path:
    """mitmproxy, botocore, the project's other dependencies, pipx and the build backend
    as wheels, built once per set of versions."""
    import hashlib
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = [
        d for d in project["project"]["dependencies"] if not d.startswith(("mitmproxy", "botocore"))
    ]
    key = hashlib.sha256(f"{MITMPROXY} {BOTOCORE} {deps}".encode()).hexdigest()[:12]
    stamp = WHEELS / f".built-{key}"
    if not stamp.exists():
        WHEELS.mkdir(parents=True, exist_ok=True)
        sh(
            sys.executable, "-m", "pip", "wheel", *PIP_QUIET, "-w", WHEELS,
            f"mitmproxy=={MITMPROXY}", f"botocore=={BOTOCORE}", *deps,
            "setuptools>=77", "wheel", "pipx", "pip",
        )  # fmt: skip
        stamp.write_text("ok\n")
    return WHEELS


def make_venv(path: Path, wheels: Path, *packages: str) -> Path:
    sh(PY, "-m", "venv", path)
    if packages:
        sh(path / "bin" / "python", "-m", "pip", "install", *PIP_QUIET, "--no-index",
           "--find-links", wheels, *packages)  # fmt: skip
    return path


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    (home / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"
    )
    return env


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved flow: an S3 PUT signed by botocore with an x-amz-checksum-crc32c header
    (the value computed with awscrt here), answered 200."""
    from awscrt import checksums
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from mitmproxy import http, io
    from mitmproxy.test import tflow, tutils

    body = b"hello, crc32c\n"
    crc = base64.b64encode(checksums.crc32c(body).to_bytes(4, "big")).decode()
    url = "https://bucket.s3.us-east-1.amazonaws.com/k.txt"
    areq = AWSRequest("PUT", url, data=body, headers={"x-amz-checksum-crc32c": crc})
    S3SigV4Auth(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(areq)
    headers = [(k.encode(), str(v).encode()) for k, v in areq.headers.items()]
    req = tutils.treq(
        method=b"PUT",
        scheme=b"https",
        host="bucket.s3.us-east-1.amazonaws.com",
        port=443,
        authority=b"",
        path=b"/k.txt",
        headers=http.Headers([(b"Host", b"bucket.s3.us-east-1.amazonaws.com"), *headers]),
        content=body,
    )
    f = tflow.tflow(req=req, resp=tutils.tresp(status_code=200, content=b""))
    import time

    now = time.time()  # tflow's timestamps are from 1999: the clock check would fire
    f.request.timestamp_start = f.request.timestamp_end = now
    assert f.response is not None
    f.response.timestamp_start = f.response.timestamp_end = now
    path = tmp_path_factory.mktemp("flows") / "crc32c.mitm"
    with open(path, "wb") as fh:
        io.FlowWriter(fh).add(f)
    return path


def mitmdump(
    venv_bin: Path, addon: Path | str, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv_bin / "mitmdump"), "--set", f"confdir={home / 'mitm'}", "-s", str(addon), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(home),
        cwd=str(home),
    )


def _stops_with_one_line(res: subprocess.CompletedProcess[str], command: str) -> None:
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "Traceback" not in out, out
    ours = [line for line in out.splitlines() if "botocore" in line]
    assert len(ours) == 1, out
    assert "sigv4-inspector needs botocore" in ours[0] and ours[0].rstrip().endswith(command), out
    assert "AWS_PROFILE" not in out and "UNKNOWN_ACCESS_KEY" not in out


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Path:
    """A venv with mitmproxy alone."""
    return make_venv(tmp_path_factory.mktemp("bare") / "venv", wheels, f"mitmproxy=={MITMPROXY}")


def test_mitmproxy_alone_names_botocore_then_works_without_rich_and_awscrt(
    bare: Path, wheels: Path, flows: Path, tmp_path: Path
) -> None:
    py = bare / "bin" / "python"
    res = mitmdump(bare / "bin", ROOT / "addons" / "sigv4.py", tmp_path, "-n")
    _stops_with_one_line(res, f"{py} -m pip install botocore")

    sh(py, "-m", "pip", "install", *PIP_QUIET, "--no-index", "--find-links", wheels,
       f"botocore=={BOTOCORE}")  # fmt: skip
    for absent in ("rich", "awscrt", "sigv4_inspector"):
        probe = subprocess.run(
            [str(py), "-c", f"import {absent}"], capture_output=True, cwd=str(tmp_path)
        )
        assert probe.returncode != 0, f"{absent} should not be installed in the bare venv"
    report = tmp_path / "report.jsonl"
    res = mitmdump(bare / "bin", ROOT / "addons" / "sigv4.py", tmp_path, "-nr", str(flows),
                   "--set", f"sigv4_report={report}")  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Traceback" not in out, out
    import json

    rec = json.loads(report.read_text().splitlines()[0])
    assert rec["verdict"] == "valid", rec
    unavailable = [f for f in rec["findings"] if f["code"] == "CHECK_UNAVAILABLE"]
    assert unavailable and "pip install awscrt" in unavailable[0]["fix"], rec["findings"]
    # the exit summary, as a plain table (no rich here)
    assert "sigv4 summary: 1 AWS flow(s): valid 1" in out, out
    assert "  CHECK_UNAVAILABLE" in out and "PUT https://bucket.s3.us-east-1" in out, out
    assert "┃" not in out and "│" not in out


@pytest.fixture
def pipx(tmp_path: Path, wheels: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    venv = make_venv(tmp_path / "pipx-venv", wheels, "pipx")
    env = _env(
        tmp_path,
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
        PIPX_DEFAULT_PYTHON=str(PY),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
    )
    yield venv / "bin" / "pipx", env


def test_pipx_inject(pipx: tuple[Path, dict[str, str]], tmp_path: Path, flows: Path) -> None:
    exe, env = pipx
    sh(exe, "install", f"mitmproxy=={MITMPROXY}", env=env)
    bindir = tmp_path / "bin"
    res = mitmdump(bindir, ROOT / "addons" / "sigv4.py", tmp_path, "-n")
    _stops_with_one_line(res, "pipx inject mitmproxy botocore")
    sh(exe, "inject", "mitmproxy", ROOT, env=env)
    report = tmp_path / "report.jsonl"
    res = mitmdump(bindir, ROOT / "addons" / "sigv4.py", tmp_path, "-nr", str(flows),
                   "--set", f"sigv4_report={report}")  # fmt: skip
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Traceback" not in out, out
    assert '"verdict": "valid"' in report.read_text()
