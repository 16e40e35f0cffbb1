"""``pip install`` of the built wheel gives a working addon without a clone (issue 20).

The package's files (pyproject.toml, README.md, sigv4_inspector/) are copied out of the
checkout and built into a wheel (``pip wheel --no-deps``; pip's build isolation fetches the
build backend). A fresh venv made with the interpreter .venv was made from (the project's
Python, e.g. ``$(pyenv root)/versions/3.12.*``) installs it non-editable, with its
dependencies from the same package index scripts/setup uses, pinned to the versions .venv
has (so pip reuses what it already has and the run is the one the rest of the suite tests).
Then, in that venv, from a directory outside the checkout:

- ``sigv4-inspector addon-path`` prints the entry script inside the venv's site-packages;
- ``mitmdump -s "$(sigv4-inspector addon-path)"`` starts, and one request signed by boto3
  through it to the local AWS-like endpoint gets a ``valid`` record in the JSON report;
- ``sigv4-inspector bundle`` makes a bug-report bundle from the flows it saved.

Without network access to the package index the test is skipped, saying so (pip's own
connection errors are what tell). It takes about a minute, most of it pip installing
mitmproxy's dependencies into the venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sigv4_testsupport import fakeaws
from sigv4_testsupport.paths import ROOT
from sigv4_testsupport.proxyharness import clean_aws_env, local_client, start_mitmdump

AKID, SECRET = fakeaws.EXAMPLE_ACCESS_KEY, fakeaws.EXAMPLE_SECRET_KEY
#: pip's messages when the package index cannot be reached (offline): the test is skipped
OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|Max retries exceeded|"
    r"ConnectTimeoutError|Connection refused"
)
PIP_TIMEOUT = 600


def base_python() -> Path:
    """The interpreter .venv was created from (the one scripts/setup found)."""
    v = sys.version_info
    for name in (f"python{v.major}.{v.minor}", f"python{v.major}", "python"):
        exe = Path(sys.base_prefix) / "bin" / name
        if exe.exists():
            return exe
    pytest.fail(f"no python under {sys.base_prefix}/bin")


def pip(args: list[str], *, what: str, cwd: Path) -> None:
    """Run pip; skip the test when it could not reach the index, fail on anything else."""
    out = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
    )
    if out.returncode == 0:
        return
    log = out.stdout + out.stderr
    offline = OFFLINE.search(log)
    if offline:
        pytest.skip(f"{what}: pip cannot reach the package index (offline?): {offline[0]}")
    pytest.fail(f"{what} failed ({out.returncode}):\n{log[-4000:]}")


def copy_project(dest: Path) -> Path:
    """What a user's ``pip install <folder>`` sees, without the checkout's build leftovers
    (egg-info, __pycache__) and without building inside it."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "sigv4_inspector",
        src / "sigv4_inspector",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return src


def constraints(dest: Path) -> Path:
    """.venv's versions as pip constraints (the editable project packages left out)."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    keep = [
        line
        for line in frozen.splitlines()
        if line
        and not line.startswith(("-e", "#"))
        and " @ " not in line
        and not line.lower().startswith("sigv4")
    ]
    path = dest / "constraints.txt"
    path.write_text("\n".join(keep) + "\n")
    return path


@dataclass
class Installed:
    venv: Path
    bin: Path
    work: Path  # a directory outside the checkout to run from
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("install")
    src = copy_project(tmp)
    dist = tmp / "dist"
    pip(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--wheel-dir",
            str(dist),
            str(src),
        ],
        what="building the wheel",
        cwd=tmp,
    )
    (wheel,) = dist.glob("sigv4_inspector-*.whl")
    venv = tmp / "venv"
    subprocess.run([str(base_python()), "-m", "venv", str(venv)], check=True, timeout=300)
    pip(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--retries",
            "2",
            "--disable-pip-version-check",
            "--no-compile",
            "-c",
            str(constraints(tmp)),
            str(wheel),
        ],
        what="installing the wheel into a fresh venv",
        cwd=tmp,
    )
    work = tmp / "work"
    work.mkdir()
    env = clean_aws_env(work)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(venv, venv / "bin", work, env)


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[fakeaws.FakeAWS]:
    server = fakeaws.start_fakeaws(tmp_path / "fakeaws-certs", credentials={AKID: SECRET})
    try:
        yield server
    finally:
        server.stop()


def test_the_wheel_installs_the_package_and_its_command(installed: Installed) -> None:
    out = installed.run(
        str(installed.bin / "python"), "-c", "import sigv4_inspector as s; print(s.__file__)"
    )
    assert out.returncode == 0, out.stderr
    module = Path(out.stdout.strip())
    assert module.is_relative_to(installed.venv), module  # from the wheel, not the checkout
    assert not module.is_relative_to(ROOT)
    out = installed.run(str(installed.bin / "sigv4-inspector"), "--help")
    assert out.returncode == 0 and "addon-path" in out.stdout, out.stdout + out.stderr


def test_mitmdump_with_the_installed_addon_records_a_signed_request(
    installed: Installed, endpoint: fakeaws.FakeAWS, tmp_path: Path
) -> None:
    out = installed.run(str(installed.bin / "sigv4-inspector"), "addon-path")
    assert out.returncode == 0, out.stderr
    script = Path(out.stdout.strip())
    assert script.is_file() and script.is_relative_to(installed.venv), script
    home = tmp_path / "home"
    home.mkdir()
    (home / "aws-credentials").write_text(
        f"[default]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"
    )
    env = {**clean_aws_env(home), "PATH": installed.env["PATH"]}
    env.pop("PYTHONPATH", None)
    proxy = start_mitmdump(home, env=env, mitmdump=str(installed.bin / "mitmdump"), script=script)
    try:
        client = local_client(
            "dynamodb", endpoint.https_port, proxy.url, proxy.ca, key=AKID, secret=SECRET
        )
        client.list_tables()
        records = proxy.wait_records(1)
    finally:
        log = proxy.stop()
    assert len(records) == 1, log[-3000:]
    (rec,) = records
    assert rec["verdict"] == "valid", rec
    assert rec["credential_source"] == "profile:default", rec
    assert rec["auth"]["scope"]["service"] == "dynamodb"
    assert SECRET not in log
    # the bug-report export of the same install, over the flows mitmdump saved
    assert proxy.flows_path is not None and proxy.flows_path.is_file()
    bundle = tmp_path / "bundle"
    out = installed.run(
        str(installed.bin / "sigv4-inspector"), "bundle", str(proxy.flows_path), "-o", str(bundle)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert files, out.stdout
    assert not any(SECRET in p.read_text(errors="replace") for p in files)
