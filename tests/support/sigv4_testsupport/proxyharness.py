"""Start a real mitmdump with the sigv4 addon for end-to-end tests: free port, throwaway
confdir (its generated CA is what clients trust), report file, clean AWS environment."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigv4_testsupport.paths import ADDON, NOOP_ADDON

MITMDUMP = str(Path(sys.executable).parent / "mitmdump")


def clean_aws_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment minus anything AWS-related from this machine, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "BOTO_"))
        and k
        not in (
            "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE",
            "CURL_CA_BUNDLE",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "https_proxy",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
        )
    }
    env["HOME"] = str(home)
    env["AWS_CONFIG_FILE"] = str(home / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "aws-credentials")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env.update(extra)
    return env


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    port: int
    confdir: Path
    report: Path
    log_path: Path
    flows_path: Path | None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> str:
        return str(self.confdir / "mitmproxy-ca-cert.pem")

    def records(self) -> list[dict[str, Any]]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines() if line.strip()]

    def wait_records(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        end = time.time() + timeout
        while time.time() < end:
            recs = self.records()
            if len(recs) >= n:
                return recs
            time.sleep(0.05)
        return self.records()

    def stop(self, timeout: float = 15) -> str:
        """SIGTERM (mitmdump finishes its flows and closes the report), then the log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def child_pids(pid: int) -> list[int]:
    """The process ids of a process's children (the addon's worker), from /proc."""
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(x) for x in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


def start_mitmdump(
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    save: bool = True,
    ready_timeout: float = 30,
    addon: bool = True,
    port: int = 0,
    prefix: Sequence[str] = (),
    mitmdump: str = MITMDUMP,
    script: Path = ADDON,
) -> Proxy:
    """mitmdump -s addons/sigv4.py on 127.0.0.1:<free port>; ``addon=False`` runs the same
    command line without the addon, for with/without comparisons. ``prefix`` goes before
    the command (a benchmark's ``valgrind ...``); ``mitmdump`` and ``script`` name another
    mitmdump and addon script (an installed wheel's)."""
    confdir = tmp / "mitm-conf"
    confdir.mkdir(exist_ok=True)
    report = tmp / "report.jsonl"
    flows = tmp / "flows.mitm" if save else None
    log_path = tmp / f"mitmdump-{int(time.time() * 1000)}.log"
    cmd = [
        *prefix,
        mitmdump,
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "--set",
        f"confdir={confdir}",
        *(["-s", str(script)] if addon else []),
        "--set",
        f"sigv4_report={report}",
        "--set",
        "ssl_insecure=true",
    ]
    if flows is not None:
        cmd += ["-w", str(flows)]
    cmd += list(args)
    env = env or clean_aws_env(tmp)
    fh = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(tmp))
    end = time.time() + ready_timeout
    fixed = port  # with a fixed port (-q hides the "listening at" line), wait until it accepts
    port = 0
    while time.time() < end:
        text = log_path.read_text(errors="replace")
        m = re.search(r"listening at (?:http://)?(?:\*|[\d.]+|\[[^\]]*\]):(\d+)", text)
        if m:
            port = int(m.group(1))
        elif fixed:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", fixed), timeout=0.5),
            ):
                port = fixed
        if port:
            while not (confdir / "mitmproxy-ca-cert.pem").exists() and time.time() < end:
                time.sleep(0.05)
            break
        if proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited early:\n{text}")
        time.sleep(0.05)
    if not port:
        proc.kill()
        raise RuntimeError(f"mitmdump did not start:\n{log_path.read_text(errors='replace')}")
    return Proxy(proc, port, confdir, report, log_path, flows, env)


def replay_offline(tmp: Path, flows: Path, report: Path, env: dict[str, str], *args: str) -> str:
    """mitmdump -nr FLOWS -s addons/sigv4.py: the same addon over saved flows, no network."""
    cmd = [
        MITMDUMP,
        "-n",
        "-r",
        str(flows),
        "--set",
        f"confdir={tmp / 'mitm-conf'}",
        "-s",
        str(ADDON),
        "--set",
        f"sigv4_report={report}",
        *args,
    ]
    out = subprocess.run(cmd, env=env, cwd=str(tmp), capture_output=True, timeout=120)
    return (out.stdout + out.stderr).decode(errors="replace")


# -- shared by the live benchmarks (bench/live.py, bench/upload.py) and scripts/soak.py ------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_credentials(home: Path, access_key: str, secret_key: str) -> None:
    """A shared-credentials file in ``home`` (where :func:`clean_aws_env` points
    AWS_SHARED_CREDENTIALS_FILE): the default profile the addon verifies with."""
    home.mkdir(parents=True, exist_ok=True)
    creds = home / "aws-credentials"
    creds.write_text(
        f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"
    )
    creds.chmod(0o600)


def start_proxy(
    workdir: Path,
    *,
    addon: bool,
    extra: Sequence[str] = (),
    quiet: bool = True,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30,
    prefix: Sequence[str] = (),
    noop: bool = False,
) -> Proxy:
    """mitmdump on 127.0.0.1 (free port), own confdir and report in ``workdir``, the sigv4
    options always set (mitmproxy keeps unknown ``--set`` values, so every variant gets the
    same command line apart from ``-s``). ``addon=False``: no script at all, or with
    ``noop`` the benchmarks' no-op script addon (both variants then pay for loading a
    script). ``quiet``: ``-q`` and ``sigv4_quiet``, else mitmdump's and the addon's lines
    per flow go to the log. Returns once it accepts connections."""
    workdir.mkdir(parents=True, exist_ok=True)
    opts = [*(["-q", "--set", "sigv4_quiet=true"] if quiet else []), *extra]
    return start_mitmdump(
        workdir,
        *opts,
        env=env or clean_aws_env(workdir),
        save=False,
        ready_timeout=ready_timeout,
        addon=addon or noop,
        port=free_port(),
        prefix=prefix,
        script=ADDON if addon else NOOP_ADDON,
    )


def clean_process_env(home: Path) -> None:
    """Run this process without the machine's AWS settings, proxy variables or CA
    overrides (what :func:`clean_aws_env` gives mitmdump), so boto3 here behaves the same
    on every machine and nothing leaves 127.0.0.1."""
    env = clean_aws_env(home)
    os.environ.clear()
    os.environ.update(env)


def fakeaws_nodelay() -> None:
    """fakeaws writes a response's head and body in two small writes; with Nagle's
    algorithm and delayed ACKs every response with a body then waits ~40 ms. Setting
    TCP_NODELAY on its sockets (in this process only) makes the proxy, not that, the
    measured cost."""
    from sigv4_testsupport.fakeaws import server

    server._Handler.disable_nagle_algorithm = True


def local_client(
    service: str,
    endpoint_port: int,
    proxy_url: str,
    ca: str,
    *,
    key: str,
    secret: str,
    token: str | None = None,
    **cfg: Any,
) -> Any:
    """A boto3 client of the local endpoint (``https://127.0.0.1:PORT``, fakeaws) that goes
    through the proxy at ``proxy_url`` and trusts its CA ``ca``: us-east-1, one attempt,
    S3 path-style addressing; ``cfg`` goes into botocore's Config (and may override those)."""
    import boto3
    import botocore.config

    config: dict[str, Any] = {
        "proxies": {"https": proxy_url, "http": proxy_url},
        "retries": {"max_attempts": 1},
        "s3": {"addressing_style": "path"},
        **cfg,
    }
    return boto3.client(
        service,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        endpoint_url=f"https://127.0.0.1:{endpoint_port}",
        verify=ca,
        config=botocore.config.Config(**config),
    )
